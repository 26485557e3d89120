"""Records kept in the database (`milvus.records`) on Milvus Lite: absent until written, replaced
whole, readable by a store opened afterwards, invisible to `list_collections`; no aliases on Lite."""

from __future__ import annotations

from milvus import VectorStore
from milvus.client import close
from milvus.records import alias_target, point_alias, read_record, write_record


def test_records_round_trip_and_stay_out_of_the_collection_list(tmp_db):
    store = VectorStore(tmp_db)
    assert read_record(store, "models") is None
    assert store.client.list_collections() == []  # reading creates nothing
    write_record(store, "models", {"active": {"image_to_image": "fake:32"}})
    write_record(store, "models", {"active": {"image_to_image": "fake:8"}, "note": "ü \"quoted\"\nline"})
    close(tmp_db)

    again = VectorStore(tmp_db)  # as another process would open it later
    assert read_record(again, "models") == {"active": {"image_to_image": "fake:8"}, "note": "ü \"quoted\"\nline"}
    assert read_record(again, "other") is None
    assert again.list_collections() == []


def test_lite_has_no_aliases(store):
    assert point_alias(store, "active__image__image_to_image", "image__fake_16") is False
    assert alias_target(store, "active__image__image_to_image") is None
