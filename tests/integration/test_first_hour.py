"""A user's first hour with the full profile, with no network, end to end (issue 19, item 4).

The models come from the loopback stand-in for the model hubs (tests/model_hub.py: random-init
weights of the real architectures under the real file names, tokenizer files built here), so
meaning is not tested here (tests/integration/test_offline_meaning.py and friends do that on
real offline models); this proves the plumbing: every path runs through the real full-profile
encoders (CLIP ViT-B-32, ResNet50, PANNs CNN14, then SigLIP) and answers from the right
collections.

1. `models pull` of every full-profile model and SigLIP, through the CLI in a process of its
   own with HF_ENDPOINT and MMSEARCH_MODELS_MIRROR at the stand-in (the session's pull in
   tests/integration/conftest.py went first: this one finds everything and downloads nothing);
2. the stand-in shut and HF_HUB_OFFLINE=1: `doctor` says ok for each and `--profile auto` is full;
3. photos, a catalogue, sounds and a video indexed through the CLI into a Milvus Lite file;
4. text → photos, photo → photos, photo + words, sound → sounds, words → sounds (tags), words
   → video moments; the Search and Sounds pages (AppTest) show hits;
5. `models use photos SigLIP` fills the 768-d collections and cuts over; search answers from
   them; `models prune --yes` drops the collections no active model uses.

Steps 3-5 call the CLI's `main` in this process (the encoders load once, not once per command).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import shutil
import time
from pathlib import Path

import pytest

from encoders.ids import PANNS_ID, RESNET50_ID
from milvus.store import collection_name
from tests.model_hub import PULLED_MODELS, published_sha256, run_cli, serve, user_env

# Pulling and loading six models is minutes of CPU; the bound is for a hang, and generous for a
# loaded 2-core machine (the default 900 s once ran out while other jobs shared the cores).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
log = logging.getLogger(__name__)

CLIP = "open_clip:ViT-B-32/laion2b_s34b_b79k"
SIGLIP = "open_clip:ViT-B-16-SigLIP/webli"
MINILM_TAGS = "panns_tags:Cnn14+all-MiniLM-L6-v2"
SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
SOUND_NAMES = ("bell", "complete", "dialog-warning")
N_PHOTOS = 8
N_ITEMS = 4
_OFFLINE_DROP = ("HF_ENDPOINT", "MMSEARCH_MODELS_MIRROR", "MMSEARCH_TEST_PUBLISHED_SHA256")


def cli(*args: str) -> tuple[int, str, str]:
    """`mmsearch ARGS…` in this process: (exit code, stdout, stderr)."""
    from app.cli.main import main

    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        code = main(list(args))
    return code, o.getvalue(), e.getvalue()


def cli_ok(*args: str) -> str:
    """stdout of a command that must succeed."""
    code, stdout, stderr = cli(*args)
    assert code == 0, f"mmsearch {' '.join(args)} → {code}\n{stderr[-3000:]}"
    return stdout


def cli_json(*args: str) -> list[dict]:
    return json.loads(cli_ok(*args, "--json").strip().splitlines()[-1])


def collections(db: str) -> dict[str, tuple[int, int]]:
    """name → (dim, rows) of every collection in the database."""
    from milvus import VectorStore

    return {c.name: (c.dim, c.count) for c in VectorStore(db).list_collections()}


@pytest.fixture(scope="module")
def hour(pulled_models, standin_files, sample_photos, tmp_path_factory):
    """Steps 1-3: pull again, doctor offline, then index every kind through the CLI."""
    from app.context import apply_settings
    from app.settings import Settings
    from encoders import registry
    from milvus.client import close
    from tests.video_samples import VTEST, make_video

    if not SOUNDS.is_dir() or not VTEST.exists():
        pytest.fail("needs sound-theme-freedesktop and opencv-doc: run `make sysdeps`")
    tmp = tmp_path_factory.mktemp("first_hour")
    home, pull_tmp = pulled_models["home"], pulled_models["tmp"]
    db = str(tmp / "first.db")

    # 1. the pulls, as a user on a networked machine (the session's pull went first)
    hub = serve(standin_files)
    t0 = time.perf_counter()
    try:
        env = user_env(pull_tmp, home, hub.url, hub.mirror, published_sha256(hub, standin_files), db=tmp / "doctor.db")
        pulls = {mid: run_cli(["models", "pull", mid], env) for mid in PULLED_MODELS}
    finally:
        hub.close()
    log.info("pulled again in %.0f s", time.perf_counter() - t0)
    # 2. no network from here on
    offline = {k: v for k, v in env.items() if k not in _OFFLINE_DROP} | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    doctor = run_cli(["doctor"], offline, module="app.cli")
    log.info("doctor at %.0f s", time.perf_counter() - t0)

    # 3. the data, and the commands in this process with the same environment
    photos = tmp / "photos"
    photos.mkdir()
    files = sorted(p for p in sample_photos.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    for p in files[:N_PHOTOS]:
        shutil.copy(p, photos / p.name)
    shop = tmp / "shop"
    (shop / "images").mkdir(parents=True)
    with open(shop / "catalogue.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "price", "currency", "category", "image"])
        for i, p in enumerate(files[N_PHOTOS : N_PHOTOS + N_ITEMS]):
            shutil.copy(p, shop / "images" / p.name)
            w.writerow([f"sku-{i}", p.stem.replace("_", " "), f"{20 + 15 * i:.2f}", "EUR", "prints" if i % 2 else "posters", f"images/{p.name}"])
    sounds = tmp / "sounds"
    sounds.mkdir()
    for name in SOUND_NAMES:
        shutil.copy(SOUNDS / f"{name}.oga", sounds)
    video = make_video(tmp / "videos" / "street.mp4", seconds=6, speech=None, fps=10, size=(320, 240))

    mp = pytest.MonkeyPatch()
    mp.setattr(registry, "_cache", {})  # fresh encoders that look for weights in this home
    for name, value in offline.items():
        if name.startswith(("MMSEARCH_", "HF_", "TORCH_", "TRANSFORMERS_")):
            mp.setenv(name, value)
    mp.setenv("MMSEARCH_DB", db)
    for name in _OFFLINE_DROP:
        mp.delenv(name, raising=False)
    apply_settings(Settings.load())
    try:
        reports = {
            "images": cli_json("index", "images", str(photos), "-q"),
            "catalogue": cli_json("index", "catalogue", str(shop / "catalogue.csv"), "-q"),
            "audio": cli_json("index", "audio", str(sounds), "-q"),
            "video": cli_json("index", "video", str(video.parent), "--no-speech", "-q"),
        }
        log.info("indexed at %.0f s", time.perf_counter() - t0)
        yield {"pulls": pulls, "hub_gets": [p for m, p, _ in hub.requests if m == "GET"], "doctor": doctor, "db": db, "photos": photos, "shop": shop, "sounds": sounds,
               "video": video, "reports": reports, "home": home}
    finally:
        import streamlit as st

        st.cache_resource.clear()
        close(db)
        mp.undo()
        apply_settings(Settings.load())


def test_pull_again_finds_every_model_and_downloads_nothing(hour):
    for mid, run in hour["pulls"].items():
        assert run.returncode == 0, f"{mid}: {run.stderr[-2000:]}"
        assert f"{mid}: weights in {hour['home'] / 'weights'}" in run.stdout, run.stdout
    assert hour["hub_gets"] == [], hour["hub_gets"]  # found in the cache: nothing downloaded again


def test_doctor_offline_reports_every_model_ok_and_auto_is_full(hour):
    run = hour["doctor"]
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    lines = run.stdout.splitlines()
    for mid in PULLED_MODELS:
        assert f"  ok       {mid}" in lines, run.stdout
    assert any(line.startswith("profile     full: auto: CLIP, ResNet50 and PANNs CNN14 weights found") for line in lines), run.stdout
    assert "  photos       " + CLIP in lines and "  sounds       " + PANNS_ID in lines, run.stdout


def test_every_kind_is_indexed_into_the_full_profiles_collections(hour):
    r = hour["reports"]
    assert (r["images"]["indexed"], r["catalogue"]["indexed"], r["audio"]["indexed"], r["video"]["indexed"]) == (N_PHOTOS, N_ITEMS, len(SOUND_NAMES), 1), r
    got = collections(hour["db"])
    for kind in ("image", "product"):
        assert got[collection_name(kind, CLIP)] == (512, N_PHOTOS if kind == "image" else N_ITEMS), got
        assert got[collection_name(kind, RESNET50_ID)] == (2048, N_PHOTOS if kind == "image" else N_ITEMS), got
    assert got[collection_name("audio", PANNS_ID)][0] == 2048 and got[collection_name("audio", PANNS_ID)][1] >= len(SOUND_NAMES), got
    assert got[collection_name("audio", MINILM_TAGS)][0] == 384, got  # tags in MiniLM's space answer words → sounds
    dim, frames = got[collection_name("video", CLIP)]
    assert dim == 512 and frames >= 2, got


def test_search_every_kind_through_the_full_profile(hour):
    from app.context import Context
    from app.settings import Settings
    from indexers.image_io import open_image

    photos = sorted(hour["photos"].iterdir())
    hits = cli_json("search", "text", "a red car", "--min-score", "none", "-k", "3")
    assert len(hits) == 3 and all(h["kind"] == "image" and Path(h["source"]).parent == hour["photos"] for h in hits), hits
    target = photos[3]
    hits = cli_json("search", "image", str(target), "--min-score", "none", "-k", "3")
    assert Path(hits[0]["source"]).name == target.name and hits[0]["score"] > 0.99, hits
    hits = cli_json("search", "image", str(target), "--plus", "at night", "--min-similarity", "0", "-k", "3")
    assert hits and all(h["kind"] == "image" for h in hits), hits
    hits = cli_json("search", "image", str(target), "--catalogue", "--min-similarity", "0", "-k", "3")
    assert hits and all(h["kind"] == "product" and h["price"] is not None for h in hits), hits

    bell = hour["sounds"] / "bell.oga"
    hits = cli_json("search", "audio", str(bell), "--min-score", "none", "-k", "3")
    assert Path(hits[0]["source"]).name == "bell.oga" and hits[0]["score"] > 0.99, hits
    hits = cli_json("search", "text", "a bell ringing", "--kind", "audio", "--min-score", "none", "-k", "3")
    assert hits and all(h["kind"] == "audio" for h in hits), hits
    hits = cli_json("search", "text", "people walking in a street", "--kind", "video", "--min-score", "none", "-k", "3")
    assert hits and hits[0]["kind"] == "video" and hits[0]["start_s"] is not None and Path(hits[0]["source"]).name == "street.mp4", hits

    # the same searches in the engine: which collection answered
    engine = Context(Settings.load()).engine
    assert engine.profile.name == "full"
    assert {h.collection for h in engine.search_text("a red car", k=3)} == {collection_name("image", CLIP)}
    assert engine.search_image(open_image(target), k=1)[0].collection == collection_name("image", CLIP)
    assert engine.search_composed(open_image(target), "at night", k=1)[0].collection == collection_name("image", CLIP)
    assert {h.collection for h in engine.search_text("a bell", kind="audio", k=2)} == {collection_name("audio", MINILM_TAGS)}
    moments = engine.search_text("a street", kind="video", k=2)  # frames (and speech) merged on one timeline
    assert moments and moments[0].meta["matched"] == ["frame"] and moments[0].start_s is not None, moments


def test_the_pages_show_hits(hour):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parents[2] / "app" / "views"
    at = AppTest.from_file(str(root / "search.py"), default_timeout=300).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.text_input[0].input("a red car")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.subheader[0].value.startswith("Results for")
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert len(titles) >= 3, titles
    assert len(at.get("image")) >= 3  # each hit's picture
    st.cache_resource.clear()

    at = AppTest.from_file(str(root / "audio.py"), default_timeout=300).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.file_uploader[0].upload("bell.oga", (hour["sounds"] / "bell.oga").read_bytes(), "audio/ogg")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert titles and titles[0] == "**bell**", titles
    st.cache_resource.clear()


def test_switch_photos_to_siglip_then_prune(hour):
    """Must run last in this module: it changes the library's models."""
    from app.context import Context
    from app.settings import Settings
    from indexers.image_io import open_image

    db = hour["db"]
    before = collections(db)
    # the catalogue keeps ResNet50 for photo → items (its collection is already full: nothing to fill)
    out = cli_ok("models", "use", "catalogue", RESNET50_ID, "-q")
    assert f"catalogue: {RESNET50_ID} is active now" in out and f"product: 0 filled, {N_ITEMS} already there" in out, out
    out = cli_ok("models", "use", "photos", SIGLIP, "-q")
    assert f"photos: {SIGLIP} is active now" in out, out
    got = collections(db)
    for kind in ("image", "product"):
        assert got[collection_name(kind, SIGLIP)] == (768, before[collection_name(kind, CLIP)][1]), got
    assert got[collection_name("video", SIGLIP)] == (768, before[collection_name("video", CLIP)][1]), got

    listing = cli_ok("models", "list")
    line = next(s for s in listing.splitlines() if s.startswith(SIGLIP + " "))
    assert "dim 768" in line and "available" in line and line.endswith("← photos, photos-text, videos"), line
    doctor = cli_ok("doctor").splitlines()
    assert "  photos       " + SIGLIP in doctor and "  photos-text  " + SIGLIP in doctor, doctor
    assert "  catalogue    " + RESNET50_ID in doctor, doctor

    photos = sorted(hour["photos"].iterdir())
    target = photos[5]
    hits = cli_json("search", "image", str(target), "--min-score", "none", "-k", "3")
    assert Path(hits[0]["source"]).name == target.name and hits[0]["score"] > 0.99, hits
    assert len(cli_json("search", "text", "a red car", "--min-score", "none", "-k", "3")) == 3
    engine = Context(Settings.load()).engine
    assert engine.profile.image_to_image == engine.profile.text_to_image == SIGLIP
    assert engine.search_image(open_image(target), k=1)[0].collection == collection_name("image", SIGLIP)
    assert {h.collection for h in engine.search_text("a red car", k=3)} == {collection_name("image", SIGLIP)}

    out = cli_ok("models", "prune", "--yes")
    left = collections(db)
    for kind in ("image", "product", "video"):
        assert collection_name(kind, CLIP) not in left and collection_name(kind, SIGLIP) in left, left
    assert collection_name("image", RESNET50_ID) not in left  # the photo models now are SigLIP alone
    assert collection_name("product", RESNET50_ID) in left  # the catalogue's own photo model stays
    assert {collection_name("audio", PANNS_ID), collection_name("audio", MINILM_TAGS)} <= set(left), left
    assert f"dropped {len(got) - len(left)} collection(s)" in out, out
    # and search still answers, from SigLIP
    hits = cli_json("search", "image", str(target), "--min-score", "none", "-k", "1")
    assert Path(hits[0]["source"]).name == target.name
    from app.search.catalogue import Catalogue

    ctx = Context(Settings.load())
    found = Catalogue(ctx.store, ctx.profile, "cpu").similar_to_image(open_image(target), min_similarity=-1.0, k=2).hits
    assert found and found[0].collection == collection_name("product", RESNET50_ID), found
    assert {h.collection for h in ctx.engine.search_text("a red car", kind="product", k=2)} == {collection_name("product", SIGLIP)}
