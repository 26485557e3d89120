"""A deterministic encoder for unit tests: vectors are seeded by a hash of the input."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from encoders.base import Encoder, EncoderSpec


def _item_bytes(item: Any) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, str):
        return item.encode()
    if hasattr(item, "tobytes"):  # PIL images and numpy arrays
        return item.tobytes()
    return repr(item).encode()


class FakeEncoder(Encoder):
    """Hash-seeded random unit vectors. Equal inputs give equal vectors; nothing else holds."""

    def __init__(self, dim: int = 16, device: str = "cpu", batch_size: int | None = None) -> None:
        super().__init__(device=device, batch_size=batch_size)
        self.spec = EncoderSpec(
            id=f"fake:{dim}",
            dim=dim,
            document_kinds=("image", "text", "audio"),
            query_kinds=("image", "text", "audio"),
            description="deterministic hash vectors (tests only)",
        )

    def _load(self) -> None:
        self.weights_source = "none (fake)"

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        rows = []
        for item in items:
            seed = int.from_bytes(hashlib.sha256(_item_bytes(item)).digest()[:8], "little")
            rows.append(np.random.default_rng(seed).standard_normal(self.spec.dim))
        return np.asarray(rows, dtype=np.float32)
