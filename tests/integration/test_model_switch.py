"""Switching a library's model on real backends and with real models.

- The record and the cut-over on Milvus Lite, Lite serving over TCP and a real Milvus 2.3.5
  server (in its own venv, on loopback): every backend keeps the choice in the database, and
  the server also points an alias at the new collection.
- Photos switched from the offline EfficientNet-Lite0 (+ label bridge) to CLIP ViT-B-32 with
  random weights (the real architecture, no download): the new collection is filled from the
  stored photo paths and search answers from it, photo → photos and words → photos alike.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from milvus.client import close
from milvus.servers import LocalServer

pytestmark = pytest.mark.slow

CLIP_RANDOM = "open_clip:ViT-B-32/random"


@pytest.fixture(params=["lite", "lite-server", "milvus-2.3.5"])
def backend_uri(request, tmp_path):
    if request.param == "lite":
        uri = str(tmp_path / "t.db")
        yield request.param, uri
        close(uri)
        return
    with LocalServer(request.param, tmp_path / "data") as server:
        yield request.param, server.uri
        close(server.uri)


def test_record_and_cut_over_on_every_backend(backend_uri, make_images):
    from encoders import get_encoder
    from indexers.images import index_images
    from indexers.library_models import prunable, prune, read_choices, switch
    from milvus import VectorStore
    from milvus.records import alias_target, read_record, write_record

    name, uri = backend_uri
    store = VectorStore(uri)
    assert read_record(store, "models") is None
    write_record(store, "probe", {"a": 1})
    write_record(store, "probe", {"a": 2})  # replaced, not added
    assert read_record(store, "probe") == {"a": 2}

    folder = make_images(5)
    index_images([folder], store, [get_encoder("fake:16", "cpu")], progress=False)
    report = switch(store, "photos", "fake:32", device="cpu", progress=False)
    assert report.cut_over and report.indexed == 5
    assert read_choices(store).active == {"image_to_image": "fake:32", "text_to_image": "fake:32"}
    counts = {c.name: c.count for c in store.list_collections()}
    assert counts == {"image__fake_16": 5, "image__fake_32": 5}  # the records collection is not listed
    if name == "milvus-2.3.5":  # a server: an alias follows the cut-over for other Milvus clients
        assert alias_target(store, "active__image__image_to_image") == "image__fake_32"
        assert any("active__image__image_to_image" in a for a in report.aliases)
    else:
        assert report.aliases == []

    from encoders.profiles import PROFILES

    fake = PROFILES["offline"].__class__("t", ("fake:16",), "fake:16", "fake:16", "fake:16")
    gone = prunable(store, fake, "fake:16", "cpu")
    assert [c.name for c in gone] == ["image__fake_16"]
    prune(store, gone)
    assert [c.name for c in store.list_collections()] == ["image__fake_32"]


def test_photos_from_efficientnet_to_clip_random(tmp_path: Path, sample_photos: Path, monkeypatch):
    """The real offline profile, switched to CLIP ViT-B-32 (random weights) with `mmsearch models use`."""
    from app.cli.main import main
    from app.context import Context
    from app.settings import Settings
    from indexers.image_io import open_image

    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sorted(sample_photos.iterdir())[:8]:
        shutil.copy(p, photos / p.name)
    db = str(tmp_path / "t.db")
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    try:
        assert main(["index", "images", str(photos), "--db", db, "-q"]) == 0
        assert main(["models", "use", "photos", CLIP_RANDOM, "--db", db, "-q"]) == 0
        ctx = Context(Settings.load(overrides={"db": db}))
        p = ctx.profile
        assert (p.image_to_image, p.text_to_image, p.image_encoders) == (CLIP_RANDOM, CLIP_RANDOM, (CLIP_RANDOM,))
        assert p.shared_text_image_space  # CLIP answers words and photos in one space: composed queries work now
        counts = {c.name: c.count for c in ctx.store.list_collections()}
        assert counts["image__open_clip_vit_b_32_random"] == counts["image__timm_efficientnet_lite0"] == 8

        target = sorted(photos.iterdir())[3]
        hits = ctx.engine.search_image(open_image(target), k=3)
        assert hits[0].collection == "image__open_clip_vit_b_32_random" and Path(hits[0].source).name == target.name
        assert hits[0].score > 0.99
        assert {h.collection for h in ctx.engine.search_text("a photo", k=3)} == {"image__open_clip_vit_b_32_random"}
        assert ctx.engine.search_composed(open_image(target), "but brighter", k=2)[0].collection == "image__open_clip_vit_b_32_random"
    finally:
        close(db)
