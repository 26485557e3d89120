"""SearchEngine with the fake encoder (via the `fake_profile` fixture) on real Milvus Lite."""

from __future__ import annotations

import pytest

from app.errors import QueryError
from app.search.engine import SearchEngine
from app.search.hits import Hit
from app.search.queries import MAX_QUERY_CHARS, clean_text_query, load_query_image
from encoders import get_encoder
from indexers.images import index_images
from milvus import Filter


@pytest.fixture
def engine(fake_profile, make_images, store):
    folder = make_images(8)
    report = index_images([folder], store, [get_encoder("fake:16")], progress=False)
    assert report.indexed == 8
    return SearchEngine(store, fake_profile, device="cpu"), folder


def test_clean_text_query():
    assert clean_text_query("  a \n  cat\t") == "a cat"
    assert len(clean_text_query("x" * 5000)) == MAX_QUERY_CHARS
    for empty in ("", "   ", "\n\t", None):
        with pytest.raises(QueryError):
            clean_text_query(empty)


def test_search_image_returns_itself_first(engine):
    eng, folder = engine
    hits = eng.search_image(load_query_image(folder / "img_05.png"), k=5)
    assert len(hits) == 5 and all(isinstance(h, Hit) for h in hits)
    assert hits[0].title == "img_05" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].thumb and hits[0].collection == "image__fake_16"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_text_search_is_deterministic_and_k_bounded(engine):
    eng, _ = engine
    a = eng.search_text("a red square", k=3)
    b = eng.search_text("  a   red square ", k=3)  # same query once cleaned
    assert [h.id for h in a] == [h.id for h in b] and len(a) == 3
    assert len(eng.search_text("anything", k=50)) == 8


def test_more_like_excludes_the_item_itself(engine):
    eng, folder = engine
    anchor = eng.search_image(load_query_image(folder / "img_02.png"), k=1)[0]
    similar = eng.more_like(anchor.id, k=4)
    assert len(similar) == 4
    assert anchor.id not in {h.id for h in similar}
    everything = eng.more_like(anchor.id, k=100)
    assert len(everything) == 7 and anchor.id not in {h.id for h in everything}
    with pytest.raises(QueryError, match="no item"):
        eng.more_like("0" * 32)


def test_filters_reach_the_store(engine):
    eng, folder = engine
    only = str((folder / "img_06.png").resolve())
    hits = eng.search_text("whatever", k=10, filter=Filter.eq("source", only))
    assert [h.source for h in hits] == [only]
    assert eng.search_text("whatever", k=10, filter=Filter.eq("source", only + '" or 1==1 or source=="')) == []


def test_queries_before_indexing_say_what_to_do(fake_profile, store):
    eng = SearchEngine(store, fake_profile, device="cpu")
    with pytest.raises(QueryError, match="mmsearch index images"):
        eng.search_text("a cat")
    with pytest.raises(QueryError, match="type something"):
        eng.search_text("   ")
    with pytest.raises(QueryError, match="not available"):
        store.collection("image", "fake:16", 16).upsert(
            [{"id": "x", "vector": get_encoder("fake:16").embed_documents(["x"])[0]}]
        )
        eng.search_text("a cat", kind="audio")


def test_hit_json_has_the_contract_keys():
    h = Hit(id="a", score=0.123456789, source="/p.png", kind="image", title="p")
    out = h.to_json()
    assert {"id", "score", "source", "kind", "title", "price", "start_s", "end_s", "text"} <= set(out)
    assert out["score"] == 0.123457 and out["price"] is None
