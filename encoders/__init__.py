"""Encoders: one small interface over every embedding model mmsearch uses."""

from encoders.base import Encoder, EncoderError, EncoderSpec, WeightsNotFoundError
from encoders.registry import get_encoder, known_encoder_ids

__all__ = [
    "Encoder",
    "EncoderSpec",
    "EncoderError",
    "WeightsNotFoundError",
    "get_encoder",
    "known_encoder_ids",
]
