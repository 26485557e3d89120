"""Model choice per library and safe switching (`indexers.library_models`, `mmsearch models use|list|prune`,
`--encoder` once), on Milvus Lite with the fake encoders: `fake:16` and `fake:32` have different
dims, so a collection searched with the wrong model's vectors could not go unnoticed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import main
from indexers.failpoints import BATCH_STORED
from tests.fake_cli import REPO, fake_context


def _cli(*args: str) -> int:
    """`mmsearch ARGS` in this process with the fake profile (every kind: fake:16)."""
    return main(list(args), context_factory=fake_context)


def _context(db: str):
    from app.settings import Settings

    return fake_context(Settings.load(overrides={"db": db}))


def _collections(db: str) -> dict[str, int]:
    ctx = _context(db)
    return {c.name: c.count for c in ctx.store.list_collections()}


@pytest.fixture
def photos_db(make_images, tmp_db, capsys) -> tuple[str, Path]:
    """Six photos indexed with fake:16 (the fake profile's photo model)."""
    folder = make_images(6)
    assert _cli("index", "images", str(folder), "--db", tmp_db, "-q") == 0
    capsys.readouterr()
    return tmp_db, folder


def test_use_fills_new_collection_then_cuts_over(photos_db, capsys):
    db, folder = photos_db
    assert _cli("models", "use", "photos", "fake:32", "--db", db, "-q") == 0
    said = capsys.readouterr().out
    assert "fake:32 is active now" in said and "6 filled" in said
    assert _collections(db) == {"image__fake_16": 6, "image__fake_32": 6}  # the old one stays

    # every new process (here: a new context, as each CLI command builds) sees the choice
    ctx = _context(db)
    assert (ctx.profile.image_to_image, ctx.profile.text_to_image, ctx.profile.image_encoders) == ("fake:32", "fake:32", ("fake:32",))
    assert "photos fake:32" in ctx.profile_reason
    hits = ctx.engine.search_image(_image(folder / "img_02.png"), k=3)
    assert hits[0].collection == "image__fake_32" and hits[0].source.endswith("img_02.png") and hits[0].score > 0.999
    assert {h.collection for h in ctx.engine.search_text("anything", k=3)} == {"image__fake_32"}

    assert _cli("models", "list", "--db", db) == 0
    listed = capsys.readouterr().out
    assert "size" in listed and "licence" in listed
    assert any(line.startswith("fake:32") and line.endswith("← photos, photos-text, catalogue, videos") for line in listed.splitlines())
    assert any(line.startswith("fake:16 ") and "dim 16" in line and line.endswith("← sounds, text") for line in listed.splitlines())


def _image(path: Path):
    from PIL import Image

    return Image.open(path).convert("RGB")


def test_search_answers_from_the_old_model_until_the_cut_over(photos_db):
    """While the new collection fills, another process's search still answers from the old one."""
    from indexers.library_models import read_choices, switch

    db, folder = photos_db
    ctx = _context(db)
    seen: list[tuple[str, str, str]] = []

    def during_fill(done: float, total: float) -> None:
        profile, _ = ctx.refresh_models()
        hit = ctx.engine.search_image(_image(folder / "img_01.png"), k=1)[0]
        seen.append((profile.image_to_image, hit.collection, read_choices(ctx.store).pending.get("image_to_image", "")))

    report = switch(ctx.store, "photos", "fake:32", progress=during_fill)
    assert report.cut_over and report.indexed == 6
    assert seen and all(s == ("fake:16", "image__fake_16", "fake:32") for s in seen)
    ctx.refresh_models()  # a server does this after a switch job (and every MODELS_TTL_S seconds anyway)
    assert ctx.engine.search_image(_image(folder / "img_01.png"), k=1)[0].collection == "image__fake_32"
    assert read_choices(ctx.store).pending == {}


def test_no_fill_records_only_and_index_fills_it(photos_db, capsys):
    db, folder = photos_db
    assert _cli("models", "use", "photos", "fake:32", "--no-fill", "--db", db) == 0
    assert "image__fake_32" not in _collections(db)
    assert _cli("search", "image", str(folder / "img_00.png"), "--db", db) == 1
    assert "nothing is indexed yet for images with fake:32" in capsys.readouterr().err
    assert _cli("index", "images", str(folder), "--db", db, "-q", "--json") == 0
    assert json.loads(capsys.readouterr().out)["collections"] == ["image__fake_32"]


def test_encoder_flag_overrides_once(photos_db, capsys):
    db, folder = photos_db
    assert _cli("index", "images", str(folder), "--encoder", "fake:24", "--db", db, "-q", "--json") == 0
    assert json.loads(capsys.readouterr().out)["collections"] == ["image__fake_24"]
    assert _cli("search", "text", "words", "--encoder", "fake:24", "--min-score", "none", "--db", db, "--json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 6
    assert _context(db).profile.image_to_image == "fake:16"  # recorded nowhere
    assert _cli("search", "text", "words", "--encoder", "fake:8", "--db", db) == 1
    assert "nothing is indexed yet for images with fake:8" in capsys.readouterr().err


def test_prune_lists_then_drops_only_inactive_collections(photos_db, capsys):
    from milvus import CollectionMismatchError

    db, _ = photos_db
    assert _cli("models", "use", "photos", "fake:32", "--db", db, "-q") == 0
    capsys.readouterr()
    assert _cli("models", "prune", "--db", db) == 0
    listed = capsys.readouterr().out
    assert "image__fake_16" in listed and "image__fake_32" not in listed and "--yes" in listed
    assert set(_collections(db)) == {"image__fake_16", "image__fake_32"}  # nothing dropped without --yes
    assert _cli("models", "prune", "--yes", "--db", db) == 0
    assert set(_collections(db)) == {"image__fake_32"}
    assert _cli("models", "prune", "--db", db) == 0
    assert "nothing to prune" in capsys.readouterr().out
    with pytest.raises(CollectionMismatchError):  # the new collection never takes another model's vectors
        _context(db).store.collection("image", "fake:32", 16)


def test_text_switch_re_embeds_stored_passages(tmp_path, tmp_db, capsys):
    from app.search.docs import Retriever

    (tmp_path / "a.md").write_text("# Cats\nCats sleep most of the day.\n\n# Dogs\nDogs bark at the post.\n")
    assert _cli("index", "docs", str(tmp_path / "a.md"), "--db", tmp_db, "-q") == 0
    before = _collections(tmp_db)["doc__fake_16"]
    assert _cli("models", "use", "text", "fake:32", "--db", tmp_db, "-q") == 0
    assert _collections(tmp_db)["doc__fake_32"] == before
    ctx = _context(tmp_db)
    assert ctx.text_encoder_choice() == ("fake:32", "chosen with `mmsearch models use text`")  # over the settings' fake:16
    hits = Retriever(ctx.store, device="cpu", configured_encoder=ctx.settings.text_encoder).retrieve("Dogs bark at the post.", k=1)
    assert hits[0].collection == "doc__fake_32" and "bark" in hits[0].text


def test_unsuitable_choices_are_refused(photos_db, capsys):
    db, _ = photos_db
    assert _cli("models", "use", "photos", "sentence_transformers:all-MiniLM-L6-v2", "--db", db) == 1
    assert "does not embed photos" in capsys.readouterr().err
    assert _cli("models", "use", "catalogue", "sentence_transformers:all-MiniLM-L6-v2", "--db", db) == 1
    assert "does not embed photos" in capsys.readouterr().err
    assert _cli("models", "use", "videos", "sentence_transformers:all-MiniLM-L6-v2", "--db", db) == 1
    assert "cannot match words to video frames" in capsys.readouterr().err
    assert _cli("models", "use", "sounds-text", "fake:32", "--db", db) == 1
    assert "sound tags are matched with a sentence-transformers text model" in capsys.readouterr().err
    assert _cli("models", "use", "sounds-text", "sentence_transformers:all-MiniLM-L6-v2", "--db", db, "-q") == 1
    assert "fake:16 stores no tags to match words against" in capsys.readouterr().err  # the fake sound model has none
    assert _cli("models", "use", "shoes", "fake:32", "--db", db) == 1
    assert "unknown kind 'shoes'" in capsys.readouterr().err
    assert _context(db).profile.image_to_image == "fake:16"


def _catalogue(folder: Path, n: int = 5) -> Path:
    """A catalogue CSV whose items are the photos in `folder`."""
    rows = "".join(f"P{i},Item {i},{10 + i}.50,EUR,{'shoes' if i % 2 else 'bags'},{p.name}\n" for i, p in enumerate(sorted(folder.iterdir())[:n]))
    path = folder / "catalogue.csv"
    path.write_text("id,title,price,currency,category,image\n" + rows, encoding="utf-8")
    return path


def test_the_catalogue_gets_a_model_of_its_own(photos_db, capsys):
    """`models use catalogue` fills only the catalogue's collection; a later photos switch leaves
    the catalogue alone, and prune keeps the catalogue's model."""
    db, folder = photos_db
    assert _cli("index", "catalogue", str(_catalogue(folder)), "--db", db, "-q") == 0
    assert _cli("models", "use", "catalogue", "fake:32", "--db", db, "-q") == 0
    said = capsys.readouterr().out
    assert "catalogue: fake:32 is active now" in said and "product: 5 filled" in said, said
    assert _collections(db) == {"image__fake_16": 6, "product__fake_16": 5, "product__fake_32": 5}
    ctx = _context(db)
    p = ctx.profile
    assert (p.image_to_image, p.image_model("product"), p.words_model("product"), p.fills("product")) == ("fake:16", "fake:32", "fake:32", ("fake:32",))
    assert "catalogue fake:32" in ctx.profile_reason

    # photo → catalogue, words → catalogue and the catalogue's own "similar" all answer from fake:32
    assert _cli("search", "image", str(folder / "img_02.png"), "--catalogue", "--min-similarity", "0", "--db", db, "--json") == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["id"] == "P2" and hits[0]["score"] > 0.999, hits
    from app.search.catalogue import Catalogue

    found = Catalogue(ctx.store, p, "cpu").similar_to_image(_image(folder / "img_02.png"), min_similarity=0).hits
    assert found[0].collection == "product__fake_32" and found[0].id == "P2", found
    assert {h.collection for h in ctx.engine.search_text("anything", kind="product", k=3)} == {"product__fake_32"}
    assert {h.collection for h in ctx.engine.search_text("anything", kind="image", k=3)} == {"image__fake_16"}

    # a new import fills the catalogue's model only
    (folder / "catalogue.csv").write_text((folder / "catalogue.csv").read_text() + "P9,Item 9,3,EUR,bags,img_05.png\n")
    assert _cli("index", "catalogue", str(folder / "catalogue.csv"), "--db", db, "-q", "--json") == 0
    assert json.loads(capsys.readouterr().out)["collections"] == ["product__fake_32"]

    # switching photos now leaves the catalogue on its own model
    assert _cli("models", "use", "photos", "fake:24", "--db", db, "-q") == 0
    said = capsys.readouterr().out
    assert "images: 6 filled" in said and "product:" not in said and "video:" not in said, said
    assert _cli("models", "list", "--db", db) == 0
    listed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("fake:32 ") and line.endswith("← catalogue") for line in listed), listed
    assert _cli("models", "prune", "--yes", "--db", db) == 0
    assert _collections(db) == {"image__fake_24": 6, "product__fake_32": 6}


def test_an_image_only_catalogue_model_keeps_words_on_the_photos_text_model(photos_db, capsys, monkeypatch):
    """A catalogue model without a text tower (e.g. ResNet50) answers photo queries; words over
    the catalogue stay with the photos-text model, and both collections are filled."""
    from encoders import get_encoder
    from encoders.base import EncoderSpec

    image_only = get_encoder("fake:40")
    monkeypatch.setattr(image_only, "spec", EncoderSpec("fake:40", 40, document_kinds=("image",), query_kinds=("image",)))
    db, folder = photos_db
    assert _cli("index", "catalogue", str(_catalogue(folder)), "--db", db, "-q") == 0
    assert _cli("models", "use", "catalogue", "fake:40", "--db", db, "-q") == 0
    p = _context(db).profile
    assert (p.image_model("product"), p.words_model("product"), p.fills("product")) == ("fake:40", "fake:16", ("fake:40", "fake:16"))
    assert not p.shared_space("product") and p.shared_space("image")
    assert {c: n for c, n in _collections(db).items() if c.startswith("product")} == {"product__fake_16": 5, "product__fake_40": 5}
    capsys.readouterr()
    from app.search.catalogue import Catalogue

    found = Catalogue(_context(db).store, p, "cpu").similar_to_image(_image(folder / "img_03.png"), min_similarity=0).hits
    assert found[0].collection == "product__fake_40" and found[0].id == "P3", found
    # words → pictures moves to fake:32: the catalogue's words follow it, its photos stay on fake:40
    assert _cli("models", "use", "photos-text", "fake:32", "--db", db, "-q") == 0
    assert "product: 5 filled" in capsys.readouterr().out
    p = _context(db).profile
    assert (p.image_model("product"), p.words_model("product"), p.words_model("video")) == ("fake:40", "fake:32", "fake:32")


def test_videos_get_a_model_of_their_own(tmp_path, tmp_db, capsys):
    from tests.video_samples import make_video

    videos = tmp_path / "videos"
    make_video(videos / "street.mp4", seconds=3, fps=5, size=(160, 120))
    assert _cli("index", "video", str(videos), "--no-speech", "--db", tmp_db, "-q") == 0
    frames = _collections(tmp_db)["video__fake_16"]
    assert frames >= 3
    assert _cli("models", "use", "videos", "fake:32", "--db", tmp_db, "-q") == 0
    assert "video: 1 filled" in capsys.readouterr().out
    assert _collections(tmp_db)["video__fake_32"] == frames
    ctx = _context(tmp_db)
    assert (ctx.profile.words_model("video"), ctx.profile.words_model("image"), ctx.profile.fills("video")) == ("fake:32", "fake:16", ("fake:32",))
    from app.search.video import frame_evidence

    assert frame_evidence(ctx.engine, "a street", 3)  # answered from video__fake_32 (video__fake_16 is pruned below)
    assert _cli("models", "prune", "--yes", "--db", tmp_db) == 0
    assert set(_collections(tmp_db)) == {"video__fake_32"}
    moments = _context(tmp_db).engine.search_text("a street", kind="video", k=2)
    assert moments and moments[0].start_s is not None and Path(moments[0].source).name == "street.mp4", moments


@pytest.mark.slow
def test_killed_fill_resumes_and_search_stays_on_the_old_model(make_images, tmp_db):
    """A switch killed after its first stored batch leaves the old model active and the choice
    pending; run again, it fills only what is missing, then cuts over."""
    folder = make_images(40)  # two batches of 32
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "tests.fake_cli"]
    done = subprocess.run([*cmd, "index", "images", str(folder), "--db", tmp_db, "-q"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr

    proc = subprocess.Popen([*cmd, "models", "use", "photos", "fake:32", "--db", tmp_db, "-q"], cwd=REPO,
                            env=dict(env, MMSEARCH_FAILPOINT=BATCH_STORED), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert any(f"failpoint {BATCH_STORED} reached" in line for line in proc.stderr), "the fill ended before its first batch"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=300)

    from indexers.library_models import read_choices
    from milvus.client import close

    try:
        ctx = _context(tmp_db)
        partial = {c.name: c.count for c in ctx.store.list_collections()}
        choices = read_choices(ctx.store)
        assert 0 < partial["image__fake_32"] < 40 and partial["image__fake_16"] == 40
        assert choices.pending == {"image_to_image": "fake:32", "text_to_image": "fake:32"} and choices.active == {}
        assert ctx.profile.image_to_image == "fake:16"  # search still answers from the old model
    finally:
        close(tmp_db)

    again = subprocess.run([*cmd, "models", "use", "photos", "fake:32", "--db", tmp_db, "-q"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert f"{40 - partial['image__fake_32']} filled, {partial['image__fake_32']} already there" in again.stdout
    try:
        ctx = _context(tmp_db)
        assert {c.name: c.count for c in ctx.store.list_collections()}["image__fake_32"] == 40
        assert ctx.profile.image_to_image == "fake:32" and read_choices(ctx.store).pending == {}
    finally:
        close(tmp_db)
