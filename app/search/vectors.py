"""Query vectors: text queries repeat (UI reruns, pagination), so each is embedded once per process."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from encoders import get_encoder
from encoders.base import Encoder


@lru_cache(maxsize=512)
def _text_vector_bytes(encoder_id: str, device: str, text: str) -> bytes:
    vec = get_encoder(encoder_id, device).embed_queries([text])[0]
    return vec.astype(np.float32).tobytes()


def cached_query_vector(encoder: Encoder, text: str) -> np.ndarray:
    """The query embedding of `text` by `encoder`, computed once per (encoder, device, text)."""
    raw = _text_vector_bytes(encoder.spec.id, encoder.device_request, text)
    return np.frombuffer(raw, dtype=np.float32).copy()
