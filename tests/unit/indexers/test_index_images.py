"""The image indexer with the fake encoder on real Milvus Lite: idempotence, bad files, thumbnails."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from encoders import get_encoder
from indexers.files import file_digest, item_id
from indexers.image_io import IMAGE_EXTENSIONS, open_image
from indexers.images import index_images
from indexers.thumbs import thumb_path


@pytest.fixture
def fake16():
    return get_encoder("fake:16")


def _all_rows(coll):
    return coll.query(limit=1000)


def _image_files(folder):
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)


def test_index_sample_photos_then_reindex_adds_nothing(photos_dir, store, fake16):
    files = _image_files(photos_dir)
    n = len(files)
    assert n >= 15  # scikit-image alone ships 19 of the listed photos
    report = index_images([photos_dir], store, [fake16], progress=False)
    assert report.failed == []
    assert (report.indexed, report.unchanged) == (n, 0)
    assert report.ok and report.collections == ["image__fake_16"]
    coll = store.find("image", "fake:16")
    assert coll is not None and coll.count() == n

    rows = {r["source"]: r for r in _all_rows(coll)}
    assert set(rows) == {str(p.resolve()) for p in files}
    chelsea = rows[str((photos_dir / "chelsea.png").resolve())]
    assert chelsea["id"] == item_id(file_digest(photos_dir / "chelsea.png"))
    assert chelsea["title"] == "chelsea" and chelsea["kind"] == "image"
    with Image.open(photos_dir / "chelsea.png") as im:
        assert (chelsea["meta"]["width"], chelsea["meta"]["height"]) == im.size

    again = index_images([photos_dir], store, [fake16], progress=False)
    assert (again.indexed, again.unchanged, again.failed) == (0, n, [])
    assert coll.count() == n
    assert "0 indexed" in again.summary() and f"{n} unchanged" in again.summary()


def test_new_file_is_the_only_one_embedded(make_images, store, fake16, monkeypatch):
    folder = make_images(4)
    index_images([folder], store, [fake16], progress=False)
    Image.new("RGB", (30, 30), (1, 2, 3)).save(folder / "new.png")
    embedded = []
    real = fake16.embed_documents
    monkeypatch.setattr(fake16, "embed_documents", lambda items: embedded.append(len(items)) or real(items))
    report = index_images([folder], store, [fake16], progress=False)
    assert (report.indexed, report.unchanged) == (1, 4)
    assert sum(embedded) == 1
    assert store.find("image", "fake:16").count() == 5


def test_bad_files_are_skipped_and_reported(make_images, store, fake16, png_header, make_jpeg):
    folder = make_images(3)
    good_jpeg = make_jpeg(size=(120, 90), noise=True)
    (folder / "good.jpg").write_bytes(good_jpeg)
    (folder / "corrupt.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (folder / "notes.jpg").write_text("this is a text file with an image extension\n")
    (folder / "empty.png").write_bytes(b"")
    (folder / "bomb.png").write_bytes(png_header(50_000, 50_000))
    (folder / "readme.txt").write_text("not an image extension: ignored, not a failure")

    report = index_images([folder], store, [fake16], progress=False)
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in report.failed}
    assert set(reasons) == {"corrupt.jpg", "notes.jpg", "empty.png", "bomb.png"}
    assert "corrupt or truncated" in reasons["corrupt.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "empty" in reasons["empty.png"]
    assert "too large" in reasons["bomb.png"]
    assert report.indexed == 4 and report.ok
    coll = store.find("image", "fake:16")
    assert coll.count() == 4
    assert {r["title"] for r in _all_rows(coll)} == {"img_00", "img_01", "img_02", "good"}
    for line in ("4 indexed", "4 skipped", "skipped " + str(folder / "bomb.png")):
        assert line in report.summary()
    as_dict = report.to_dict()
    assert {s["path"].rsplit("/", 1)[-1] for s in as_dict["skipped"]} == set(reasons)

    # bad files are never stored, so each run reports them again; good ones stay unchanged
    again = index_images([folder], store, [fake16], progress=False)
    assert (again.indexed, again.unchanged, len(again.failed)) == (0, 4, 4)


def test_only_bad_inputs_is_not_ok(tmp_path, store, fake16):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.jpg").write_text("nope")
    report = index_images([folder, tmp_path / "does-not-exist"], store, [fake16], progress=False)
    assert report.indexed == 0 and not report.ok
    reasons = dict(report.failed)
    assert reasons[str(tmp_path / "does-not-exist")] == "no such file or folder"


def test_thumbnails_are_written_beside_the_db(make_images, store, fake16, tmp_db, tmp_path):
    folder = make_images(3, size=(600, 300))
    index_images([folder], store, [fake16], progress=False)
    rows = _all_rows(store.find("image", "fake:16"))
    assert len(rows) == 3
    for r in rows:
        tp = thumb_path(tmp_db, r["id"])
        assert str(tp).startswith(str(tmp_path / "thumbs"))
        assert r["meta"]["thumb"] == str(tp)
        with Image.open(tp) as th:
            assert th.format == "JPEG" and max(th.size) <= 256


def test_exif_rotated_photo_is_stored_upright(tmp_path, store, fake16, make_jpeg):
    folder = tmp_path / "exif"
    folder.mkdir()
    (folder / "portrait.jpg").write_bytes(make_jpeg(size=(80, 40), color=(20, 20, 20), exif_orientation=6))
    index_images([folder], store, [fake16], progress=False)
    (row,) = _all_rows(store.find("image", "fake:16"))
    assert (row["meta"]["width"], row["meta"]["height"]) == (40, 80)
    with Image.open(row["meta"]["thumb"]) as th:
        # the dark photo inside the light letterbox is upright: 40 wide, 80 tall
        left, top, right, bottom = th.convert("L").point(lambda v: 255 if v < 128 else 0).getbbox()
    assert right - left == pytest.approx(40, abs=2) and bottom - top == pytest.approx(80, abs=2)


def test_gif_is_indexed_from_its_first_frame(tmp_path, store, fake16):
    folder = tmp_path / "gif"
    folder.mkdir()
    frames = [Image.new("RGB", (24, 24), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    index_images([folder], store, [fake16], progress=False)
    (row,) = store.find("image", "fake:16").query(with_vectors=True)
    expected = fake16.embed_documents([open_image(folder / "anim.gif")])[0]
    assert np.allclose(row["vector"], expected, atol=1e-6)
    first = Image.new("RGB", (24, 24), (255, 0, 0))
    second = Image.new("RGB", (24, 24), (0, 0, 255))
    assert np.allclose(row["vector"], fake16.embed_documents([first])[0], atol=1e-6)
    assert not np.allclose(row["vector"], fake16.embed_documents([second])[0], atol=1e-3)


def test_small_batches_and_nested_folders(tmp_path, make_images, store, fake16):
    make_images(3, folder="tree/a")
    make_images(4, folder="tree/b/c")
    make_images(2, folder="tree/.hidden")
    report = index_images([tmp_path / "tree"], store, [fake16], batch_size=2, progress=False)
    assert report.indexed == 7 and report.failed == []
    coll = store.find("image", "fake:16")
    sources = {r["source"] for r in _all_rows(coll)}
    assert len(sources) == 7 and not any("/.hidden/" in s for s in sources)  # hidden folders are skipped


def test_same_bytes_twice_is_one_row(make_images, store, fake16):
    folder = make_images(2)
    shutil.copyfile(folder / "img_00.png", folder / "copy_of_00.png")
    index_images([folder], store, [fake16], progress=False)
    assert store.find("image", "fake:16").count() == 2


def test_a_new_encoder_fills_its_collection(make_images, store, fake16):
    folder = make_images(3)
    index_images([folder], store, [fake16], progress=False)
    fake8 = get_encoder("fake:8")
    report = index_images([folder], store, [fake16, fake8], progress=False)
    assert report.indexed == 3 and report.unchanged == 0
    assert report.collections == ["image__fake_16", "image__fake_8"]
    assert store.find("image", "fake:16").count() == 3
    assert store.find("image", "fake:8").count() == 3
    assert index_images([folder], store, [fake16, fake8], progress=False).unchanged == 3
