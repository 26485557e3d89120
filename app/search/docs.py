"""Retrieval over documents and transcripts: dense, BM25 and hybrid, optionally re-ranked.

Retrieval modes over the `doc__<encoder>` collection (see `indexers.docs`):
- `dense`: the question's embedding, nearest chunks by cosine.
- `bm25`: full text, by Milvus's BM25 function or by BM25 in the client (see below); both
  analyse text the same way (stemmed English without stop words; see `app.search.bm25` and
  `milvus.analyzer` for what differs for CJK on Milvus).
- `hybrid` (default): both rankings, fused here by `app.search.fusion.fuse` with the same
  method on every backend (`fusion=`, default `DEFAULT_FUSION`, chosen on `eval --dataset
  docs-qa`; the table is in `app.search.fusion`).
Optionally a sentence-transformers CrossEncoder re-scores the candidates.

Who ranks the full text (`bm25=`): "milvus" needs a collection made with the BM25 function
(Lite 3.x, servers ≥ 2.5); "client" scores BM25 here over the whole collection (or, past
`FULL_SCAN_LIMIT` rows, over the dense candidates); "auto" (default) is "milvus" on a server
that has it and "client" elsewhere, including on Milvus Lite: Lite 3.2 keeps BM25 statistics
per segment, so a document indexed in a later run is scored against its own small segment
(measured: a rare word scored 12.7 beside 300 documents in one segment, 0.58 when its document
came in a second run), while the client uses collection-wide statistics.

`score` on a hit is the final ranking's: cosine (dense), BM25 (bm25), the fusion's (hybrid), or
the cross-encoder's score (rerank). `relevance` is the figure to show a reader: the cosine
similarity of the passage to the question (dense and hybrid; None in `bm25` mode).
"""

from __future__ import annotations

import logging

import numpy as np

from app.errors import QueryError
from app.search.bm25 import BM25Index, client_bm25
from app.search.fusion import DEFAULT_FUSION, Fusion, fuse, parse_fusion
from app.search.hits import Hit
from app.search.queries import clean_text_query
from app.search.rerank import get_reranker
from app.search.scope import SearchScope
from app.search.vectors import cached_query_vector
from encoders import get_encoder
from encoders.base import Encoder
from indexers.text_encoder import DOC_KIND, resolve_text_encoder_id
from milvus import Collection, Filter, VectorStore

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")
BM25_ENGINES = ("auto", "milvus", "client")
FULL_SCAN_LIMIT = 20_000  # client-side BM25 over the whole collection up to this many rows


