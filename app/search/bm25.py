"""Okapi BM25 computed in the client, and the text analyzer it shares with the extractive answerer.

`analyze(text)` is the analysis of every full-text path: NFKC, lower case, words split at Unicode
word boundaries; English words lose the stop words of `milvus.analyzer.BM25_STOP_WORDS` and are
stemmed (Snowball English, "patents" → "patent"); runs of Hangul, Han and kana become overlapping
character bigrams ("특허권을" → "특허", "허권", "권을"), which needs no dictionary and lets a Korean
word match with or without its particle. Where Milvus ranks BM25 itself, its analyzer is set to
the same stop words and stemmer (`milvus.analyzer`, which lists what Milvus cannot match: CJK
bigrams among them). Statistics (idf, average length) are over the whole collection.

Used where Milvus cannot rank full text itself: Milvus Lite (see `app.search.docs`).
"""

from __future__ import annotations

import math
import re
import threading
import time
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from milvus import Collection, Filter
from milvus.analyzer import BM25_STOP_WORDS
from milvus.store import SCALAR_FIELDS

_BM25_TTL_S = 60.0
# CJK runs (Hangul syllables and jamo, Han, Hiragana, Katakana) or other word characters.
_CJK = "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKENS = re.compile(f"([{_CJK}]+)|((?:(?![{_CJK}])\\w)+)", re.UNICODE)
_STOP = frozenset(BM25_STOP_WORDS)


_local = threading.local()


def _stemmer() -> Any:
    """This thread's Snowball English stemmer (a stemmer keeps state while it stems a word).

    PyStemmer (the Snowball project's C library) where installed: the same algorithm as
    snowballstemmer's pure-Python port, the same stems (tests/unit/app/search/test_stemmer.py),
    about ten times faster, and it loads no other language."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        try:
            import Stemmer

            stemmer = Stemmer.Stemmer("english")
        except ImportError:  # the pure-Python port of the same algorithm
            from snowballstemmer.english_stemmer import EnglishStemmer

            stemmer = EnglishStemmer()
        _local.stemmer = stemmer
    return stemmer


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball English stem of a lower-case word ("patents" → "patent", "licensing" → "licens")."""
    return _stemmer().stemWord(word)


def analyze(text: str) -> list[str]:
    """The terms of a text, in order: stemmed English words without stop words, CJK bigrams."""
    out: list[str] = []
    for cjk, word in _TOKENS.findall(unicodedata.normalize("NFKC", text or "").lower()):
        if cjk:
            out.extend([cjk] if len(cjk) == 1 else [cjk[i : i + 2] for i in range(len(cjk) - 1)])
        elif len(word) > 1 and word not in _STOP:
            out.append(stem(word))
    return out


def terms(text: str) -> list[str]:
    """The analyzed terms of a text (for BM25 and word overlap); the same as `analyze`."""
    return analyze(text)


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
