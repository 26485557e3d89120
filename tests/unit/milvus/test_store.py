"""The vector store on a real Milvus Lite file: collections, upserts, search, mismatches."""

from __future__ import annotations

import numpy as np
import pytest

from milvus import CollectionMismatchError, Filter, StoreError, VectorStore
from milvus.client import close, connect, is_lite, normalise_uri
from milvus.store import collection_name, default_uri


def _basis(dim: int, i: int) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def _rows(n: int, dim: int = 8, prefix: str = "r"):
    return [{"id": f"{prefix}{i}", "vector": _basis(dim, i % dim), "title": f"t{i}", "price": float(i)} for i in range(n)]


def test_collection_name_is_a_slug_of_kind_and_encoder():
    assert collection_name("image", "open_clip:ViT-B-32/laion2b_s34b_b79k") == "image__open_clip_vit_b_32_laion2b_s34b_b79k"
    assert collection_name("image", "fake:16") == "image__fake_16"


def test_uri_kinds(tmp_path, monkeypatch):
    assert is_lite(str(tmp_path / "x.db"))
    assert not is_lite("http://localhost:19530")
    assert not is_lite(str(tmp_path / "x.sqlite"))
    assert normalise_uri("http://h:19530") == "http://h:19530"
    assert normalise_uri(str(tmp_path / "a" / ".." / "x.db")) == str((tmp_path / "x.db").resolve())
    from app.settings import Settings

    assert default_uri() == "./data/mmsearch.db"  # milvus/ reads no environment: the settings name the database
    monkeypatch.setenv("MILVUS_URI", "http://milvus:19530")
    assert Settings.load().db == "http://milvus:19530"
    monkeypatch.setenv("MMSEARCH_DB", str(tmp_path / "y.db"))
    assert Settings.load().db == str(tmp_path / "y.db")  # MMSEARCH_DB wins over MILVUS_URI


def test_create_upsert_count_and_get(store):
    c = store.collection("image", "fake:8", 8)
    assert c.name == "image__fake_8" and c.count() == 0
    assert c.upsert(_rows(5)) == 5
    assert c.count() == 5
    got = {r["id"]: r for r in c.get(["r1", "r3", "missing"])}
    assert set(got) == {"r1", "r3"}
    assert got["r3"]["title"] == "t3" and got["r3"]["price"] == 3.0
    assert got["r3"]["kind"] == "image"  # filled from the collection when a row has none
    assert got["r1"]["start_s"] is None and got["r1"]["meta"] is None


def test_upsert_replaces_by_id(store):
    c = store.collection("image", "fake:8", 8)
    c.upsert(_rows(4))
    c.upsert([{"id": "r2", "vector": _basis(8, 7), "title": "renamed", "price": 99.5}])
    assert c.count() == 4
    (row,) = c.get(["r2"], with_vectors=True)
    assert row["title"] == "renamed" and row["price"] == 99.5
    assert np.allclose(row["vector"], _basis(8, 7))
    assert c.upsert([]) == 0


def test_upsert_refuses_wrong_dim(store):
    c = store.collection("image", "fake:8", 8)
    with pytest.raises(StoreError, match="dim 4"):
        c.upsert([{"id": "x", "vector": np.ones(4)}])
    assert c.count() == 0


def test_long_strings_are_truncated_on_utf8_boundaries(store):
    c = store.collection("image", "fake:8", 8)
    title = "é" * 1000  # 2000 bytes; the title field holds 1024
    c.upsert([{"id": "long", "vector": _basis(8, 0), "title": title, "meta": {"k": [1, 2]}}])
    (row,) = c.get(["long"])
    assert row["title"] == "é" * 512
    assert row["meta"] == {"k": [1, 2]}


def test_existing_ids(store):
    c = store.collection("image", "fake:8", 8)
    assert c.existing_ids(["r0", "r1"]) == set()
    c.upsert(_rows(3))
    assert c.existing_ids(["r0", "r2", "r9", "r0"]) == {"r0", "r2"}
    assert c.existing_ids([]) == set()
    many = [f"x{i}" for i in range(1200)] + ["r1"]  # crosses the 500-id chunking
    assert c.existing_ids(many) == {"r1"}


def test_search_orders_by_cosine_similarity(store):
    dim = 8
    c = store.collection("image", "fake:8", dim)
    # r_k is e0 rotated towards e1 by k*15°: similarity to e0 falls as k grows
    rows = []
    for k in range(6):
        a = np.deg2rad(15 * k)
        v = np.zeros(dim, dtype=np.float32)
        v[0], v[1] = np.cos(a), np.sin(a)
        rows.append({"id": f"r{k}", "vector": v, "title": f"t{k}", "price": float(k)})
    c.upsert(rows[::-1])  # insertion order must not matter
    (hits,) = c.search(_basis(dim, 0), k=4)
    assert [h["id"] for h in hits] == ["r0", "r1", "r2", "r3"]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert scores[2] == pytest.approx(np.cos(np.deg2rad(30)), abs=1e-4)
    assert hits[1]["title"] == "t1" and hits[1]["price"] == 1.0  # scalar fields come back
    # several queries at once, one result list each
    many = c.search(np.stack([_basis(dim, 0), _basis(dim, 1)]), k=1)
    assert [m[0]["id"] for m in many] == ["r0", "r5"]


