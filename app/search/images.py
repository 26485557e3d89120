"""Photo search: words → photos (or catalogue items), a photo → similar photos, more like a stored one."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.errors import QueryError
from app.search.hits import Hit
from app.search.scope import SearchScope
from app.search.vectors import cached_query_vector
from milvus import Filter


def search_text_images(scope: SearchScope, query: str, kind: str = "image", k: int = 10, filter: Filter | None = None) -> list[Hit]:
    """Words (already cleaned) → items of `kind` ("image" or "product") by the text→image encoder."""
    enc_id = scope.profile.text_to_image
    coll = scope.collection(kind, enc_id)
    vec = cached_query_vector(scope.encoder(enc_id), query)
    return scope.search(coll, vec, k, filter)


def search_image(scope: SearchScope, image: Any, k: int = 10, filter: Filter | None = None, encoder_id: str | None = None) -> list[Hit]:
    """Photo (PIL image) → similar images, best first."""
    enc_id = encoder_id or scope.profile.image_to_image
    coll = scope.collection("image", enc_id)
    vec = scope.encoder(enc_id).embed_queries([image])[0]
    return scope.search(coll, vec, k, filter)


def more_like(scope: SearchScope, item_id: str, k: int = 10, filter: Filter | None = None, encoder_id: str | None = None) -> list[Hit]:
    """Items like a stored one (its own vector, no re-encoding); the item itself is left out."""
    enc_id = encoder_id or scope.profile.image_to_image
    coll = scope.collection("image", enc_id)
    rows = coll.get([item_id], with_vectors=True)
    if not rows:
        raise QueryError(f"no item with id {item_id} in {coll.name}")
    hits = scope.search(coll, np.asarray(rows[0]["vector"], dtype=np.float32), k + 1, filter)
    return [h for h in hits if h.id != item_id][:k]
