"""Re-scoring retrieved passages with a sentence-transformers CrossEncoder (`--rerank MODEL`)."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Sequence

import numpy as np

from app.search.hits import Hit
from encoders.base import EncoderError


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder by hub id or local folder; loads on first use."""

    def __init__(self, model_id: str, device: str = "auto", batch_size: int = 16) -> None:
        self.model_id, self.device, self.batch_size = model_id, device, batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        from pathlib import Path

        from encoders.base import resolve_device
        from encoders.weights import local_weights, override_env_var

        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                local = local_weights(f"cross_encoder:{self.model_id}", "")
                target = str(local) if local else self.model_id
                try:
                    self._model = CrossEncoder(target, device=resolve_device(self.device))
                except Exception as exc:  # offline hub lookups fail in many ways
                    where = "that folder" if Path(self.model_id).exists() else "this machine"
                    raise EncoderError(
                        f"cross-encoder {self.model_id} could not be loaded from {where} ({type(exc).__name__}); "
                        f"pass a local model folder, set {override_env_var('cross_encoder:' + self.model_id)}, "
                        "or run once where it can be downloaded"
                    ) from exc
        return self._model

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """The hits re-scored by the cross-encoder, best first (`score` = its score)."""
        if not hits:
            return []
        model = self._load()
        scores = model.predict([(query, h.text or "") for h in hits], batch_size=self.batch_size, show_progress_bar=False)
        scores = np.asarray(scores, dtype=np.float32).reshape(len(hits), -1)[:, -1]
        for h, s in zip(hits, scores):
            h.meta = {**h.meta, "retrieval_score": h.score}
            h.score = float(s)
        return sorted(hits, key=lambda h: -h.score)


@lru_cache(maxsize=4)
def get_reranker(model_id: str, device: str = "auto") -> CrossEncoderReranker:
    return CrossEncoderReranker(model_id, device)
