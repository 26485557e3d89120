"""Turning what a user typed or uploaded into a query: trimmed text, a safely decoded photo."""

from __future__ import annotations

from pathlib import Path

from app.errors import QueryError

MAX_QUERY_CHARS = 1000


def clean_text_query(query: str) -> str:
    """Trim, refuse empty, cut very long queries."""
    q = " ".join((query or "").split())
    if not q:
        raise QueryError("type something to search for")
    return q[:MAX_QUERY_CHARS]


def load_query_image(path_or_bytes: str | Path | bytes):
    """A query photo, decoded with the same safety rules as indexing. The model that will embed
    it is not known yet, and one photo is cheap to decode: keep as much as the 512-px bound allows."""
    from indexers.image_io import open_image

    return open_image(path_or_bytes, short_side=512)
