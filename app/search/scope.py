"""What every kind of search works over: one store, one profile, one device.

The per-kind modules take a `SearchScope`; `app.search.engine.SearchEngine` is one, and adds
the dispatch by kind. Keeping the shared pieces here lets the kind modules and the engine
depend on this module instead of on each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.errors import QueryError
from app.search.hits import Hit
from encoders import get_encoder
from encoders.base import Encoder
from encoders.profiles import Profile
from milvus import Collection, Filter, VectorStore

#: How the command that fills each kind of collection is spelt (`mmsearch index …`).
INDEX_COMMANDS = {
    "image": "mmsearch index images PATH",
    "product": "mmsearch index catalogue FILE",
    "audio": "mmsearch index audio PATH",
    "video": "mmsearch index video PATH",
    "doc": "mmsearch index docs PATH_OR_URL",
}


def nothing_indexed(kind: str, encoder_id: str, profile_name: str | None = None) -> QueryError:
    """The one sentence for a search over an empty (or missing) collection."""
    command = INDEX_COMMANDS.get(kind, f"mmsearch index {kind}s PATH")
    if kind == "doc":
        return QueryError(f"no documents are indexed with {encoder_id} yet; run `{command}` first")
    noun = {"product": "catalogue items", "audio": "audio"}.get(kind, f"{kind}s")
    with_profile = f" (profile {profile_name})" if profile_name else ""
    return QueryError(f"nothing is indexed yet for {noun} with {encoder_id}{with_profile}; run `{command}` first")


@dataclass
class SearchScope:
    """A store, the profile that names its encoders, and the device the encoders run on."""

    store: VectorStore
    profile: Profile
    device: str = "auto"
    text_encoder: str | None = None  # the settings' text encoder (MMSEARCH_TEXT_ENCODER), if any

    def text_encoder_id(self) -> str:
        """The encoder of documents and transcripts (see `indexers.text_encoder`)."""
        from indexers.text_encoder import resolve_text_encoder_id

        return resolve_text_encoder_id(None, self.store, self.device, self.text_encoder)[0]

    def encoder(self, encoder_id: str) -> Encoder:
        """The (shared, lazily loaded) encoder for an id."""
        return get_encoder(encoder_id, self.device)

    def collection(self, kind: str, encoder_id: str) -> Collection:
        """The filled collection of (kind, encoder); a QueryError saying what to index when empty."""
        coll = self.store.find(kind, encoder_id)
        if coll is None or coll.count() == 0:
            raise nothing_indexed(kind, encoder_id, self.profile.name)
        return coll

    def search(self, coll: Collection, vec: np.ndarray, k: int, filter: Filter | None = None) -> list[Hit]:
        """The `k` nearest items to one query vector, as hits."""
        rows = coll.search(np.asarray(vec, dtype=np.float32)[None, :], k=k, filter=filter)[0]
        return [Hit.from_row(r, coll.name) for r in rows]

    def good_match_threshold(self, kind: str, query_kind: str, encoder_id: str | None = None) -> float | None:
        """The calibrated 'good match' score for queries of `query_kind` over `kind` items."""
        from indexers.calibration import threshold_for

        if encoder_id is None and kind == "audio":
            encoder_id = self.profile.audio
        elif encoder_id is None:
            encoder_id = self.profile.words_model(kind) if query_kind == "text" else self.profile.image_model(kind)
        return threshold_for(encoder_id, kind, query_kind, self.store.uri) if encoder_id else None
