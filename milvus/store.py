"""Collections per (content kind, encoder) with a fixed row schema.

A row: `id` (content hash, primary key) · `vector` · `source` · `kind` · `title` ·
`text` · `price`/`currency`/`category` (catalogue) · `start_s`/`end_s` (time spans) ·
`meta` (JSON). Each collection records its encoder id, dim and metric, and refuses to
be opened with another encoder, so vector spaces never mix.

Cosine collections are indexed with Milvus's inner product (IP) over vectors made unit
length on the way in and out: the same scores, and an exact scan that skips the per-row
norms (Lite 2.5 FLAT at 100k rows: p95 32.5 ms with COSINE, 24.4 ms with IP).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from milvus.analyzer import text_field_params
from milvus.client import connect, import_pymilvus, is_lite, normalise_uri
from milvus.errors import CollectionMismatchError, StoreError, translate
from milvus.filters import STAND_INS, Filter, to_stand_ins

log = logging.getLogger(__name__)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero): cosine collections are stored and
    searched as inner product over unit vectors, whoever made the vectors."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

DEFAULT_LITE_PATH = "./data/mmsearch.db"
SCALAR_FIELDS = ("source", "kind", "title", "text", "price", "currency", "category", "start_s", "end_s", "meta")
_MAX_LEN = {"id": 64, "source": 4096, "kind": 32, "title": 1024, "text": 8192, "currency": 16, "category": 256}
_PROP_KEYS = ("mmsearch.kind", "mmsearch.encoder", "mmsearch.dim", "mmsearch.metric")
# The metric Milvus indexes with, when it differs from the one scores mean (COSINE → IP over
# unit vectors). Collections made before it existed have none and were indexed with COSINE.
_INDEX_METRIC_KEY = "mmsearch.index_metric"
SPARSE_FIELD = "sparse"  # BM25 term weights, computed by Milvus from `text` (text collections only)
_NUMBER_FIELDS = ("price", "start_s", "end_s")
_STRING_FIELDS = ("source", "kind", "title", "text", "currency", "category")
# Servers before Milvus 2.5 and Milvus Lite 2.x have no nullable fields: there a missing
# number is stored as this sentinel (prices and times are never negative) and a missing
# string as "".
NO_NUMBER = -1.0
# Rows per upsert call. Milvus Lite 2.5 slows down ~100× on calls over ~6 MB (measured:
# 3,000 × 512-d rows 0.8 s, 4,000 rows 35 s); 1,000 rows is ~2 MB and 10k rows/s.
UPSERT_CHUNK = 1000
_QUERY_WINDOW = 16_384  # Milvus: offset + limit of one query


@dataclass(frozen=True)
class Capabilities:
    """What the backend behind a URI can do, probed once when the store opens."""

    backend: str  # e.g. "Milvus Lite 2.5.1", "Milvus 2.3.5"
    nullable: bool
    vector_index: dict[str, Any]  # index_type + params for the `vector` field
    # False on Lite 2.x: "\n" in a filter never matches and a quote in an id breaks upserts,
    # so strings are stored with stand-ins for those characters (see milvus/filters.py)
    plain_strings: bool = True
    # Milvus's BM25 function (full-text search). Lite 2.5 accepts the schema but silently
    # drops the function, leaving an empty sparse field, so it is not even asked there.
    bm25: bool = True
    # What COSINE collections are indexed with: IP over unit vectors (see the module docstring)
    cosine_index_metric: str = "IP"

    @staticmethod
    def probe(client: Any, lite: bool) -> "Capabilities":
        if lite:
            version = _lite_version()
            lite3 = version >= (3, 0)
            return Capabilities(f"Milvus Lite {'.'.join(map(str, version))}", lite3, _index_for(lite_major=version[0]), lite3, lite3)
        try:
            raw = str(client.get_server_version())
        except Exception:  # `milvus-lite` 2.x serving over TCP has no GetVersion RPC
            return Capabilities("Milvus Lite server", False, _index_for(lite_major=2), False, False)
        m = re.search(r"(\d+)\.(\d+)", raw)
        version = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        current = version >= (2, 5)
        return Capabilities(f"Milvus {raw.lstrip('v')}", current, _index_for(lite_major=None), True, current)


def _lite_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(p) for p in re.findall(r"\d+", version("milvus-lite"))[:3])


def _index_for(lite_major: int | None) -> dict[str, Any]:
    """HNSW on servers and Lite 3; FLAT (exact) on Lite 2.x, whose approximate indexes cannot be
    tuned. Lite 2.5 keeps a collection in one growing segment that is never sealed (its Flush
    does nothing) and accepts only FLAT / IVF_FLAT / AUTOINDEX. For IVF_FLAT and AUTOINDEX it
    turns on Milvus's growing-segment *interim* index (IVF_FLAT_CC), built once the segment
    holds 100,000 rows (Lite's max index rows 1,000,000 × build ratio 0.1). Its nlist (100) and
    nprobe come from segcore's defaults, which Lite never sets; the index's nlist and the query's
    nprobe are dropped (segcore's VecIndexConfig::GetSearchConf replaces a query's params with
    its own). So below 100k rows they scan every row like FLAT; from 100k on they return the same
    ids for every nprobe, recall@10 0.67-0.71 on clustered 512-d data. FLAT gets no interim index
    (milvus#27209) and stays exact. Measured: bench/results/query_latency.md; pinned by
    tests/unit/milvus/test_index_params.py."""
    if lite_major == 2:
        return {"index_type": "FLAT", "params": {}}
    return {"index_type": "HNSW", "params": {"M": 16, "efConstruction": 200}}


def search_params_for(index_type: str, k: int) -> dict[str, Any]:
    """Query-time knobs for an index type (recall vs speed)."""
    if index_type == "HNSW":
        return {"ef": max(64, k)}
    if index_type.startswith("IVF"):
        return {"nprobe": 64}
    return {}


def default_uri() -> str:
    """The database when none is named: `./data/mmsearch.db` (the app's settings name one:
    `--db`, MMSEARCH_DB, MILVUS_URI or mmsearch.toml)."""
    return DEFAULT_LITE_PATH


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
    index_metric: str = ""  # what Milvus compares with; "" = `metric`


class VectorStore:
    """The store behind one URI: a Milvus Lite `.db` path or a server address."""

    def __init__(self, uri: str | None = None) -> None:
        self.uri = normalise_uri(uri or default_uri())
        self.client = connect(self.uri)
        self.capabilities = Capabilities.probe(self.client, self.is_lite)

    @property
    def supports_nullable(self) -> bool:
        return self.capabilities.nullable

    @property
    def is_lite(self) -> bool:
        return is_lite(self.uri)

    def collection(
        self, kind: str, encoder_id: str, dim: int, metric: str = "COSINE", create: bool = True, bm25: bool = False
    ) -> "Collection":
        """Open the (kind, encoder) collection, creating it if asked; mismatches raise.

        `bm25=True` asks, when creating, for Milvus's BM25 function over `text` (full-text and
        hybrid search); stores without it get the plain schema (see `Collection.has_bm25`)."""
        name = collection_name(kind, encoder_id)
        with translate(f"opening {name}"):
            return self._collection(name, kind, encoder_id, dim, metric, create, bm25)

    def _collection(self, name: str, kind: str, encoder_id: str, dim: int, metric: str, create: bool, bm25: bool) -> "Collection":
        if create and not self.client.has_collection(name):
            try:
                if bm25 and self.capabilities.bm25:
                    self._create_with_bm25(name, kind, encoder_id, dim, metric)
                else:
                    self._create(name, kind, encoder_id, dim, metric)
            except Exception:
                if not self.client.has_collection(name):
                    raise
                # another process created it at the same moment: check it like any other
        if not self.client.has_collection(name):
            raise StoreError(f"nothing indexed yet for {kind} with {encoder_id}")
        info = self._info(name)
        if info.encoder != encoder_id or info.dim != dim or info.metric != metric:
            raise CollectionMismatchError(
                f"collection {name} holds {info.encoder} vectors (dim {info.dim}, {info.metric}); "
                f"it cannot be opened with {encoder_id} (dim {dim}, {metric}). Index into a new collection instead."
            )
        self._ensure_loaded(name)
        return Collection(self, name, kind, encoder_id, dim, metric, self._nullable(name), info.index_metric)

    def _nullable(self, name: str) -> bool:
        fields = self.client.describe_collection(name).get("fields", [])
        return any(f.get("nullable") for f in fields) if self.supports_nullable else False

    def find(self, kind: str, encoder_id: str) -> "Collection | None":
        """The collection if it exists, else None (never creates)."""
        name = collection_name(kind, encoder_id)
        with translate(f"opening {name}"):
            if not self.client.has_collection(name):
                return None
            info = self._info(name)
            self._ensure_loaded(name)
            return Collection(self, name, info.kind, info.encoder, info.dim, info.metric, self._nullable(name), info.index_metric)

    def list_collections(self) -> list[CollectionInfo]:
        out = []
        with translate(f"listing the collections in {self.uri}"):
            for name in sorted(self.client.list_collections()):
                try:
                    out.append(self._info(name))
                except StoreError:
                    log.debug("skipping foreign collection %s", name)
        return out

    def drop(self, kind: str, encoder_id: str) -> None:
        name = collection_name(kind, encoder_id)
        with translate(f"dropping {name}"):
            self.client.drop_collection(name)

    # -- internals -------------------------------------------------------------
    def _create_with_bm25(self, name: str, kind: str, encoder_id: str, dim: int, metric: str) -> None:
        """Create with the BM25 function; a store without it (e.g. server 2.3) gets the plain schema."""
        try:
            self._create(name, kind, encoder_id, dim, metric, bm25=True)
        except Exception as exc:  # the server rejects the sparse field or the function
            log.info("%s: no BM25 in this Milvus (%s); full-text ranking will run in the client", name, str(exc).splitlines()[0][:200])
            if self.client.has_collection(name):
                self.client.drop_collection(name)
            self._create(name, kind, encoder_id, dim, metric)

    def _create(self, name: str, kind: str, encoder_id: str, dim: int, metric: str, bm25: bool = False) -> None:
        pymilvus = import_pymilvus()
        DataType, Function, FunctionType = pymilvus.DataType, pymilvus.Function, pymilvus.FunctionType
        index_metric = self.capabilities.cosine_index_metric if metric == "COSINE" else metric
        meta = {"mmsearch.kind": kind, "mmsearch.encoder": encoder_id, "mmsearch.dim": str(dim), "mmsearch.metric": metric}
        if index_metric != metric:
            meta[_INDEX_METRIC_KEY] = index_metric
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False, description=json.dumps(meta))
        # With stand-ins (Lite 2.x) a 1-byte quote is stored as a 3-byte private-use character:
        # the column is sized for the stored form, so any id up to 64 bytes fits a byte count.
        id_bytes = _MAX_LEN["id"] * (1 if self.capabilities.plain_strings else _STAND_IN_BYTES)
        schema.add_field("id", DataType.VARCHAR, max_length=id_bytes, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        nullable = {"nullable": True} if self.supports_nullable else {}
        for f in _STRING_FIELDS:
            analyzer = text_field_params() if bm25 and f == "text" else {}  # see milvus/analyzer.py
            schema.add_field(f, DataType.VARCHAR, max_length=_MAX_LEN[f], **nullable, **analyzer)
        schema.add_field("price", DataType.DOUBLE, **nullable)
        schema.add_field("start_s", DataType.FLOAT, **nullable)
        schema.add_field("end_s", DataType.FLOAT, **nullable)
        schema.add_field("meta", DataType.JSON, **nullable)
        index = self.client.prepare_index_params()
        index.add_index("vector", metric_type=index_metric, **self.capabilities.vector_index)
        if bm25:  # Milvus tokenises `text` and keeps BM25 term weights in `sparse`
            schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(
                Function(name="text_bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=[SPARSE_FIELD])
            )
            index.add_index(SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        self.client.create_collection(name, schema=schema, properties=meta)
        # An empty collection's index is ready at once; waiting (pymilvus's default) polls
        # with a 0.5 s sleep, which was 10% of indexing 100 photos.
        self.client.create_index(name, index, sync=False)
        self._ensure_loaded(name)
        log.info("created collection %s (%s, dim %d)", name, encoder_id, dim)

    def _ensure_loaded(self, name: str, wait_s: float = 20.0) -> None:
        """Collections come back 'released' after a restart; searching needs them loaded.

        A collection another process is still creating has no index yet and cannot be
        loaded: wait for its index instead of failing."""
        deadline = time.monotonic() + wait_s
        while True:
            state = str(self.client.get_load_state(name).get("state", ""))
            if "Loaded" in state:
                return
            try:
                self.client.load_collection(name)
                return
            except Exception as exc:
                if "index not found" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

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
        if self.is_lite:
            count = int(self.client.get_collection_stats(name).get("row_count", 0))
        else:
            self._ensure_loaded(name)
            res = self.client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
            count = int(res[0]["count(*)"]) if res else 0
        metric = meta["mmsearch.metric"]
        return CollectionInfo(
            name, meta["mmsearch.kind"], meta["mmsearch.encoder"], int(meta["mmsearch.dim"]), metric, count, meta.get(_INDEX_METRIC_KEY, metric)
        )


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _translated(action: str) -> Callable[[_Method], _Method]:
    """A Collection method whose backend errors become one `StoreError` sentence,
    `"{action} failed: …"` with `{}` in `action` standing for the collection's name
    (see `milvus.errors.translate`)."""

    def wrap(method: _Method) -> _Method:
        @functools.wraps(method)
        def call(self: Collection, *args: Any, **kwargs: Any) -> Any:
            with translate(action.format(self.name)):
                return method(self, *args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap


class Collection:
    """One (kind, encoder) collection. Every method that asks Milvus raises `StoreError`
    (the backend's own exception kept as `__cause__`) when Milvus fails."""

    def __init__(
        self, store: VectorStore, name: str, kind: str, encoder_id: str, dim: int, metric: str, nullable: bool = True, index_metric: str = ""
    ) -> None:
        self.store, self.name, self.kind, self.encoder_id, self.dim, self.metric = store, name, kind, encoder_id, dim, metric
        self.nullable = nullable
        self.index_metric = index_metric or metric
        # cosine kept as inner product: every vector in or out of Milvus is made unit length
        self.unit_vectors = metric == "COSINE" and self.index_metric == "IP"
        self.client = store.client
        # Where the backend mishandles some characters, strings are stored with private-use
        # stand-ins for them and read back unchanged (see milvus/filters.py).
        self.stand_ins = not store.capabilities.plain_strings

    @_translated("writing to {}")
    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert or replace rows by id. Vectors must have this collection's dim."""
        if not rows:
            return 0
        # one row per id, the last one winning (Lite 2.5 keeps both of a call's duplicates)
        clean = list({row["id"]: row for row in map(self._row, rows)}.values())
        for i in range(0, len(clean), UPSERT_CHUNK):
            self.client.upsert(self.name, clean[i : i + UPSERT_CHUNK])
        return len(clean)

    def _row(self, r: dict[str, Any]) -> dict[str, Any]:
        vec = np.asarray(r["vector"], dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.dim:
            raise StoreError(f"vector of dim {vec.shape[0]} does not fit {self.name} (dim {self.dim})")
        if self.unit_vectors:
            vec = unit_rows(vec[None, :])[0]
        row: dict[str, Any] = {"id": self._store_str(str(r["id"])), "vector": vec.tolist()}
        for f in SCALAR_FIELDS:
            v = r.get(f)
            if isinstance(v, str) and f in _MAX_LEN:
                v = _truncate_utf8(self._store_str(v), _MAX_LEN[f])
            if f in ("price", "start_s", "end_s") and v is not None:
                v = float(v)
            row[f] = v
        if row["kind"] is None:
            row["kind"] = self.kind
        if not self.nullable:
            for f in _STRING_FIELDS:
                row[f] = "" if row[f] is None else row[f]
            for f in _NUMBER_FIELDS:
                row[f] = NO_NUMBER if row[f] is None else row[f]
            row["meta"] = row["meta"] if row["meta"] is not None else {}
        return row

    def _restore(self, row: dict[str, Any]) -> dict[str, Any]:
        """Undo the no-nullable sentinels and control-character stand-ins so every backend
        returns the same rows."""
        if self.stand_ins:
            for f in ("id", *_STRING_FIELDS):
                if isinstance(row.get(f), str):
                    row[f] = row[f].translate(_FROM_STAND_IN)
        if not self.nullable:
            for f in _STRING_FIELDS:
                if row.get(f) == "":
                    row[f] = None
            for f in _NUMBER_FIELDS:
                if row.get(f) is not None and row[f] < 0:
                    row[f] = None
            if row.get("meta") == {}:
                row["meta"] = None
        return row

    def _store_str(self, text: str) -> str:
        return text.translate(_TO_STAND_IN) if self.stand_ins else text

    @_translated("looking up ids in {}")
    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of `ids` are already stored (read-your-writes on servers)."""
        ids = list(dict.fromkeys(ids))
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self.client.query(self.name, filter=self._expr(Filter.is_in("id", chunk)), output_fields=["id"], **self._strong())
            found.update(self._restore({"id": r["id"]})["id"] for r in rows)
        return found

    @_translated("reading rows of {}")
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[dict[str, Any]]:
        if not ids:
            return []
        fields = ["id", *SCALAR_FIELDS] + (["vector"] if with_vectors else [])
        rows = self.client.query(self.name, filter=self._expr(Filter.is_in("id", list(ids))), output_fields=fields, **self._strong())
        return [self._restore(dict(r)) for r in rows]

    @_translated("search in {}")
    def search(
        self,
        vectors: np.ndarray,
        k: int = 10,
        filter: Filter | None = None,
        strong: bool = False,
    ) -> list[list[dict[str, Any]]]:
        """Nearest rows per query vector: dicts with `id`, `score` and the scalar fields."""
        vectors = self._query_vectors(vectors)
        if vectors.shape[1] != self.dim:
            raise StoreError(f"query of dim {vectors.shape[1]} does not fit {self.name} (dim {self.dim})")
        k = max(1, min(int(k), 16384))
        res = self.client.search(
            self.name,
            data=vectors.tolist(),
            anns_field="vector",  # text collections also hold the BM25 sparse vector
            limit=k,
            filter=self._expr(filter),
            output_fields=list(SCALAR_FIELDS),
            search_params={"metric_type": self.index_metric, "params": search_params_for(self.index_type, k)},
            **(self._strong() if strong else {}),
        )
        return self._hit_rows(res)

    def _query_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Query vectors as float32 rows, unit length where cosine is kept as inner product."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        return unit_rows(vectors) if self.unit_vectors else vectors

    def _hit_rows(self, res: Any, score=float) -> list[list[dict[str, Any]]]:
        """pymilvus search results → per query, dicts with `id`, `score` and the scalar fields."""
        out = []
        for hits in res:
            rows = []
            for h in hits:
                ent = dict(h.get("entity") or {})
                ent["id"] = h["id"]
                ent["score"] = score(h["distance"])
                rows.append(self._restore(ent))
            out.append(rows)
        return out

    @property
    def index_type(self) -> str:
        """The vector index this store builds (it decides the search knobs); read from the
        store's capabilities, not asked of Milvus, to keep an RPC off every search."""
        return str(self.store.capabilities.vector_index["index_type"])

    # -- full text (BM25) ---------------------------------------------------------
    @cached_property
    def has_bm25(self) -> bool:
        """True when Milvus keeps BM25 weights of `text` here (created with `bm25=True` where
        `Capabilities.bm25`: Lite 3.x, servers ≥ 2.5)."""
        with translate(f"describing {self.name}"):
            functions = self.client.describe_collection(self.name).get("functions") or []
        return any(SPARSE_FIELD in (fn.get("output_field_names") or []) for fn in functions)

    @_translated("full-text search in {}")
    def text_search(self, texts: Sequence[str], k: int = 10, filter: Filter | None = None) -> list[list[dict[str, Any]]]:
        """BM25 full-text search by Milvus (needs `has_bm25`); `score` is the BM25 score, higher is better."""
        self._need_bm25()
        res = self.client.search(
            self.name,
            data=[str(t) for t in texts],
            anns_field=SPARSE_FIELD,
            limit=max(1, min(int(k), 16384)),
            filter=self._expr(filter),
            output_fields=list(SCALAR_FIELDS),
            search_params={"metric_type": "BM25"},
            **self._strong(),
        )
        return self._hit_rows(res, score=lambda d: abs(float(d)))  # Milvus Lite reports BM25 negated

    @_translated("hybrid search in {}")
    def hybrid_search(
        self, vector: np.ndarray, text: str, k: int = 10, filter: Filter | None = None, candidates: int = 50, rrf_k: int = 60
    ) -> list[dict[str, Any]]:
        """Dense and BM25 top-`candidates`, fused by Milvus's reciprocal-rank ranker (needs `has_bm25`).
        `score` is the RRF score: the sum over both lists of 1 / (rrf_k + rank)."""
        pymilvus = import_pymilvus()
        AnnSearchRequest, RRFRanker = pymilvus.AnnSearchRequest, pymilvus.RRFRanker
        self._need_bm25()
        expr = self._expr(filter)
        n = max(1, min(int(candidates), 16384))
        vec = self._query_vectors(np.asarray(vector).reshape(-1))[0].tolist()
        reqs = [
            AnnSearchRequest(data=[vec], anns_field="vector", param={"metric_type": self.index_metric, "params": search_params_for(self.index_type, n)}, limit=n, expr=expr),
            AnnSearchRequest(data=[str(text)], anns_field=SPARSE_FIELD, param={"metric_type": "BM25"}, limit=n, expr=expr),
        ]
        res = self.client.hybrid_search(
            self.name, reqs=reqs, ranker=RRFRanker(rrf_k), limit=max(1, min(int(k), n)), output_fields=list(SCALAR_FIELDS), **self._strong()
        )
        return self._hit_rows(res)[0]

    def scan(self, filter: Filter | None = None, fields: Sequence[str] = ("id", "text"), batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every row matching `filter`, in batches (no vector search): for client-side ranking."""
        # pymilvus warns on every Lite iterator that it timestamps in the client, which is fine here
        logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
        with translate(f"reading the rows of {self.name}"):  # a generator: the decorator would see no call fail
            it = self.client.query_iterator(
                self.name, batch_size=batch_size, filter=self._expr(filter) or 'id != ""', output_fields=list(fields), **self._strong()
            )
            try:
                while batch := it.next():
                    for row in batch:
                        yield self._restore(dict(row))
            finally:
                it.close()

    def _need_bm25(self) -> None:
        if not self.has_bm25:
            raise StoreError(f"{self.name} has no BM25 index (this Milvus lacks full-text search); rank text in the client instead")

    def _expr(self, filter: Filter | None) -> str:
        """The expression this backend gets for `filter` ('' for none)."""
        filter = self._guard(filter)
        expr = filter.expr() if filter else ""
        return to_stand_ins(expr) if self.stand_ins else expr

    @_translated("query of {}")
    def query(self, filter: Filter | None = None, limit: int = 100, offset: int = 0, with_vectors: bool = False) -> list[dict[str, Any]]:
        """Rows matching a filter, without vector search (browsing)."""
        fields = ["id", *SCALAR_FIELDS] + (["vector"] if with_vectors else [])
        expr = self._expr(filter) or 'id != ""'
        rows = self.client.query(self.name, filter=expr, output_fields=fields, limit=limit, offset=offset, **self._strong())
        return [self._restore(dict(r)) for r in rows]

    def _guard(self, filter: Filter | None) -> Filter | None:
        """Without nullable fields, keep the missing-number sentinel out of numeric comparisons."""
        if filter is None or self.nullable:
            return filter
        for f in sorted(filter.numeric_fields & set(_NUMBER_FIELDS)):
            filter = filter & Filter.ge(f, 0.0)
        return filter

    @_translated("counting the rows of {}")
    def count(self, filter: Filter | None = None) -> int:
        """Rows stored, or rows matching `filter` (Milvus's `count(*)`, no rows read).
        Lite's stats are exact; a server's count only flushed rows, so ask it."""
        if filter:
            res = self.client.query(self.name, filter=self._expr(filter), output_fields=["count(*)"], **self._strong())
            return int(res[0]["count(*)"]) if res else 0
        if self.store.is_lite:
            return int(self.client.get_collection_stats(self.name).get("row_count", 0))
        res = self.client.query(self.name, filter="", output_fields=["count(*)"], consistency_level="Strong")
        return int(res[0]["count(*)"]) if res else 0

    # -- browsing at any size (Milvus caps one query's offset + limit at QUERY_WINDOW) -------
    @_translated("listing the values of {}")
    def distinct(self, field: str, filter: Filter | None = None, max_values: int = 1000, batch: int = 1000) -> list[str]:
        """The distinct non-empty values of a string field, sorted, found by the database:
        each round asks for rows whose value is none of those seen so far (`field not in
        [...]`), so there are as many rounds as values, and no round reads more than `batch`
        one-field rows. Raises StoreError past `max_values` (not a category-like field)."""
        seen: list[str] = [""]
        base = filter or Filter()
        if self.nullable:
            base = base & Filter.not_null(field)
        while True:
            rows = self.client.query(
                self.name, filter=self._expr(base & Filter.not_in(field, seen)), output_fields=[field], limit=batch, **self._strong()
            )
            new = {self._restore({field: r.get(field)})[field] for r in rows} - {None, ""}
            if not rows:
                return sorted(v for v in seen if v)
            if not new:  # values that restore to "" or None (should not happen): stop rather than loop
                return sorted(v for v in seen if v)
            seen.extend(sorted(new))
            if len(seen) - 1 > max_values:
                raise StoreError(f"{field} in {self.name} has over {max_values} distinct values")

    @_translated("finding the extremes of {}")
    def lowest(self, field: str, filter: Filter | None = None, highest: bool = False, batch: int = 2048) -> float | None:
        """The smallest (or largest) value of a number field among rows matching `filter`,
        found by the database: each round reads at most `batch` one-field rows strictly beyond
        the best value so far, until none is left. Rows come back in primary-key order, not by
        value, so a round usually cuts the candidates to ~1/`batch`: 2–3 rounds at 100k rows."""
        base = (filter or Filter()) & (Filter.not_null(field) if self.nullable else Filter.ge(field, 0.0))
        best: float | None = None
        while True:
            flt = base
            if best is not None:
                flt = flt & (Filter.gt(field, best) if highest else Filter.lt(field, best))
            rows = self.client.query(self.name, filter=self._expr(flt), output_fields=[field], limit=batch, **self._strong())
            values = [float(r[field]) for r in rows if r.get(field) is not None]
            if not values:
                return best
            best = max(values) if highest else min(values)

    @_translated("paging through {}")
    def page_after(
        self, filter: Filter | None = None, after: str | None = None, limit: int = 24, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Up to `limit` rows matching `filter` with ids after `after`, in id order: keyset
        paging, which reaches rows beyond Milvus's offset + limit window. Milvus (Lite 2.5
        included, measured) answers a limited query with the lowest primary keys, merged
        across segments; the rows are sorted again here all the same."""
        flt = filter or Filter()
        if after is not None:
            flt = flt & Filter.gt("id", after)
        out = list(fields) if fields else ["id", *SCALAR_FIELDS]
        expr = self._expr(flt) or 'id != ""'
        rows = self.client.query(self.name, filter=expr, output_fields=out, limit=max(1, min(int(limit), _QUERY_WINDOW)), **self._strong())
        rows.sort(key=lambda r: r["id"])  # the stored ids (stand-ins and all): the order Milvus compares
        return [self._restore(dict(r)) for r in rows]

    def id_before(self, position: int, filter: Filter | None = None) -> str | None:
        """The id just before row `position` (0-based, id order) among rows matching `filter`:
        the keyset cursor for a page starting there (None for position 0). Walks ids only,
        a window at a time: 7 one-field queries to reach row 100,000."""
        cursor: str | None = None
        left = int(position)
        while left > 0:
            rows = self.page_after(filter, cursor, min(left, _QUERY_WINDOW), fields=["id"])
            if not rows:
                break
            cursor = rows[-1]["id"]
            left -= len(rows)
        return cursor

    @_translated("deleting from {}")
    def delete(self, ids: Sequence[str]) -> None:
        """Delete rows by id, through a typed filter (pymilvus's `ids=` quotes ids unescaped)."""
        ids = list(ids)
        for i in range(0, len(ids), 500):
            self.client.delete(self.name, filter=self._expr(Filter.is_in("id", ids[i : i + 500])))

    @_translated("flushing {}")
    def flush(self) -> None:
        """Seal what was written; call after a bulk load.

        On a server it persists the growing segment. On Milvus Lite it matters for speed:
        unflushed rows sit in a memtable that every query scans by brute force in Python
        (Lite 3.x measured ~2 s per query at 20k rows unflushed). Lite 2.5's Flush does nothing:
        it serves every row from one growing segment (see `_index_for`).
        """
        self.client.flush(self.name)

    def _strong(self) -> dict[str, Any]:
        return {} if self.store.is_lite else {"consistency_level": "Strong"}


_TO_STAND_IN = str.maketrans(STAND_INS)
_STAND_IN_BYTES = max(len(v.encode("utf-8")) for v in STAND_INS.values())  # 3: each replaces 1 byte
_FROM_STAND_IN = str.maketrans({v: k for k, v in STAND_INS.items()})


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")
