"""Offline text→image without a shared image-text space (the "label bridge").

Each image is described by its top ImageNet classes (EfficientNet-Lite0); the image's
vector is the probability-weighted sum of MiniLM embeddings of those class descriptions.
A text query is embedded by MiniLM and lands in the same 384-d space. It knows only
ImageNet's 1000 concepts: "a cat" works, "my grandmother's birthday" does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from typing import Any, Callable, Sequence

import numpy as np

from encoders.base import Encoder, EncoderSpec, l2_normalise
from encoders.ids import LABEL_BRIDGE_ID
from encoders.sentence_transformers_encoder import SentenceTransformerEncoder
from encoders.timm_encoder import TimmEfficientNetEncoder, imagenet_labels
from encoders.weights import mmsearch_home


class LabelBridgeEncoder(Encoder):
    """Images → weighted label-text embeddings; queries → MiniLM text embeddings."""

    # Documents go to the image encoder whole: it cuts the forward passes (its batch size,
    # or on a CPU the size it measured fastest) and answers inputs it has just embedded
    # from its outputs, so both encoders share one forward pass; `with_batch_size` gives
    # the image side the same fixed size.
    cpu_batch_size = TimmEfficientNetEncoder.cpu_batch_size
    _batch_parts = ("image_encoder",)
    image_encoder: TimmEfficientNetEncoder

    def __init__(
        self,
        image_encoder: TimmEfficientNetEncoder | None = None,
        text_encoder: Encoder | None = None,
        top_k: int = 5,
        device: str = "auto",
        batch_size: int | None = None,
        encoder_id: str = LABEL_BRIDGE_ID,
    ) -> None:
        super().__init__(device=device, batch_size=batch_size)
        self.image_encoder = image_encoder or TimmEfficientNetEncoder(device=device, batch_size=batch_size)
        self.text_encoder = text_encoder or SentenceTransformerEncoder("all-MiniLM-L6-v2", device=device)
        self.top_k = top_k
        self.spec = EncoderSpec(
            id=encoder_id,
            dim=self.text_encoder.spec.dim,
            document_kinds=("image",),
            query_kinds=("text",),
            description=f"ImageNet labels of EfficientNet-Lite0, embedded with {self.text_encoder.spec.id} (offline text→image)",
        )
        self._label_vecs: np.ndarray | None = None
        self._label_lock = threading.Lock()  # the pipeline's two lanes embed at once: one embeds the labels
        # the image side's inputs: one preparation serves both encoders
        self.prepare_key = self.image_encoder.prepare_key

    def prepare_document(self, item: Any) -> Any:
        """The image encoder's input for `item` (both encoders embed from it)."""
        return self.image_encoder.prepare_document(item)

    def weights_available(self) -> bool:
        """True when both the image and the text model load without a network."""
        return self.image_encoder.weights_available() and self.text_encoder.weights_available()

    def parts(self) -> tuple[Encoder, ...]:
        """The image encoder and the text encoder."""
        return (self.image_encoder, self.text_encoder)

    def _load(self) -> None:
        # Queries need only the text model; the image side loads on the first document batch.
        self.text_encoder.load()
        self.weights_source = f"{self.image_encoder.weights_path()} + {self.text_encoder.weights_source}"

    def _embed_all(self, items: list[Any], fn: Callable[[list[Any]], np.ndarray]) -> np.ndarray:
        return fn(items)  # the image encoder cuts the forward passes

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        if self._label_vecs is None:
            with self._label_lock:
                if self._label_vecs is None:
                    self._label_vecs = cached_label_vectors(self.text_encoder, imagenet_labels(), "imagenet_labels")
        _, probs = self.image_encoder.forward(items)
        return weighted_label_vectors(probs, self._label_vecs, self.top_k)

    def embed_queries(self, items: Sequence[Any]) -> np.ndarray:
        """Text queries, straight to the text model: no image model, and no batch size or
        device of this encoder to resolve (either would import torch for a text query)."""
        return self.text_encoder.embed_queries([str(t) for t in items])

    def _embed_queries_batch(self, items: list[Any]) -> np.ndarray:
        return self.text_encoder.embed_queries([str(t) for t in items])


def cached_label_vectors(text_encoder: Encoder, labels: list[str], name: str) -> np.ndarray:
    """Text vectors of a classifier's labels, cached on disk (embedding them takes seconds)."""
    key = hashlib.sha256(("\n".join(labels) + text_encoder.spec.id).encode()).hexdigest()[:16]
    path = mmsearch_home() / "cache" / f"{name}_{key}.npy"
    if path.exists():
        vecs = np.load(path)
        if vecs.shape == (len(labels), text_encoder.spec.dim):
            return vecs
    vecs = text_encoder.embed_documents(labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a file name of its own: two threads or processes may write the same cache at once (one
    # shared name let the first rename take the second's file away: FileNotFoundError)
    fd, tmp = tempfile.mkstemp(prefix=f"{path.stem}.", suffix=".tmp.npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, vecs)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return vecs


def weighted_label_vectors(probs: np.ndarray, label_vecs: np.ndarray, top_k: int) -> np.ndarray:
    """Per row: the top-k labels' text vectors weighted by their probabilities, normalised."""
    top = np.argsort(-probs, axis=1)[:, :top_k]
    weights = np.take_along_axis(probs, top, axis=1)
    return l2_normalise(np.einsum("nk,nkd->nd", weights, label_vecs[top]))
