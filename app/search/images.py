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
    """Words (already cleaned) → items of `kind` ("image" or "product") by its words model."""
    enc_id = scope.profile.words_model(kind)
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


def search_composed(
    scope: SearchScope, image: Any, text: str, k: int = 10, filter: Filter | None = None, text_weight: float = 1.0
) -> list[Hit]:
    """Photo + words ("like this, but red") → photos: the normalised sum of the photo's and the
    words' vectors, in a profile whose text and image vectors share one space (CLIP/SigLIP).
    Elsewhere a QueryError says the words cannot be combined."""
    from encoders.base import l2_normalise

    if not scope.profile.shared_space("image"):
        raise QueryError(
            f"profile {scope.profile.name} has no shared text–image space, so words cannot be combined with a photo"
        )
    enc_id = scope.profile.image_to_image
    coll = scope.collection("image", enc_id)
    enc = scope.encoder(enc_id)
    img = l2_normalise(np.asarray(enc.embed_queries([image])[0], dtype=np.float32)[None, :])[0]
    words = l2_normalise(cached_query_vector(enc, text)[None, :])[0]
    vec = l2_normalise((img + text_weight * words)[None, :])[0]
    return scope.search(coll, vec, k, filter)
