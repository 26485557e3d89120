"""Collections per (content kind, encoder) with a fixed row schema.

A row: `id` (content hash, primary key) · `vector` · `source` · `kind` · `title` ·
`text` · `price`/`currency`/`category` (catalogue) · `start_s`/`end_s` (time spans) ·
`meta` (JSON). Each collection records its encoder id, dim and metric, and refuses to
be opened with another encoder, so vector spaces never mix.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from milvus.client import connect, is_lite, normalise_uri
from milvus.errors import CollectionMismatchError, StoreError
from milvus.filters import Filter

log = logging.getLogger(__name__)

DEFAULT_LITE_PATH = "./data/mmsearch.db"
SCALAR_FIELDS = ("source", "kind", "title", "text", "price", "currency", "category", "start_s", "end_s", "meta")
_MAX_LEN = {"id": 64, "source": 4096, "kind": 32, "title": 1024, "text": 8192, "currency": 16, "category": 256}
_PROP_KEYS = ("mmsearch.kind", "mmsearch.encoder", "mmsearch.dim", "mmsearch.metric")


def default_uri() -> str:
    """`--db` falls back to `MMSEARCH_DB`, then `MILVUS_URI`, then `./data/mmsearch.db`."""
    return os.environ.get("MMSEARCH_DB") or os.environ.get("MILVUS_URI") or DEFAULT_LITE_PATH


def collection_name(kind: str, encoder_id: str) -> str:
    """e.g. ("image", "open_clip:ViT-B-32/laion2b_s34b_b79k") → image__open_clip_vit_b_32_laion2b_s34b_b79k."""
    name = f"{kind}__" + re.sub(r"[^a-z0-9]+", "_", encoder_id.lower()).strip("_")
    return name[:255]


@dataclass
class CollectionInfo:
    name: str
    kind: str
    encoder: str
    dim: int
    metric: str
    count: int


class VectorStore:
    """The store behind one URI: a Milvus Lite `.db` path or a server address."""

    def __init__(self, uri: str | None = None) -> None:
        self.uri = normalise_uri(uri or default_uri())
        self.client = connect(self.uri)

    @property
    def is_lite(self) -> bool:
        return is_lite(self.uri)

    def collection(self, kind: str, encoder_id: str, dim: int, metric: str = "COSINE", create: bool = True) -> "Collection":
        """Open the (kind, encoder) collection, creating it if asked; mismatches raise."""
        name = collection_name(kind, encoder_id)
        if self.client.has_collection(name):
            info = self._info(name)
            if info.encoder != encoder_id or info.dim != dim or info.metric != metric:
                raise CollectionMismatchError(
                    f"collection {name} holds {info.encoder} vectors (dim {info.dim}, {info.metric}); "
                    f"it cannot be opened with {encoder_id} (dim {dim}, {metric}). Index into a new collection instead."
                )
            self._ensure_loaded(name)
        elif create:
            self._create(name, kind, encoder_id, dim, metric)
        else:
            raise StoreError(f"nothing indexed yet for {kind} with {encoder_id}")
        return Collection(self, name, kind, encoder_id, dim, metric)

    def find(self, kind: str, encoder_id: str) -> "Collection | None":
        """The collection if it exists, else None (never creates)."""
        name = collection_name(kind, encoder_id)
        if not self.client.has_collection(name):
            return None
        info = self._info(name)
        self._ensure_loaded(name)
        return Collection(self, name, info.kind, info.encoder, info.dim, info.metric)

    def list_collections(self) -> list[CollectionInfo]:
        out = []
        for name in sorted(self.client.list_collections()):
            try:
                out.append(self._info(name))
            except StoreError:
                log.debug("skipping foreign collection %s", name)
        return out

    def drop(self, kind: str, encoder_id: str) -> None:
        self.client.drop_collection(collection_name(kind, encoder_id))

    # -- internals -------------------------------------------------------------
    def _create(self, name: str, kind: str, encoder_id: str, dim: int, metric: str) -> None:
        from pymilvus import DataType

        meta = {"mmsearch.kind": kind, "mmsearch.encoder": encoder_id, "mmsearch.dim": str(dim), "mmsearch.metric": metric}
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False, description=json.dumps(meta))
        schema.add_field("id", DataType.VARCHAR, max_length=_MAX_LEN["id"], is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        for f in ("source", "kind", "title", "text", "currency", "category"):
            schema.add_field(f, DataType.VARCHAR, max_length=_MAX_LEN[f], nullable=True)
        schema.add_field("price", DataType.DOUBLE, nullable=True)
        schema.add_field("start_s", DataType.FLOAT, nullable=True)
        schema.add_field("end_s", DataType.FLOAT, nullable=True)
        schema.add_field("meta", DataType.JSON, nullable=True)
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="HNSW", metric_type=metric, params={"M": 16, "efConstruction": 200})
        self.client.create_collection(name, schema=schema, index_params=index, properties=meta)
        self.client.load_collection(name)
        log.info("created collection %s (%s, dim %d)", name, encoder_id, dim)

    def _ensure_loaded(self, name: str) -> None:
        """Collections come back 'released' after a restart; searching needs them loaded."""
        state = str(self.client.get_load_state(name).get("state", ""))
        if "Loaded" not in state:
            self.client.load_collection(name)

    def _info(self, name: str) -> CollectionInfo:
        desc = self.client.describe_collection(name)
        meta = dict(desc.get("properties") or {})
        if not all(k in meta for k in _PROP_KEYS):
            try:
                meta.update(json.loads(desc.get("description") or "{}"))
            except json.JSONDecodeError:
                pass
        if not all(k in meta for k in _PROP_KEYS):
            raise StoreError(f"collection {name} was not made by mmsearch")
        count = int(self.client.get_collection_stats(name).get("row_count", 0))
        return CollectionInfo(name, meta["mmsearch.kind"], meta["mmsearch.encoder"], int(meta["mmsearch.dim"]), meta["mmsearch.metric"], count)


class Collection:
    """One (kind, encoder) collection."""

    def __init__(self, store: VectorStore, name: str, kind: str, encoder_id: str, dim: int, metric: str) -> None:
        self.store, self.name, self.kind, self.encoder_id, self.dim, self.metric = store, name, kind, encoder_id, dim, metric
        self.client = store.client

    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert or replace rows by id. Vectors must have this collection's dim."""
        if not rows:
            return 0
        clean = [self._row(r) for r in rows]
        self.client.upsert(self.name, clean)
        return len(clean)

    def _row(self, r: dict[str, Any]) -> dict[str, Any]:
        vec = np.asarray(r["vector"], dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.dim:
            raise StoreError(f"vector of dim {vec.shape[0]} does not fit {self.name} (dim {self.dim})")
        row: dict[str, Any] = {"id": str(r["id"]), "vector": vec.tolist()}
        for f in SCALAR_FIELDS:
            v = r.get(f)
            if isinstance(v, str) and f in _MAX_LEN:
                v = _truncate_utf8(v, _MAX_LEN[f])
            if f in ("price", "start_s", "end_s") and v is not None:
                v = float(v)
            row[f] = v
        if row["kind"] is None:
            row["kind"] = self.kind
        return row

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of `ids` are already stored (read-your-writes on servers)."""
        ids = list(dict.fromkeys(ids))
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self.client.query(self.name, filter=Filter.is_in("id", chunk).expr(), output_fields=["id"], **self._strong())
            found.update(r["id"] for r in rows)
        return found

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[dict[str, Any]]:
        if not ids:
            return []
        fields = ["id", *SCALAR_FIELDS] + (["vector"] if with_vectors else [])
        return list(self.client.get(self.name, ids=list(ids), output_fields=fields))

    def search(
        self,
        vectors: np.ndarray,
        k: int = 10,
        filter: Filter | None = None,
        strong: bool = False,
    ) -> list[list[dict[str, Any]]]:
        """Nearest rows per query vector: dicts with `id`, `score` and the scalar fields."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        if vectors.shape[1] != self.dim:
            raise StoreError(f"query of dim {vectors.shape[1]} does not fit {self.name} (dim {self.dim})")
        k = max(1, min(int(k), 16384))
        res = self.client.search(
            self.name,
            data=vectors.tolist(),
            limit=k,
            filter=filter.expr() if filter else "",
            output_fields=list(SCALAR_FIELDS),
            search_params={"metric_type": self.metric, "params": {"ef": max(64, k)}},
            **(self._strong() if strong else {}),
        )
        out = []
        for hits in res:
            rows = []
            for h in hits:
                ent = dict(h.get("entity") or {})
                ent["id"] = h["id"]
                ent["score"] = float(h["distance"])
                rows.append(ent)
            out.append(rows)
        return out

    def query(self, filter: Filter | None = None, limit: int = 100, offset: int = 0, with_vectors: bool = False) -> list[dict[str, Any]]:
        """Rows matching a filter, without vector search (browsing)."""
        fields = ["id", *SCALAR_FIELDS] + (["vector"] if with_vectors else [])
        expr = filter.expr() if filter else 'id != ""'
        return list(self.client.query(self.name, filter=expr, output_fields=fields, limit=limit, offset=offset, **self._strong()))

    def count(self) -> int:
        return int(self.client.get_collection_stats(self.name).get("row_count", 0))

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self.client.delete(self.name, ids=list(ids))

    def flush(self) -> None:
        """Seal what was written (servers); harmless on Lite."""
        if not self.store.is_lite:
            self.client.flush(self.name)

    def _strong(self) -> dict[str, Any]:
        return {} if self.store.is_lite else {"consistency_level": "Strong"}


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")
