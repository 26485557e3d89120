"""Okapi BM25 computed in the client, and the tokenizer it shares with the extractive answerer.

Used where Milvus cannot rank full text itself: Milvus Lite (see `app.search.docs`).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from typing import Any, Sequence

import numpy as np

from milvus import Collection, Filter
from milvus.store import SCALAR_FIELDS

_BM25_TTL_S = 60.0
_WORDS = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "a an and are as at be by can do does for from has have how i if in is it its may must of on or shall that the "
    "their there these this to was what when where which who why will with you your".split()
)



def terms(text: str) -> list[str]:
    """Lower-cased words without common English stop words (for BM25 and word overlap)."""
    return [w for w in _WORDS.findall(text.lower()) if w not in _STOP and len(w) > 1]



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
