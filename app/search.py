"""Search logic shared by the CLI and the Streamlit app (no Streamlit imports here)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from encoders import get_encoder
from encoders.base import Encoder
from encoders.profiles import Profile
from milvus import Collection, Filter, StoreError, VectorStore

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1000
JSON_FIELDS = ("id", "score", "source", "kind", "title", "price", "start_s", "end_s", "text", "saving", "saving_pct")


class QueryError(ValueError):
    """A query that cannot be run, stated as a sentence for the user."""


@dataclass
class Hit:
    id: str
    score: float
    source: str | None = None
    kind: str | None = None
    title: str | None = None
    price: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    text: str | None = None
    currency: str | None = None
    category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    collection: str = ""
    saving: float | None = None  # catalogue: anchor price − price (negative: costs more)
    saving_pct: float | None = None  # catalogue: saving / anchor price, a fraction (0.25 = 25 %)

    @classmethod
    def from_row(cls, row: dict[str, Any], collection: str) -> "Hit":
        return cls(
            id=row["id"],
            score=float(row.get("score", 0.0)),
            source=row.get("source"),
            kind=row.get("kind"),
            title=row.get("title"),
            price=row.get("price"),
            start_s=row.get("start_s"),
            end_s=row.get("end_s"),
            text=row.get("text"),
            currency=row.get("currency"),
            category=row.get("category"),
            meta=row.get("meta") or {},
            collection=collection,
        )

    def to_json(self) -> dict[str, Any]:
        """The CLI's `--json` contract: these keys, absent values null."""
        out = {k: getattr(self, k) for k in JSON_FIELDS}
        out["score"] = round(self.score, 6)
        if self.saving is not None:
            out["saving"] = round(self.saving, 4)
        if self.saving_pct is not None:
            out["saving_pct"] = round(self.saving_pct, 6)
        return out

    @property
    def thumb(self) -> str | None:
        return self.meta.get("thumb")


def split_by_threshold(hits: list[Hit], threshold: float | None) -> tuple[list[Hit], list[Hit]]:
    """(good matches, weaker ones) for a calibrated threshold; all good when there is none."""
    if threshold is None:
        return hits, []
    return [h for h in hits if h.score >= threshold], [h for h in hits if h.score < threshold]


def clean_text_query(query: str) -> str:
    """Trim, refuse empty, cut very long queries."""
    q = " ".join((query or "").split())
    if not q:
        raise QueryError("type something to search for")
    return q[:MAX_QUERY_CHARS]


class SearchEngine:
    """Runs text and photo queries against the collections of one profile."""

    def __init__(self, store: VectorStore, profile: Profile, device: str = "auto") -> None:
        self.store = store
        self.profile = profile
        self.device = device

    def good_match_threshold(self, kind: str, query_kind: str, encoder_id: str | None = None) -> float | None:
        """The calibrated 'good match' score for queries of `query_kind` over `kind` items."""
        from indexers.calibration import threshold_for

        if encoder_id is None and kind == "audio":
            encoder_id = self.profile.audio
        elif encoder_id is None:
            encoder_id = self.profile.text_to_image if query_kind == "text" else self.profile.image_to_image
        return threshold_for(encoder_id, kind, query_kind, self.store.uri) if encoder_id else None

    def encoder(self, encoder_id: str) -> Encoder:
        return get_encoder(encoder_id, self.device)

    def _collection(self, kind: str, encoder_id: str) -> Collection:
        coll = self.store.find(kind, encoder_id)
        if coll is None or coll.count() == 0:
            raise QueryError(
                f"nothing is indexed yet for {kind}s with {encoder_id} (profile {self.profile.name}); "
                f"run `mmsearch index {kind}s PATH` first"
            )
        return coll

    def search_text(self, query: str, kind: str = "image", k: int = 10, filter: Filter | None = None) -> list[Hit]:
        """Text → items of `kind`, best first."""
        q = clean_text_query(query)
        if kind == "doc":  # document chunks and transcript segments: hybrid dense + BM25
            from app.rag import search_docs

            return search_docs(self.store, q, k=k, filter=filter, device=self.device)
        if kind == "audio":  # through the audio encoder's stored tags (PANNs); aisfx has none
            from app.audio_search import search_text_audio

            return search_text_audio(self, q, k=k, filter=filter)
        if kind == "video":  # frames and transcript lines fused into moments
            from app.video_search import search_text_video

            return search_text_video(self, q, k=k, filter=filter)
        if kind not in ("image", "product"):
            raise QueryError(f"text search over {kind} is not available yet")
        enc_id = self.profile.text_to_image
        coll = self._collection(kind, enc_id)
        vec = _cached_query_vector(self.encoder(enc_id), q)
        return self._search(coll, vec, k, filter)

    def search_image(self, image: Any, k: int = 10, filter: Filter | None = None, encoder_id: str | None = None) -> list[Hit]:
        """Photo (PIL image) → similar images, best first."""
        enc_id = encoder_id or self.profile.image_to_image
        coll = self._collection("image", enc_id)
        vec = self.encoder(enc_id).embed_queries([image])[0]
        return self._search(coll, vec, k, filter)

    def more_like(self, item_id: str, k: int = 10, filter: Filter | None = None, encoder_id: str | None = None) -> list[Hit]:
        """Items like a stored one (its own vector, no re-encoding); the item itself is left out."""
        enc_id = encoder_id or self.profile.image_to_image
        coll = self._collection("image", enc_id)
        rows = coll.get([item_id], with_vectors=True)
        if not rows:
            raise QueryError(f"no item with id {item_id} in {coll.name}")
        hits = self._search(coll, np.asarray(rows[0]["vector"], dtype=np.float32), k + 1, filter)
        return [h for h in hits if h.id != item_id][:k]

    def _search(self, coll: Collection, vec: np.ndarray, k: int, filter: Filter | None) -> list[Hit]:
        try:
            rows = coll.search(vec[None, :], k=k, filter=filter)[0]
        except StoreError:
            raise
        except Exception as exc:  # pymilvus raises its own types; say it in one sentence
            raise StoreError(f"search in {coll.name} failed: {str(exc).splitlines()[0][:200]}") from exc
        return [Hit.from_row(r, coll.name) for r in rows]


@lru_cache(maxsize=512)
def _cached_text_vector(encoder_id: str, device: str, text: str) -> bytes:
    vec = get_encoder(encoder_id, device).embed_queries([text])[0]
    return vec.astype(np.float32).tobytes()


def _cached_query_vector(encoder: Encoder, text: str) -> np.ndarray:
    """Text queries repeat (UI reruns, pagination): embed each once per process."""
    raw = _cached_text_vector(encoder.spec.id, encoder.device_request, text)
    return np.frombuffer(raw, dtype=np.float32).copy()


def load_query_image(path_or_bytes: str | Path | bytes):
    """A query photo, decoded with the same safety rules as indexing."""
    from indexers.image_io import open_image

    return open_image(path_or_bytes)
