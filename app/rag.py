"""Retrieval for questions over documents and transcripts, and answers that cite it.

Retrieval modes over the `doc__<encoder>` collection (see `indexers.docs`):
- `dense`: the question's embedding, nearest chunks by cosine.
- `bm25`: full text, by Milvus's BM25 function or by BM25 in the client (see below).
- `hybrid` (default): both, fused by reciprocal rank (RRF, k=60): by Milvus's `hybrid_search`
  when Milvus ranks the full text, else by the same formula here.
Optionally a sentence-transformers CrossEncoder re-scores the candidates.

Who ranks the full text (`bm25=`): "milvus" needs a collection made with the BM25 function
(Lite 3.x, servers ≥ 2.5); "client" scores BM25 here over the whole collection (or, past
`FULL_SCAN_LIMIT` rows, over the dense candidates); "auto" (default) is "milvus" on a server
that has it and "client" elsewhere, including on Milvus Lite: Lite 3.2 keeps BM25 statistics
per segment, so a document indexed in a later run is scored against its own small segment
(measured: a rare word scored 12.7 beside 300 documents in one segment, 0.58 when its document
came in a second run), while the client uses collection-wide statistics.

`score` on a hit is the final ranking's: cosine (dense), BM25 (bm25), RRF (hybrid), or the
cross-encoder's score (rerank).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator, Sequence

import numpy as np

from app.generators import GeneratorChoice, answer_stream, make_generator, terms
from app.search import Hit, QueryError, _cached_query_vector, clean_text_query
from encoders import get_encoder
from encoders.base import Encoder, EncoderError
from indexers.docs import DOC_KIND, resolve_text_encoder_id
from milvus import Collection, Filter, VectorStore
from milvus.store import SCALAR_FIELDS

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")
BM25_ENGINES = ("auto", "milvus", "client")
RRF_K = 60
FULL_SCAN_LIMIT = 20_000  # client-side BM25 over the whole collection up to this many rows
_BM25_TTL_S = 60.0


# -- fusion and client-side BM25 ---------------------------------------------------------
def rrf_fuse(ranked: Sequence[Sequence[dict[str, Any]]], k: int | None = None, rrf_k: int = RRF_K) -> list[dict[str, Any]]:
    """Reciprocal-rank fusion: score(d) = Σ over lists of 1 / (rrf_k + rank of d), rank from 1."""
    scores: dict[str, float] = {}
    rows: dict[str, dict[str, Any]] = {}
    for lst in ranked:
        for rank, row in enumerate(lst, 1):
            scores[row["id"]] = scores.get(row["id"], 0.0) + 1.0 / (rrf_k + rank)
            rows.setdefault(row["id"], row)
    order = sorted(scores, key=lambda i: -scores[i])  # stable: ties keep first-seen order
    return [{**rows[i], "score": scores[i]} for i in order[:k]]


class BM25Index:
    """Okapi BM25 (k1=1.2, b=0.75, Lucene's idf) over rows with a `text` field."""

    def __init__(self, rows: Sequence[dict[str, Any]], k1: float = 1.2, b: float = 0.75) -> None:
        self.rows = list(rows)
        self.k1, self.b = k1, b
        self.tfs = [Counter(terms(r.get("text") or "")) for r in self.rows]
        self.lengths = np.array([sum(tf.values()) for tf in self.tfs], dtype=np.float32)
        self.avgdl = float(self.lengths.mean()) if len(self.rows) else 0.0
        self.postings: dict[str, list[int]] = {}
        for i, tf in enumerate(self.tfs):
            for t in tf:
                self.postings.setdefault(t, []).append(i)

    def idf(self, term: str) -> float:
        df = len(self.postings.get(term, ()))
        return math.log(1.0 + (len(self.rows) - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int = 10) -> list[dict[str, Any]]:
        """Rows sharing a term with the query, best first, with `score` set to their BM25 score."""
        scores = np.zeros(len(self.rows), dtype=np.float64)
        for t in set(terms(query)):
            idf = self.idf(t)
            for i in self.postings.get(t, ()):
                tf = self.tfs[i][t]
                norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / max(self.avgdl, 1e-9))
                scores[i] += idf * tf * (self.k1 + 1) / (tf + norm)
        hits = [int(i) for i in np.argsort(-scores, kind="stable")[:k] if scores[i] > 0]
        return [{**self.rows[i], "score": float(scores[i])} for i in hits]


_bm25_cache: dict[tuple[str, str, str], tuple[float, int, BM25Index]] = {}
_bm25_lock = threading.Lock()


def client_bm25(coll: Collection, query: str, k: int, filter: Filter | None = None) -> list[dict[str, Any]]:
    """BM25 in the client over the whole collection (cached for a minute per collection and filter)."""
    key = (coll.store.uri, coll.name, filter.expr() if filter else "")
    count = coll.count()
    with _bm25_lock:
        cached = _bm25_cache.get(key)
        if cached is None or cached[1] != count or time.monotonic() - cached[0] > _BM25_TTL_S:
            rows = list(coll.scan(filter, fields=("id", *SCALAR_FIELDS)))
            cached = (time.monotonic(), count, BM25Index(rows))
            _bm25_cache[key] = cached
    return cached[2].search(query, k)


# -- rerank ---------------------------------------------------------------------------------
class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder by hub id or local folder; loads on first use."""

    def __init__(self, model_id: str, device: str = "auto", batch_size: int = 16) -> None:
        self.model_id, self.device, self.batch_size = model_id, device, batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        from pathlib import Path

        from encoders.base import resolve_device
        from encoders.weights import local_weights, override_env_var

        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                local = local_weights(f"cross_encoder:{self.model_id}", "")
                target = str(local) if local else self.model_id
                try:
                    self._model = CrossEncoder(target, device=resolve_device(self.device))
                except Exception as exc:  # offline hub lookups fail in many ways
                    where = "that folder" if Path(self.model_id).exists() else "this machine"
                    raise EncoderError(
                        f"cross-encoder {self.model_id} could not be loaded from {where} ({type(exc).__name__}); "
                        f"pass a local model folder, set {override_env_var('cross_encoder:' + self.model_id)}, "
                        "or run once where it can be downloaded"
                    ) from exc
        return self._model

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """The hits re-scored by the cross-encoder, best first (`score` = its score)."""
        if not hits:
            return []
        model = self._load()
        scores = model.predict([(query, h.text or "") for h in hits], batch_size=self.batch_size, show_progress_bar=False)
        scores = np.asarray(scores, dtype=np.float32).reshape(len(hits), -1)[:, -1]
        for h, s in zip(hits, scores):
            h.meta = {**h.meta, "retrieval_score": h.score}
            h.score = float(s)
        return sorted(hits, key=lambda h: -h.score)


@lru_cache(maxsize=4)
def get_reranker(model_id: str, device: str = "auto") -> CrossEncoderReranker:
    return CrossEncoderReranker(model_id, device)


# -- retrieval ------------------------------------------------------------------------------
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
    ) -> None:
        if mode not in MODES:
            raise QueryError(f"unknown retrieval mode {mode!r}; choose {', '.join(MODES)}")
        if bm25 not in BM25_ENGINES:
            raise QueryError(f"unknown BM25 engine {bm25!r}; choose {', '.join(BM25_ENGINES)}")
        self.store, self.device, self.mode, self.candidates, self.bm25 = store, device, mode, candidates, bm25
        self.encoder_id, self.encoder_reason = resolve_text_encoder_id(encoder_id, store, device)
        self.reranker = get_reranker(rerank, device) if rerank else None

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
        vec = _cached_query_vector(self.encoder, q) if self.mode != "bm25" else None
        milvus = self.mode != "dense" and self.milvus_bm25(coll)
        if self.mode == "dense":
            rows = coll.search(vec, k=want, filter=filter)[0]
        elif self.mode == "bm25":
            rows = coll.text_search([q], k=want, filter=filter)[0] if milvus else self._client_bm25(coll, q, want, filter)
        elif milvus:
            rows = coll.hybrid_search(vec, q, k=want, filter=filter, candidates=n, rrf_k=RRF_K)
        else:
            dense = coll.search(vec, k=n, filter=filter)[0]
            rows = rrf_fuse([dense, self._client_bm25(coll, q, n, filter, dense)], k=want)
        hits = [Hit.from_row(r, coll.name) for r in rows]
        if self.reranker:
            hits = self.reranker.rerank(q, hits)
        return hits[:k]

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
        best = self.collection().search(_cached_query_vector(self.encoder, clean_text_query(question)), k=1, filter=filter)[0]
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
            dense = coll.search(_cached_query_vector(self.encoder, q), k=max(4 * n, 200), filter=filter)[0]
        return BM25Index(dense).search(q, n)

    def embed_for_extractive(self, texts: list[str]) -> np.ndarray:
        """Question first, then sentences: unit vectors for the extractive answerer."""
        enc = self.encoder
        return np.vstack([enc.embed_queries(texts[:1]), enc.embed_documents(texts[1:])])


def search_docs(store: VectorStore, query: str, k: int = 10, filter: Filter | None = None, device: str = "auto") -> list[Hit]:
    """Hybrid search over documents and transcripts (for `search text --kind doc`)."""
    return Retriever(store, device=device).retrieve(query, k=k, filter=filter)


# -- answers --------------------------------------------------------------------------------
def fmt_ts(seconds: float) -> str:
    """12.3 → "0:12", 3725 → "1:02:05"."""
    s = int(max(0.0, seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def hit_label(hit: Hit) -> str:
    """Where a passage comes from: title › headings (page n) at m:ss–m:ss — source."""
    meta = hit.meta or {}
    parts = [hit.title or ""]
    parts += [h for h in meta.get("heading_path") or [] if h and h != hit.title]
    label = " › ".join(p for p in parts if p)
    if meta.get("page"):
        label += f" (page {meta['page']})"
    if hit.start_s is not None:
        label += f" at {fmt_ts(hit.start_s)}" + (f"–{fmt_ts(hit.end_s)}" if hit.end_s is not None else "")
    return f"{label} — {hit.source}" if label else str(hit.source)


def citation(hit: Hit) -> dict[str, Any]:
    """A citation in `ask --json`."""
    return {
        "source": hit.source,
        "start_s": hit.start_s,
        "end_s": hit.end_s,
        "chunk_text": hit.text,
        "score": round(float(hit.score), 6),
    }


@dataclass
class _Context:
    """A hit as the generators see it: `.text` and `.label()`."""

    hit: Hit
    text: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.text = self.hit.text

    def label(self) -> str:
        return hit_label(self.hit)


@dataclass
class Answer:
    question: str
    text: str
    hits: list[Hit]
    generator: str
    note: str | None = None
    weak: str | None = None  # set when even the best passage matches the question only weakly

    def to_json(self) -> dict[str, Any]:
        """`{"answer", "citations": [{"source", "start_s", "end_s", "chunk_text", "score"}], "generator", "note",
        "weak_match"}`; citation n is the source cited as [n]."""
        return {
            "answer": self.text, "citations": [citation(h) for h in self.hits], "generator": self.generator,
            "note": self.note, "weak_match": self.weak,
        }


@dataclass
class AnswerStream:
    """An answer being generated: iterate `pieces`; then `answer()` has the whole of it."""

    question: str
    hits: list[Hit]
    choice: GeneratorChoice
    pieces: Iterator[str]
    weak: str | None = None  # why the passages may not answer the question (see Retriever.weak_match)
    _parts: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[str]:
        for piece in self.pieces:
            self._parts.append(piece)
            yield piece

    def answer(self) -> Answer:
        for _ in self:  # finish the stream if the caller did not
            pass
        return Answer(self.question, "".join(self._parts), self.hits, self.choice.generator.name, self.choice.note, self.weak)


def ask_stream(
    question: str,
    retriever: Retriever,
    k: int = 5,
    llm: str | None = None,
    llm_url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
    filter: Filter | None = None,
    choice: GeneratorChoice | None = None,
) -> AnswerStream:
    """Retrieve, then stream an answer that cites the hits as [1]…[k]."""
    q = clean_text_query(question)
    hits = retriever.retrieve(q, k=k, filter=filter)
    embed = retriever.embed_for_extractive
    if choice is None:
        choice = make_generator(llm, url=llm_url, api_key=api_key, model=model, embed=embed)
    if not hits:
        return AnswerStream(q, [], choice, iter(["Nothing in the indexed documents matches this question."]))
    weak = retriever.weak_match(q, filter)
    return AnswerStream(q, hits, choice, answer_stream(q, [_Context(h) for h in hits], choice, embed), weak)


def ask(question: str, retriever: Retriever, k: int = 5, **kwargs: Any) -> Answer:
    """`ask_stream` collected into one Answer."""
    return ask_stream(question, retriever, k=k, **kwargs).answer()
