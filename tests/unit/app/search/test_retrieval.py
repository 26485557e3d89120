"""Retrieval: reciprocal-rank fusion, client-side BM25, Milvus's BM25 and hybrid search (on a
Milvus Lite 3 server: the embedded Lite 2.5 has no BM25), and the fallback used where a store
has no BM25 (fake encoder: words only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.answer.ask import ask, hit_label
from app.errors import QueryError
from app.search.bm25 import BM25Index, client_bm25
from app.search.docs import Retriever
from app.search.engine import SearchEngine
from app.search.fusion import DEFAULT_FUSION, fuse, rrf_fuse
from app.search.hits import Hit, fmt_ts
from encoders import get_encoder
from encoders.profiles import PROFILES
from indexers.docs import DOC_KIND, index_segments
from milvus import Filter

TEXTS = [
    "Owls hunt at night and their feathers are silent in flight.",
    "The heron wades in shallow water and spears fish with its beak.",
    "Descale the kettle monthly with white vinegar and rinse it twice.",
    "Never immerse the kettle base in water; wipe it with a damp cloth.",
    "The barn owl has a heart-shaped face and hunts mice in fields.",
    "Sourdough bread needs a starter, flour, water and a long rise.",
]


def _fill(store, bm25: bool, enc_id: str = "fake:16"):
    enc = get_encoder(enc_id)
    coll = store.collection(DOC_KIND, enc.spec.id, enc.spec.dim, bm25=bm25)
    vecs = enc.embed_documents(TEXTS)
    coll.upsert([{"id": f"d{i}", "vector": v, "source": f"/docs/{i}.txt", "kind": "doc", "title": f"doc {i}", "text": t}
                 for i, (t, v) in enumerate(zip(TEXTS, vecs))])
    return coll


def test_rrf_formula_and_ties():
    a = [{"id": "x"}, {"id": "y"}, {"id": "z"}]
    b = [{"id": "y"}, {"id": "w"}]
    fused = rrf_fuse([a, b], rrf_k=60)
    assert [r["id"] for r in fused] == ["y", "x", "w", "z"]
    assert math.isclose(fused[0]["score"], 1 / 62 + 1 / 61)
    assert math.isclose(fused[1]["score"], 1 / 61)
    assert [r["id"] for r in rrf_fuse([a, b], k=2)] == ["y", "x"]


def test_bm25_index_prefers_rare_matching_terms():
    rows = [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)]
    idx = BM25Index(rows)
    hits = idx.search("kettle vinegar", k=3)
    assert hits[0]["id"] == "2" and hits[1]["id"] == "3"  # "vinegar" is rarer than "kettle"
    assert hits[0]["score"] > hits[1]["score"] > 0
    assert idx.search("the and of", k=3) == []  # stop words alone match nothing
    assert idx.idf("vinegar") > idx.idf("water")


@pytest.fixture(scope="module")
def bm25_store(tmp_path_factory):
    """A store with Milvus's BM25 function: Milvus Lite 3.2 serving on loopback (`make lite3-venv`)."""
    from milvus import VectorStore
    from milvus.client import close
    from milvus.servers import LocalServer

    with LocalServer("lite3-server", tmp_path_factory.mktemp("lite3") / "data") as server:
        yield VectorStore(server.uri)
        close(server.uri)


def test_embedded_lite_makes_plain_collections_when_asked_for_bm25(store):
    coll = _fill(store, bm25=True)
    assert not coll.has_bm25 and "sparse" not in {f["name"] for f in coll.client.describe_collection(coll.name)["fields"]}


def test_milvus_bm25_collection_and_its_text_search(bm25_store):
    coll = _fill(bm25_store, bm25=True)
    assert coll.has_bm25
    hits = coll.text_search(["silent owl feathers"], k=3)[0]
    assert hits[0]["id"] == "d0" and all(h["score"] > 0 for h in hits)  # Lite's negated scores come back positive
    assert hits[0]["text"] == TEXTS[0] and hits[0]["source"] == "/docs/0.txt"
    filtered = coll.text_search(["owl"], k=5, filter=Filter.eq("source", "/docs/4.txt"))[0]
    assert [h["id"] for h in filtered] == ["d4"]
    # the scan used by the client-side fallback sees every row
    assert sorted(r["id"] for r in coll.scan()) == [f"d{i}" for i in range(6)]


def test_milvus_hybrid_equals_rrf_of_its_two_lists(bm25_store):
    coll = _fill(bm25_store, bm25=True)
    enc = get_encoder("fake:16")
    q = "kettle descale vinegar"
    vec = enc.embed_queries([q])[0]
    hybrid = coll.hybrid_search(vec, q, k=6, candidates=6)
    dense = coll.search(vec, k=6)[0]
    lexical = coll.text_search([q], k=6)[0]
    mine = rrf_fuse([dense, lexical], k=6)
    assert [h["id"] for h in hybrid] == [h["id"] for h in mine]
    assert np.allclose([h["score"] for h in hybrid], [h["score"] for h in mine], atol=1e-6)


