"""The real offline aiSFX model on Debian's freedesktop sounds: a clip and its re-encoded,
trimmed, volume-changed copy find each other first; windows point at the right moment."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.slow

SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
# Distinct sounds (near-duplicates such as device-added/-removed are left out of the pairs).
CHOSEN = ["alarm-clock-elapsed", "phone-incoming-call", "service-login", "complete", "camera-shutter", "trash-empty"]
COPY_FORMATS = [".mp3", ".m4a", ".ogg", ".flac", ".mp3", ".wav"]


def _load(path: Path) -> tuple[np.ndarray, int]:
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    return y.mean(axis=1), sr


def _write(path: Path, y: np.ndarray, rate: int) -> None:
    if path.suffix == ".m4a":
        from indexers.audio_io import have_pyav

        if not have_pyav():
            path = path.with_suffix(".flac")
        else:
            from tests.unit.indexers.test_audio_io import write_m4a

            write_m4a(path, y, rate)
            return
    kwargs = {"format": "OGG", "subtype": "VORBIS"} if path.suffix == ".ogg" else {"format": "MP3"} if path.suffix == ".mp3" else {}
    sf.write(path, y, rate, **kwargs)


def make_copy(src: Path, dest: Path) -> None:
    """Resampled to 22.05 kHz, 120 ms cut from the start and 80 ms from the end, half the volume, re-encoded."""
    from indexers.audio_io import resample

    y, sr = _load(src)
    z = resample(y, sr, 22050)
    z = z[int(0.12 * 22050) : len(z) - int(0.08 * 22050)] * 0.5
    _write(dest, z, 22050)


def make_scene(dest: Path) -> dict[str, float]:
    """40 s of quiet noise (-45 dBFS) with two sounds placed in it; returns where each starts."""
    from indexers.audio_io import resample

    rate = 48000
    scene = (np.random.default_rng(0).standard_normal(40 * rate) * 10 ** (-45 / 20)).astype(np.float32)
    placed = {"service-login": 3.0, "phone-incoming-call": 32.0}
    for name, at in placed.items():
        y, sr = _load(SOUNDS / f"{name}.oga")
        y = resample(y, sr, rate)
        a = int(at * rate)
        scene[a : a + y.size] += y
    sf.write(dest, scene, rate)
    return placed


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """The freedesktop sounds + a copy of each chosen one + a 40 s scene, indexed with aiSFX."""
    if not SOUNDS.is_dir():
        pytest.fail(f"{SOUNDS} is missing: run `make sysdeps` (apt-get install sound-theme-freedesktop)")
    from app.search.engine import SearchEngine
    from encoders import get_encoder
    from encoders.profiles import PROFILES
    from indexers.audio import index_audio
    from milvus import VectorStore
    from milvus.client import close

    root = tmp_path_factory.mktemp("audio_real")
    copies = root / "copies"
    copies.mkdir()
    for name, ext in zip(CHOSEN, COPY_FORMATS):
        make_copy(SOUNDS / f"{name}.oga", copies / f"{name}-copy{ext}")
    placed = make_scene(root / "scene.flac")
    uri = str(root / "a.db")
    store = VectorStore(uri)
    report = index_audio([SOUNDS, copies, root / "scene.flac"], store, [get_encoder("aisfx", "cpu")], progress=False)
    assert not report.failed, report.summary()
    n_unique = len({p.resolve() for p in SOUNDS.glob("*.oga")})
    assert report.indexed == n_unique + len(CHOSEN) + 1
    engine = SearchEngine(store, PROFILES["offline"], device="cpu")
    yield engine, copies, root, placed
    close(uri)


def _others(hits, title):
    return [h for h in hits if h.title != title]


@pytest.mark.parametrize("name", CHOSEN)
def test_clip_and_its_copy_rank_each_other_first(library, name):
    from app.search.audio import search_audio

    engine, copies, _, _ = library
    copy = next(copies.glob(f"{name}-copy.*"))
    from_original = _others(search_audio(engine, SOUNDS / f"{name}.oga", k=5), name)
    from_copy = _others(search_audio(engine, copy, k=5), copy.stem)
    assert from_original[0].title == copy.stem, [(h.title, round(h.score, 3)) for h in from_original]
    assert from_copy[0].title == name, [(h.title, round(h.score, 3)) for h in from_copy]
    assert from_copy[0].score > 0.9 and from_original[0].score > 0.9


def test_hits_in_a_long_file_point_at_the_moment(library):
    from app.search.audio import search_audio

    engine, _, root, placed = library
    for name, at in placed.items():
        hits = [h for h in search_audio(engine, SOUNDS / f"{name}.oga", k=60) if h.title == "scene"]
        top = hits[0]
        assert top.start_s <= at < top.end_s, (name, at, [(h.start_s, h.end_s, round(h.score, 3)) for h in hits[:3]])
        assert top.end_s - top.start_s == pytest.approx(10.0, abs=0.01)
        assert top.source == str((root / "scene.flac").resolve())


def test_same_sound_scores_one_and_volume_does_not_matter(library, tmp_path):
    from app.search.audio import search_audio

    engine, *_ = library
    y, sr = _load(SOUNDS / "complete.oga")
    sf.write(tmp_path / "quiet.wav", y * 0.1, sr)
    assert search_audio(engine, SOUNDS / "complete.oga", k=1)[0].score == pytest.approx(1.0, abs=1e-4)
    top = search_audio(engine, tmp_path / "quiet.wav", k=1)[0]
    assert top.title == "complete" and top.score > 0.99


def test_text_search_says_aisfx_has_no_tags(library):
    from app.errors import QueryError

    engine, *_ = library
    with pytest.raises(QueryError, match="no tags"):
        engine.search_text("dog barking", kind="audio")


def test_cli_end_to_end_on_a_fresh_db(tmp_path, capsys):
    """`mmsearch index audio` then `search audio --json` on a small folder, offline profile."""
    import json

    from app.cli.main import main
    from milvus.client import close

    folder = tmp_path / "s"
    folder.mkdir()
    for name in ("bell", "complete", "service-login", "dialog-warning"):
        shutil.copy(SOUNDS / f"{name}.oga", folder)
    (folder / "broken.wav").write_text("not audio")
    db = str(tmp_path / "cli.db")
    try:
        assert main(["index", "audio", str(folder), "--db", db, "--profile", "offline", "-q", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["indexed"] == 4 and report["skipped"][0]["reason"].startswith("not an audio file")
        assert main(["search", "audio", str(SOUNDS / "complete.oga"), "--db", db, "--profile", "offline", "--json", "-k", "2"]) == 0
        hits = json.loads(capsys.readouterr().out)
        assert hits[0]["title"] == "complete" and hits[0]["start_s"] == 0.0 and hits[0]["end_s"] == pytest.approx(1.089, abs=0.01)
    finally:
        close(db)


def test_sound_search_says_when_nothing_sounds_alike(library, tmp_path, capsys):
    """Indexing calibrated aiSFX's good-match score from pairs of different files; the CLI
    keeps a copy of an indexed sound and says "no good match" for white noise."""
    import json

    from app.cli.main import main
    from indexers.calibration import threshold_for

    engine, copies, _, _ = library
    thr = threshold_for("aisfx", "audio", "audio", engine.store.uri)
    assert thr is not None and 0.8 < thr < 0.999
    db = engine.store.uri
    copy = next(copies.glob(f"{CHOSEN[0]}-copy.*"))
    assert main(["search", "audio", str(copy), "--db", db, "--profile", "offline", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert {CHOSEN[0], copy.stem} <= {h["title"] for h in hits}
    assert all(h["score"] >= thr for h in hits)

    noise = tmp_path / "noise.wav"
    sf.write(noise, (0.3 * np.random.default_rng(0).standard_normal(48000)).astype(np.float32), 48000)
    assert main(["search", "audio", str(noise), "--db", db, "--profile", "offline", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "no good match" in captured.err
    assert main(["search", "audio", str(noise), "--db", db, "--profile", "offline", "--json", "--min-score", "none", "-k", "3"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
