"""Fusion of documents' dense and BM25 rankings (`app.search.fusion.fuse`) and its parameters."""

from __future__ import annotations

import math

import pytest

from app.search.fusion import DEFAULT_FUSION, Fusion, fuse, parse_fusion

# Dense is sure of A (0.80 against 0.40 and 0.30); BM25 barely prefers B over A (5.0 against 4.7).
DENSE = [{"id": "A", "score": 0.80}, {"id": "B", "score": 0.40}, {"id": "C", "score": 0.30}]
WORDS = [{"id": "B", "score": 5.0}, {"id": "A", "score": 4.7}, {"id": "C", "score": 4.5}, {"id": "D", "score": 1.0}]


def ids(rows):
    return [r["id"] for r in rows]


def test_parse_and_spec_round_trip():
    for spec in ("rrf:k=60,w=1", "rrf:k=10,w=2", "dense-first:b=0.3", "convex:a=0.5"):
        assert parse_fusion(spec).spec == spec
    assert parse_fusion("rrf") == Fusion("rrf") and parse_fusion(None) == DEFAULT_FUSION
    assert parse_fusion(Fusion("convex", a=0.7)).a == 0.7
    with pytest.raises(ValueError, match="unknown fusion"):
        parse_fusion("magic")
    with pytest.raises(ValueError, match="bad fusion parameter"):
        parse_fusion("rrf:z=3")


def test_rrf_counts_ranks_only():
    fused = fuse(DENSE, WORDS, "rrf:k=60,w=1")
    assert math.isclose(fused[0]["score"], 1 / 61 + 1 / 62)
    assert ids(fused) == ["A", "B", "C", "D"]  # A and B tie: the dense ranking's order stands
    assert ids(fuse(DENSE, WORDS, "rrf:k=60,w=2"))[0] == "A"


def test_a_barely_preferring_ranking_does_not_outvote_a_sure_one():
    """Score-aware fusions keep how sure each ranking is; the default is one of them."""
    for f in (DEFAULT_FUSION, "convex:a=0.5", "dense-first:b=0.3"):
        assert ids(fuse(DENSE, WORDS, f))[0] == "A", f


def test_dense_first_adds_nothing_bm25_alone_found_and_convex_may():
    assert "D" not in ids(fuse(DENSE, WORDS, "dense-first:b=0.3"))
    convex = fuse(DENSE, WORDS, "convex:a=0.5")
    assert ids(convex)[-1] == "D" and convex[-1]["score"] == 0.0  # the bottom of BM25, unknown to dense


def test_relevance_is_the_cosine_and_k_cuts():
    fused = fuse(DENSE, WORDS, DEFAULT_FUSION, k=2)
    assert len(fused) == 2 and {r["id"]: r["relevance"] for r in fused} == {"A": 0.80, "B": 0.40}
    assert next(r for r in fuse(DENSE, WORDS, "rrf") if r["id"] == "D")["relevance"] is None
    assert fuse([], [], DEFAULT_FUSION) == [] and ids(fuse(DENSE, [], "convex")) == ["A", "B", "C"]
