"""Reciprocal-rank fusion: one place for combining rankings whose scores are not comparable.

score(item) = Σ over rankings of 1 / (c + rank), rank counted from 1 (Cormack et al., 2009).
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence, TypeVar

T = TypeVar("T")

RRF_K = 60


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