class Retriever:
    """Questions → the best chunks and transcript segments of one text collection."""

    def __init__(
        self,
        store: VectorStore,
        encoder_id: str | None = None,
        device: str = "auto",
        mode: str = "hybrid",
        rerank: str | None = None,
        candidates: int = 50,
        bm25: str = "auto",
        configured_encoder: str | None = None,
        fusion: Fusion | str | None = None,
    ) -> None:
        if mode not in MODES:
            raise QueryError(f"unknown retrieval mode {mode!r}; choose {', '.join(MODES)}")
        if bm25 not in BM25_ENGINES:
            raise QueryError(f"unknown BM25 engine {bm25!r}; choose {', '.join(BM25_ENGINES)}")
        self.store, self.device, self.mode, self.candidates, self.bm25 = store, device, mode, candidates, bm25
        self.encoder_id, self.encoder_reason = resolve_text_encoder_id(encoder_id, store, device, configured_encoder)
        self.reranker = get_reranker(rerank, device) if rerank else None
        try:
            self.fusion = parse_fusion(fusion) if fusion else DEFAULT_FUSION
        except ValueError as exc:
            raise QueryError(str(exc)) from None

    @property
    def encoder(self) -> Encoder:
        return get_encoder(self.encoder_id, self.device)

    def collection(self) -> Collection:
        coll = self.store.find(DOC_KIND, self.encoder_id)
        if coll is None or coll.count() == 0:
            raise QueryError(f"no documents are indexed with {self.encoder_id} yet; run `mmsearch index docs PATH_OR_URL` first")
        return coll

    def retrieve(self, question: str, k: int = 5, filter: Filter | None = None) -> list[Hit]:
        """The `k` best passages for a question, best first."""
        q = clean_text_query(question)
        coll = self.collection()
        n = max(self.candidates, k)
        want = n if self.reranker else k
        if self.mode == "dense":
            rows = coll.search(cached_query_vector(self.encoder, q), k=want, filter=filter)[0]
            rows = [{**r, "relevance": r["score"]} for r in rows]
        elif self.mode == "bm25":
            rows = self.word_ranking(coll, q, want, filter)
        else:
            dense, words = self.rankings(q, filter, n, coll)
            rows = self.with_relevance(coll, q, fuse(dense, words, self.fusion, k=want))
        hits = [Hit.from_row(r, coll.name) for r in rows]
        if self.reranker:
            hits = self.reranker.rerank(q, hits)
        return hits[:k]

    def rankings(
        self, question: str, filter: Filter | None = None, n: int | None = None, coll: Collection | None = None
    ) -> tuple[list[dict], list[dict]]:
        """(dense, BM25) candidate rows for a question, `n` (default `candidates`) each, best first;
        the two rankings `hybrid` fuses (the evaluation fuses them in several ways). `coll`: the
        collection, where the caller has already found it (saves a look-up and a count)."""
        q = clean_text_query(question)
        coll = coll or self.collection()
        n = n or self.candidates
        dense = coll.search(cached_query_vector(self.encoder, q), k=n, filter=filter)[0]
        return dense, self.word_ranking(coll, q, n, filter, dense)

    def word_ranking(self, coll: Collection, q: str, n: int, filter: Filter | None, dense: list[dict] | None = None) -> list[dict]:
        """BM25's top `n` rows, ranked by Milvus or by the client (see the module docstring)."""
        if self.milvus_bm25(coll):
            return coll.text_search([q], k=n, filter=filter)[0]
        return self._client_bm25(coll, q, n, filter, dense)

    def with_relevance(self, coll: Collection, q: str, rows: list[dict]) -> list[dict]:
        """Rows with `relevance` (cosine to the question) filled in where the dense ranking lacked them."""
        missing = [r["id"] for r in rows if r.get("relevance") is None]
        if not missing:
            return rows
        vec = np.asarray(cached_query_vector(self.encoder, q), dtype=np.float32).ravel()
        stored = {r["id"]: r["vector"] for r in coll.get(missing, with_vectors=True)}
        out = []
        for r in rows:
            if r.get("relevance") is None and r["id"] in stored:
                v = np.asarray(stored[r["id"]], dtype=np.float32)
                r = {**r, "relevance": float(v @ vec / max(float(np.linalg.norm(v) * np.linalg.norm(vec)), 1e-12))}
            out.append(r)
        return out

    def weak_match(self, question: str, filter: Filter | None = None) -> str | None:
        """A sentence when even the closest passage is a weak match for the question: its
        similarity is below the collection's calibrated good-match score (set when indexing,
        from what meaningless queries reach). None when it is not, or nothing says."""
        from indexers.calibration import threshold_for

        if self.mode == "bm25":  # the user asked for words, not meaning
            return None
        threshold = threshold_for(self.encoder_id, DOC_KIND, "text", self.store.uri)
        if threshold is None:
            return None
        best = self.collection().search(cached_query_vector(self.encoder, clean_text_query(question)), k=1, filter=filter)[0]
        if not best or best[0]["score"] >= threshold:
            return None
        return (
            f"the closest passage matches this question only weakly (similarity {best[0]['score']:.2f}, below this "
            f"collection's good-match score {threshold:.2f}): the answer may not be in your documents"
        )

    def milvus_bm25(self, coll: Collection) -> bool:
        """Whether Milvus ranks the full text for this collection (see the module docstring)."""
        if self.bm25 == "client":
            return False
        if self.bm25 == "milvus":
            if not coll.has_bm25:
                raise QueryError(f"{coll.name} has no Milvus BM25 index (made by a Milvus without it); use the client's BM25")
            return True
        return coll.has_bm25 and not coll.store.is_lite

    def _client_bm25(self, coll: Collection, q: str, n: int, filter: Filter | None, dense: list[dict] | None = None) -> list[dict]:
        if coll.count() <= FULL_SCAN_LIMIT:
            return client_bm25(coll, q, n, filter)
        if dense is None:  # past the scan limit BM25 ranks the dense candidates
            dense = coll.search(cached_query_vector(self.encoder, q), k=max(4 * n, 200), filter=filter)[0]
        return BM25Index(dense).search(q, n)

    def embed_for_extractive(self, texts: list[str]) -> np.ndarray:
        """Question first, then sentences: unit vectors for the extractive answerer."""
        enc = self.encoder
        return np.vstack([enc.embed_queries(texts[:1]), enc.embed_documents(texts[1:])])


def search_docs(scope: SearchScope, query: str, k: int = 10, filter: Filter | None = None) -> list[Hit]:
    """Hybrid search over documents and transcripts (for `search text --kind doc`)."""
    return Retriever(scope.store, device=scope.device, configured_encoder=scope.text_encoder).retrieve(query, k=k, filter=filter)
