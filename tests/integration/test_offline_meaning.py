"""Search that means something, with the real offline models (EfficientNet-Lite0 for photos,
the ImageNet-label bridge for text) over the sample photos. Models load once per module."""

from __future__ import annotations

import pytest
from PIL import Image, ImageEnhance

from app.search.engine import SearchEngine
from app.search.queries import load_query_image
from encoders import get_encoder
from encoders.profiles import PROFILES
from indexers.images import index_images
from milvus import Filter, VectorStore
from milvus.client import close

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def offline(sample_photos, tmp_path_factory):
    """(engine, report, photos): the sample photos indexed with the offline profile."""
    profile = PROFILES["offline"]
    uri = str(tmp_path_factory.mktemp("offline") / "t.db")
    store = VectorStore(uri)
    encoders = [get_encoder(e) for e in profile.image_encoders]
    report = index_images([sample_photos], store, encoders, progress=False)
    yield SearchEngine(store, profile), report, sample_photos
    close(uri)


def _titles(hits):
    return [h.title for h in hits]


def test_everything_was_indexed(offline):
    _, report, photos = offline
    n = len([p for p in photos.iterdir() if p.is_file()])
    assert report.failed == [] and report.indexed == n
    assert report.collections == ["image__timm_efficientnet_lite0", "image__label_bridge_efficientnet_lite0_all_minilm_l6_v2"]


@pytest.mark.parametrize("query, expected", [("a cat", "chelsea"), ("a rocket", "rocket")])
def test_text_query_finds_the_photo(offline, query, expected):
    engine, _, _ = offline
    hits = engine.search_text(query, k=5)
    assert hits[0].title == expected, _titles(hits)
    assert hits[0].score > hits[1].score + 0.05  # a clear winner, not a coin toss


def test_photo_finds_itself_first(offline):
    engine, _, photos = offline
    hits = engine.search_image(load_query_image(photos / "chelsea.png"), k=5)
    assert hits[0].title == "chelsea"
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert hits[1].score < 0.8


def test_resized_recoloured_copy_ranks_its_original_above_all_others(offline):
    engine, _, photos = offline
    with Image.open(photos / "chelsea.png") as im:
        im = im.convert("RGB")
        copy = im.resize((int(im.width * 0.6), int(im.height * 0.6)), Image.LANCZOS)
    copy = ImageEnhance.Brightness(ImageEnhance.Color(copy).enhance(1.3)).enhance(1.1)
    hits = engine.search_image(copy, k=100)
    assert hits[0].title == "chelsea", _titles(hits[:5])
    assert hits[0].score > 0.85
    assert all(h.score < hits[0].score - 0.3 for h in hits[1:])  # every other photo far behind


def test_more_like_excludes_the_item_itself(offline):
    engine, _, photos = offline
    chelsea = engine.search_image(load_query_image(photos / "chelsea.png"), k=1)[0]
    similar = engine.more_like(chelsea.id, k=5)
    assert len(similar) == 5
    assert chelsea.id not in {h.id for h in similar}
    assert "chelsea" not in _titles(similar)
    assert all(h.score < 0.99 for h in similar)


def test_label_bridge_rows_carry_their_labels(offline):
    engine, _, _ = offline
    coll = engine.store.find("image", PROFILES["offline"].text_to_image)
    (row,) = coll.query(Filter.eq("title", "chelsea"))
    assert "cat" in row["text"].lower()  # e.g. "tabby, tabby cat (0.41); …"


def test_filtered_text_search(offline):
    engine, _, photos = offline
    only = [str((photos / n).resolve()) for n in ("rocket.jpg", "coffee.png")]
    hits = engine.search_text("a cat", k=10, filter=Filter.is_in("source", only))
    assert sorted(_titles(hits)) == ["coffee", "rocket"]


def test_reindex_embeds_nothing(offline, monkeypatch):
    engine, report, photos = offline
    encoders = [get_encoder(e) for e in PROFILES["offline"].image_encoders]
    for enc in encoders:
        monkeypatch.setattr(enc, "embed_documents", lambda items: pytest.fail("re-index embedded an unchanged photo"))
    again = index_images([photos], engine.store, encoders, progress=False)
    assert (again.indexed, again.unchanged) == (0, report.indexed)


def test_each_photo_runs_through_the_model_once(sample_photos, tmp_path, monkeypatch):
    """Inputs prepared on the decode workers feed both offline encoders, and the label bridge
    reuses the image encoder's forward pass (pipeline steps of 32, model batches of the sizes
    the encoder measures, which need not match between the two callers)."""
    from indexers.image_io import open_image

    encoders = [get_encoder(e) for e in PROFILES["offline"].image_encoders]
    image_enc = encoders[0].load()
    seen: list[int] = []
    real = image_enc._forward_batch  # one forward pass, eager or frozen (`encoders.frozen`)
    monkeypatch.setattr(image_enc, "_forward_batch", lambda chunk: (seen.append(len(chunk)), real(chunk))[1])
    uri = str(tmp_path / "t.db")
    store = VectorStore(uri)
    report = index_images([sample_photos], store, encoders, progress=False)
    assert report.indexed > 32 and report.failed == []
    assert sum(seen) == report.indexed  # once per photo, for both collections
    assert max(seen) <= image_enc.batch_size and set(seen) & set(image_enc.cpu_batch_sizes)
    # the prepared path embeds exactly what embedding the decoded photo does
    coll = store.find("image", image_enc.spec.id)
    (row,) = coll.query(Filter.eq("title", "chelsea"), with_vectors=True)
    direct = image_enc.embed_documents([open_image(sample_photos / "chelsea.png")])[0]
    assert float(direct @ row["vector"]) == pytest.approx(1.0, abs=1e-5)
    close(uri)