def test_fallback_without_bm25_gives_the_same_ranking(tmp_path, bm25_store):
    """A store without the BM25 function (Lite 2.5, Milvus 2.3) gets client-side BM25 and client RRF."""
    from milvus import VectorStore
    from milvus.client import close

    without = str(tmp_path / "b.db")
    try:
        a, b = bm25_store, VectorStore(without)
        ca, cb = _fill(a, bm25=True), _fill(b, bm25=False)
        assert ca.has_bm25 and not cb.has_bm25
        with pytest.raises(Exception, match="has no BM25 index"):
            cb.text_search(["owl"])
        for q in ("kettle descale vinegar", "silent feathers in flight", "bread flour starter"):
            ra = [h.id for h in Retriever(a, "fake:16", mode="bm25", bm25="milvus").retrieve(q, k=3)]
            rb = [h.id for h in Retriever(b, "fake:16", mode="bm25").retrieve(q, k=3)]
            assert ra == rb, (q, ra, rb)  # the same analyzer (stop words, stemmer) on both paths
            # hybrid without Milvus BM25: the same fusion over dense and client-side BM25
            vec = get_encoder("fake:16").embed_queries([q])[0]
            want = fuse(cb.search(vec, k=50)[0], client_bm25(cb, q, 50), DEFAULT_FUSION, k=3)
            got = Retriever(b, "fake:16", mode="hybrid").retrieve(q, k=3)
            assert [h.id for h in got] == [r["id"] for r in want]
            assert np.allclose([h.score for h in got], [r["score"] for r in want])
            # hybrid with Milvus BM25: the same fusion, over Milvus's BM25 ranking
            got_a = Retriever(a, "fake:16", mode="hybrid", bm25="milvus").retrieve(q, k=3)
            want_a = fuse(ca.search(vec, k=50)[0], ca.text_search([q], k=50)[0], DEFAULT_FUSION, k=3)
            assert [h.id for h in got_a] == [r["id"] for r in want_a]
        bm25_b = [h.id for h in Retriever(b, "fake:16", mode="bm25").retrieve("kettle descale vinegar", k=3)]
        assert bm25_b == ["d2", "d3"]
        with pytest.raises(QueryError, match="has no Milvus BM25 index"):
            Retriever(b, "fake:16", mode="bm25", bm25="milvus").retrieve("owl")
        assert [h["id"] for h in client_bm25(cb, "heron fish", 2)] == ["d1"]
    finally:
        close(without)


def test_documents_indexed_in_a_later_run_rank_fairly_on_lite(store):
    """Milvus Lite 3.2 scores BM25 per segment, so on Lite the default ranks words in the client
    with collection-wide statistics: a page indexed after the others still wins on its rare words."""
    enc = get_encoder("fake:16")
    coll = store.collection(DOC_KIND, enc.spec.id, enc.spec.dim, bm25=True)
    filler = [f"this program is free software number {i}; you can redistribute it under the terms of the license" for i in range(200)]
    coll.upsert([{"id": f"f{i}", "vector": v, "source": f"/lic/{i}", "text": t} for i, (t, v) in enumerate(zip(filler, enc.embed_documents(filler)))])
    coll.flush()
    coll.upsert([{"id": "kettle", "vector": enc.embed_documents(["k"])[0], "source": "/kettle.html", "text": TEXTS[2]}])
    coll.flush()
    question = "how often should I descale the kettle under this license?"
    assert Retriever(store, "fake:16", mode="bm25").retrieve(question, k=1)[0].id == "kettle"
    assert Retriever(store, "fake:16", mode="bm25", bm25="client").retrieve(question, k=1)[0].id == "kettle"


def test_retriever_errors_and_search_engine_doc_kind(store):
    with pytest.raises(QueryError, match="no documents are indexed with fake:16 yet"):
        Retriever(store, "fake:16").retrieve("owls")
    with pytest.raises(QueryError, match="unknown retrieval mode"):
        Retriever(store, "fake:16", mode="magic")
    with pytest.raises(QueryError, match="unknown BM25 engine"):
        Retriever(store, "fake:16", bm25="elastic")
    _fill(store, bm25=True)
    with pytest.raises(QueryError, match="type something"):
        Retriever(store, "fake:16").retrieve("  ")
    # `search text --kind doc`: the store's only doc collection decides the encoder
    hits = SearchEngine(store, PROFILES["offline"]).search_text("heron shallow water fish", kind="doc", k=2)
    assert hits[0].id == "d1" and hits[0].kind == "doc" and hits[0].collection == "doc__fake_16"


def test_segments_are_retrieved_and_cited_with_times(store, tmp_path):
    enc = get_encoder("fake:16")
    _fill(store, bm25=True)
    video = tmp_path / "talk.mp4"
    index_segments(store, video, [(0.0, 5.0, "Welcome everyone."), (61.5, 66.0, "The marmot hibernates from October to April.")], encoder=enc)
    answer = ask("When does the marmot hibernate?", Retriever(store, "fake:16", mode="bm25"), k=2, llm="extractive")
    first = answer.to_json()["citations"][0]
    assert first == {"source": str(video), "start_s": 61.5, "end_s": 66.0, "chunk_text": "The marmot hibernates from October to April.",
                     "score": first["score"], "relevance": None}  # bm25 mode: no similarity to show
    assert "[1]" in answer.text and hit_label(answer.hits[0]) == f"talk.mp4 at 1:01–1:06 — {video}"


def test_labels_and_timestamps():
    assert fmt_ts(0) == "0:00" and fmt_ts(61.9) == "1:01" and fmt_ts(3725) == "1:02:05"
    h = Hit(id="x", score=1.0, source="/d/guide.md", title="Guide", meta={"heading_path": ["Guide", "Owls"], "page": 3})
    assert hit_label(h) == "Guide › Owls (page 3) — /d/guide.md"
    assert hit_label(Hit(id="y", score=0.0, source="https://e.org/x")) == "https://e.org/x"
