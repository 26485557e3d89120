"""The search engine the CLI, the app and the API use: one entry point per query type, dispatching
to the per-kind modules. This is the only module that imports them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from app.errors import QueryError
from app.search import audio, docs, images, video
from app.search.hits import Hit
from app.search.queries import clean_text_query
from app.search.scope import SearchScope
from milvus import Filter

log = logging.getLogger(__name__)


class SearchEngine(SearchScope):
    """Runs text, photo and sound queries against the collections of one profile."""

    def search_text(self, query: str, kind: str = "image", k: int = 10, filter: Filter | None = None) -> list[Hit]:
        """Text → items of `kind`, best first."""
        q = clean_text_query(query)
        if kind == "doc":  # document chunks and transcript segments: hybrid dense + BM25
            return docs.search_docs(self, q, k=k, filter=filter)
        if kind == "audio":  # through the audio encoder's stored tags (PANNs) and speech transcripts
            return audio.search_text_audio(self, q, k=k, filter=filter)
        if kind == "video":  # frames and transcript lines fused into moments
            return video.search_text_video(self, q, k=k, filter=filter)
        if kind not in ("image", "product"):
            raise QueryError(f"text search over {kind} is not available yet")
        return images.search_text_images(self, q, kind=kind, k=k, filter=filter)

    def search_image(self, image: Any, k: int = 10, filter: Filter | None = None, encoder_id: str | None = None) -> list[Hit]:
        """Photo (PIL image) → similar images, best first."""
        return images.search_image(self, image, k=k, filter=filter, encoder_id=encoder_id)

    def search_composed(self, image: Any, text: str, k: int = 10, filter: Filter | None = None) -> list[Hit]:
        """Photo + words → photos, in a profile with a shared text–image space (else QueryError)."""
        return images.search_composed(self, image, clean_text_query(text), k=k, filter=filter)

    def more_like(self, item_id: str, k: int = 10, filter: Filter | None = None, encoder_id: str | None = None) -> list[Hit]:
        """Items like a stored photo (its own vector); the item itself is left out."""
        return images.more_like(self, item_id, k=k, filter=filter, encoder_id=encoder_id)

    def search_audio(
        self, source: str | Path | bytes, k: int = 10, filter: Filter | None = None, encoder_id: str | None = None
    ) -> list[Hit]:
        """A sound clip (path or bytes) → the most similar indexed windows, best first."""
        return audio.search_audio(self, source, k=k, filter=filter, encoder_id=encoder_id)

    def retriever(self, **kwargs: Any) -> docs.Retriever:
        """A retriever over documents and transcripts (`mode`, `rerank`, `bm25`, `encoder_id`)."""
        return docs.Retriever(self.store, device=self.device, configured_encoder=self.text_encoder, **kwargs)
