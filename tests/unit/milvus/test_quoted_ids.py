"""A catalogue id of the documented maximum (64 UTF-8 bytes) made of quotes is stored, found and
deleted, and what is stored fits the id column as a byte-counting Milvus measures it.

On Milvus Lite 2.x a single quote is stored as a 3-byte private-use stand-in (its upsert splices
ids into SQL): 64 quotes become 192 bytes. The id column used to be declared VARCHAR(64), which
Lite 2.5 does not enforce but a Milvus server (bytes) does; it is now sized for the stored form.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from milvus import Filter, VectorStore

IDS = ["'" * 64, "'\"" * 32, "é'" * 21 + "z", "it's \"quoted\" " * 4 + "abcd", "plain"]


@pytest.fixture
def coll(tmp_path):
    from milvus.client import close

    uri = str(tmp_path / "q.db")
    yield VectorStore(uri).collection("product", "fake:8", 8)
    close(uri)


def test_ids_at_the_limit_fit_their_column_and_round_trip(coll):
    assert all(len(i.encode("utf-8")) <= 64 for i in IDS)
    rng = np.random.default_rng(0)
    coll.upsert([{"id": i, "vector": rng.standard_normal(8), "price": float(n), "title": i} for n, i in enumerate(IDS)])
    id_field = next(f for f in coll.client.describe_collection(coll.name)["fields"] if f["name"] == "id")
    width = int(id_field["params"]["max_length"])
    stored = [r["id"] for r in coll.client.query(coll.name, filter='id != ""', output_fields=["id"], limit=100)]
    assert len(stored) == len(IDS)
    assert max(len(s.encode("utf-8")) for s in stored) <= width  # what a server would check
    assert sorted(r["id"] for r in coll.get(IDS)) == sorted(IDS)
    assert coll.existing_ids(IDS) == set(IDS)
    for n, i in enumerate(IDS):
        assert [r["price"] for r in coll.query(Filter.eq("id", i))] == [float(n)]
    assert sorted(r["id"] for r in coll.page_after(limit=10)) == sorted(IDS)
    coll.delete(IDS[:2])
    assert coll.existing_ids(IDS) == set(IDS[2:])


def test_a_catalogue_with_such_ids_imports_and_is_found(tmp_path):
    from PIL import Image

    from app.search.catalogue import Catalogue
    from encoders import get_encoder
    from encoders.profiles import Profile
    from indexers.catalogue import index_catalogue
    from milvus.client import close

    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "a.png")
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"id": i, "price": 1 + n, "image": "a.png"}) + "\n" for n, i in enumerate(IDS)))
    uri = str(tmp_path / "cat.db")
    store = VectorStore(uri)
    try:
        report = index_catalogue(path, store, [get_encoder("fake:16")])
        assert report.indexed == len(IDS) and not report.failed
        cat = Catalogue(store, Profile("t", image_encoders=("fake:16",), text_to_image="fake:16", image_to_image="fake:16", text="fake:16"), "cpu")
        for i in IDS:
            assert cat.item(i).id == i
            assert i not in {h.id for h in cat.similar(i, min_similarity=-1.0).hits}
        assert sorted(h.id for h in cat.browse(sort="id").hits) == sorted(IDS)
    finally:
        close(uri)