def test_search_with_filter_and_k(store):
    c = store.collection("image", "fake:8", 8)
    c.upsert(_rows(16))
    (hits,) = c.search(_basis(8, 0), k=3, filter=Filter.ge("price", 5))
    assert len(hits) == 3 and all(h["price"] >= 5 for h in hits)
    assert hits[0]["id"] == "r8"  # the only row ≥ 5 that is e0
    (hits,) = c.search(_basis(8, 0), k=100)
    assert len(hits) == 16
    with pytest.raises(StoreError, match="dim"):
        c.search(np.ones(3, dtype=np.float32))


def test_query_browses_with_filters(store):
    c = store.collection("image", "fake:8", 8)
    c.upsert(_rows(10))
    assert {r["id"] for r in c.query(Filter.between("price", 2, 4))} == {"r2", "r3", "r4"}
    assert len(c.query(limit=3)) == 3
    assert len(c.query(limit=100)) == 10


def test_delete(store):
    c = store.collection("image", "fake:8", 8)
    c.upsert(_rows(3))
    c.delete(["r1"])
    assert c.existing_ids(["r0", "r1", "r2"]) == {"r0", "r2"}


def test_reopen_with_other_encoder_or_dim_raises(tmp_db):
    store = VectorStore(tmp_db)
    c = store.collection("image", "fake:8", 8)
    c.upsert(_rows(2))
    close(tmp_db)  # a real reopen: a new client on the same file
    store = VectorStore(tmp_db)
    assert store.collection("image", "fake:8", 8).count() == 2  # same encoder: fine, data kept
    with pytest.raises(CollectionMismatchError, match="fake:8"):
        store.collection("image", "fake:8", 16)  # same name, other dim
    with pytest.raises(CollectionMismatchError):
        store.collection("image", "fake_8", 8)  # other encoder id whose slug collides
    with pytest.raises(CollectionMismatchError):
        store.collection("image", "fake:8", 8, metric="L2")
    # the refused opens changed nothing
    assert store.collection("image", "fake:8", 8).count() == 2


def test_find_and_create_false(store):
    assert store.find("image", "fake:8") is None
    with pytest.raises(StoreError, match="nothing indexed"):
        store.collection("image", "fake:8", 8, create=False)
    assert store.list_collections() == []  # neither created anything
    store.collection("image", "fake:8", 8).upsert(_rows(2))
    found = store.find("image", "fake:8")
    assert found is not None and found.dim == 8 and found.encoder_id == "fake:8" and found.count() == 2


def test_list_collections_with_counts_skips_foreign(store):
    store.collection("image", "fake:8", 8).upsert(_rows(3))
    store.collection("image", "fake:4", 4).upsert(_rows(2, dim=4))
    store.collection("text", "fake:8", 8)
    store.client.create_collection("not_ours", dimension=4)  # made without mmsearch metadata
    infos = {i.name: i for i in store.list_collections()}
    assert set(infos) == {"image__fake_8", "image__fake_4", "text__fake_8"}
    assert infos["image__fake_8"].count == 3 and infos["image__fake_8"].dim == 8
    assert infos["image__fake_4"].count == 2 and infos["image__fake_4"].encoder == "fake:4"
    assert infos["text__fake_8"].count == 0 and infos["text__fake_8"].kind == "text"
    assert infos["image__fake_8"].metric == "COSINE"
    store.drop("image", "fake:4")
    assert {i.name for i in store.list_collections()} == {"image__fake_8", "text__fake_8"}


def test_rows_survive_reopen(tmp_db):
    VectorStore(tmp_db).collection("image", "fake:8", 8).upsert(_rows(4))
    close(tmp_db)
    c = VectorStore(tmp_db).find("image", "fake:8")
    assert c is not None and c.count() == 4
    (hits,) = c.search(_basis(8, 2), k=1)
    assert hits[0]["id"] == "r2"


def test_one_client_per_uri(tmp_db):
    assert connect(tmp_db) is connect(tmp_db)
    assert VectorStore(tmp_db).client is VectorStore(tmp_db).client


def test_cosine_is_indexed_as_inner_product_of_unit_vectors(store):
    c = store.collection("image", "fake:8", 8)
    assert (c.metric, c.index_metric) == ("COSINE", "IP")
    assert store.list_collections()[0].index_metric == "IP"
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((20, 8)).astype(np.float32) * rng.uniform(0.1, 30, (20, 1)).astype(np.float32)
    c.upsert([{"id": f"v{i}", "vector": v} for i, v in enumerate(vecs)])
    query = rng.standard_normal(8).astype(np.float32) * 7  # not unit length either
    hits = c.search(query, k=20)[0]
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    cosine = unit @ (query / np.linalg.norm(query))
    assert [h["id"] for h in hits] == [f"v{i}" for i in np.argsort(-cosine)]
    assert np.allclose([h["score"] for h in hits], np.sort(cosine)[::-1], atol=1e-5)


def test_collections_indexed_with_cosine_before_still_search(tmp_db):
    import dataclasses

    old = VectorStore(tmp_db)  # a collection as mmsearch made them before IP
    old.capabilities = dataclasses.replace(old.capabilities, cosine_index_metric="COSINE")
    old.collection("image", "fake:8", 8).upsert([{"id": "a", "vector": _basis(8, 1) * 5}])
    close(tmp_db)
    c = VectorStore(tmp_db).collection("image", "fake:8", 8)
    assert c.index_metric == "COSINE" and not c.unit_vectors
    c.upsert([{"id": "b", "vector": _basis(8, 2) * 3}])
    hits = c.search(_basis(8, 1) * 2 + _basis(8, 2), k=2)[0]
    assert [h["id"] for h in hits] == ["a", "b"]
    assert np.allclose([h["score"] for h in hits], [2 / np.sqrt(5), 1 / np.sqrt(5)], atol=1e-5)
