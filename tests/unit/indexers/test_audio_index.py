"""The audio indexer and sound search with the fake encoder on real Milvus Lite:
windows and timestamps, silence, bad files, idempotence, the CLI contract."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tests.conftest import define_profiles
import soundfile as sf

from app.errors import QueryError
from app.search.audio import merge_windows, search_audio
from app.search.engine import SearchEngine
from app.search.hits import Hit
from encoders import get_encoder
from encoders.fake import FakeEncoder
from indexers.audio import index_audio, marker_id
from indexers.files import file_digest

RATE = 16000  # the fake encoder's rate (it names none)


def burst(seconds: float, rate: int = RATE, at: tuple[float, float] | None = None, seed: int = 0) -> np.ndarray:
    """Noise at -20 dBFS, or silence with noise only between `at` seconds."""
    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32)
    if at is not None:
        mask = np.zeros_like(x)
        mask[int(at[0] * rate) : int(at[1] * rate)] = 1
        x *= mask
    return x


@pytest.fixture
def fake16():
    return get_encoder("fake:16")


@pytest.fixture
def sounds(tmp_path):
    """Good files of several formats and lengths, plus every kind of bad file."""
    d = tmp_path / "sounds"
    d.mkdir()
    sf.write(d / "short.wav", burst(1.5, seed=1), RATE)
    sf.write(d / "long.flac", burst(25.0, seed=2), RATE)
    sf.write(d / "stereo.ogg", np.stack([burst(3.0, 44100, seed=3), burst(3.0, 44100, seed=4)], 1), 44100, format="OGG", subtype="VORBIS")
    sf.write(d / "gap.wav", burst(30.0, at=(12.0, 13.0), seed=5), RATE)  # silent but for 12–13 s
    bad = d / "bad"
    bad.mkdir()
    (bad / "empty.wav").write_bytes(b"")
    sf.write(bad / "zero.wav", np.zeros(0, dtype=np.float32), RATE)
    sf.write(bad / "silence.flac", np.zeros(RATE * 4, dtype=np.float32), RATE)
    sf.write(bad / "nan.wav", np.full(RATE, np.nan, dtype=np.float32), RATE, subtype="FLOAT")
    (bad / "notes.wav").write_text("not a sound\n" * 50)
    (d / "readme.txt").write_text("ignored: not an audio extension")
    return d


def _rows(coll):
    return coll.query(limit=1000)


def test_index_windows_timestamps_and_bad_files(sounds, store, fake16):
    report = index_audio([sounds], store, [fake16], progress=False)
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in report.failed}
    assert reasons == {
        "empty.wav": "empty file",
        "zero.wav": "no audio samples (zero length)",
        "silence.flac": "silence only (nothing above -70 dBFS)",
        "nan.wav": "no valid samples (all NaN or infinite)",
        "notes.wav": "not an audio file (unrecognised format)",
    }
    assert (report.indexed, report.unchanged) == (4, 0) and report.ok
    assert report.collections == ["audio__fake_16"]

    coll = store.find("audio", "fake:16")
    spans: dict[str, list[tuple[float, float]]] = {}
    for r in _rows(coll):
        assert r["kind"] == "audio" and r["meta"]["thumb"] is None
        spans.setdefault(r["title"], []).append((round(r["start_s"], 3), round(r["end_s"], 3)))
    assert sorted(spans["short"]) == [(0.0, 1.5)]
    assert sorted(spans["long"]) == [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0), (15.0, 25.0)]
    assert sorted(spans["stereo"]) == [(0.0, 3.0)]
    assert sorted(spans["gap"]) == [(5.0, 15.0), (10.0, 20.0)]  # only the windows that hear 12–13 s

    stereo = next(r for r in _rows(coll) if r["title"] == "stereo")
    assert stereo["meta"]["sample_rate"] == 44100 and stereo["meta"]["channels"] == 2
    assert stereo["meta"]["duration_s"] == pytest.approx(3.0, abs=0.01)
    assert stereo["source"] == str((sounds / "stereo.ogg").resolve())


def test_reindex_adds_nothing_and_new_files_are_the_only_work(sounds, store, fake16, monkeypatch):
    index_audio([sounds], store, [fake16], progress=False)
    coll = store.find("audio", "fake:16")
    n = coll.count()
    again = index_audio([sounds], store, [fake16], progress=False)
    assert (again.indexed, again.unchanged) == (0, 4) and coll.count() == n

    sf.write(sounds / "new.wav", burst(2.0, seed=9), RATE)
    embedded: list[int] = []
    real = FakeEncoder._embed_documents_batch
    monkeypatch.setattr(FakeEncoder, "_embed_documents_batch", lambda self, items: embedded.append(len(items)) or real(self, items))
    third = index_audio([sounds], store, [fake16], progress=False)
    assert (third.indexed, third.unchanged) == (1, 4) and sum(embedded) == 1
    assert coll.count() == n + 1


def test_file_marker_row_is_written_last(sounds, store, fake16, monkeypatch):
    from milvus.store import Collection

    order: list[list[str]] = []
    real = Collection.upsert
    monkeypatch.setattr(Collection, "upsert", lambda self, rows: order.append([r["id"] for r in rows]) or real(self, rows))
    index_audio([sounds / "long.flac"], store, [fake16], progress=False)
    marker = marker_id(file_digest(sounds / "long.flac"), 10.0, 5.0)
    assert len(order) == 1 and order[0][-1] == marker and len(order[0]) == 4


class OffsetFake(FakeEncoder):
    sample_rate = 8000
    start_offsets_s = (0.0, 0.1, 0.2)


def test_short_clips_are_also_embedded_at_start_offsets(sounds, store):
    enc = OffsetFake(dim=16)
    index_audio([sounds / "short.wav", sounds / "long.flac"], store, [enc], progress=False)
    rows = _rows(store.find("audio", "fake:16"))
    short = sorted(r["meta"]["offset_s"] for r in rows if r["title"] == "short")
    assert short == [0.0, 0.1, 0.2, 0.45, 0.7, 0.95, 1.2]  # start offsets, then every 0.25 s across (tails)
    assert {(r["start_s"], r["meta"]["window"]) for r in rows if r["title"] == "short"} == {(0.0, 0)}
    long_offsets = [(r["meta"]["window"], r["meta"]["offset_s"]) for r in rows if r["title"] == "long"]
    assert sorted(long_offsets) == [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0)]  # longer than a window: no offsets


def test_window_and_hop_are_part_of_the_ids(sounds, store, fake16):
    index_audio([sounds / "long.flac"], store, [fake16], progress=False)
    other = index_audio([sounds / "long.flac"], store, [fake16], window_s=5.0, hop_s=5.0, progress=False)
    assert other.indexed == 1  # a different windowing is new content
    with pytest.raises(ValueError, match="hop"):
        index_audio([sounds], store, [fake16], window_s=5.0, hop_s=6.0, progress=False)


# -- search ---------------------------------------------------------------------------------
@pytest.fixture
def audio_profile(fake_profile, monkeypatch, tmp_path):
    prof = dataclasses.replace(fake_profile, audio="fake:16")
    define_profiles(monkeypatch, tmp_path, *(dataclasses.replace(prof, name=n) for n in ("auto", "full", "offline")))
    return prof


def test_search_audio_finds_the_same_clip_with_its_span(sounds, store, fake16, audio_profile):
    index_audio([sounds], store, [fake16], progress=False)
    eng = SearchEngine(store, audio_profile, device="cpu")
    hits = search_audio(eng, sounds / "short.wav", k=3)
    assert hits[0].title == "short" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert (hits[0].start_s, hits[0].end_s) == (0.0, 1.5)
    data = (sounds / "long.flac").read_bytes()
    top = search_audio(eng, data, k=10)[0]  # bytes work too (uploads); its first window matches
    assert top.title == "long" and (top.start_s, top.end_s) == (0.0, 10.0)


def test_search_audio_refuses_silence_and_non_audio(sounds, store, fake16, audio_profile):
    index_audio([sounds], store, [fake16], progress=False)
    eng = SearchEngine(store, audio_profile, device="cpu")
    with pytest.raises(QueryError, match="silent"):
        search_audio(eng, sounds / "bad" / "silence.flac")
    with pytest.raises(QueryError, match="not an audio file"):
        search_audio(eng, sounds / "bad" / "notes.wav")


def test_search_before_indexing_says_what_to_do(store, audio_profile, sounds):
    eng = SearchEngine(store, audio_profile, device="cpu")
    with pytest.raises(QueryError, match="mmsearch index audio PATH"):
        search_audio(eng, sounds / "short.wav")


def test_text_search_with_aisfx_says_there_are_no_tags(store):
    from encoders.profiles import PROFILES

    eng = SearchEngine(store, PROFILES["offline"], device="cpu")
    with pytest.raises(QueryError, match="no tags"):
        eng.search_text("dog barking", kind="audio")


def test_text_search_finds_speech_in_audio_files(sounds, store, fake16, audio_profile):
    """Transcript lines stored by `index audio --speech` answer `search text --kind audio`
    (the fake encoder, like aiSFX, has no tags); video transcripts are left out."""
    from indexers.docs import Segment, index_segments

    index_audio([sounds], store, [fake16], progress=False)
    eng = SearchEngine(store, audio_profile, device="cpu")
    with pytest.raises(QueryError, match="--speech"):
        eng.search_text("the weather today", kind="audio")
    talk = str((sounds / "long.flac").resolve())
    lines = [Segment(0.0, 4.0, "good morning everyone", {"media": "audio"}), Segment(4.0, 9.5, "the weather today is sunny", {"media": "audio"})]
    index_segments(store, talk, lines, encoder=fake16)
    index_segments(store, "/videos/clip.mp4", [Segment(1.0, 2.0, "the weather today", {"media": "video"})], encoder=fake16)
    hits = eng.search_text("the weather today", kind="audio", k=5)
    assert hits and all(h.source == talk for h in hits)
    assert {(h.start_s, h.end_s, h.text) for h in hits} <= {(0.0, 4.0, "good morning everyone"), (4.0, 9.5, "the weather today is sunny")}
    assert hits[0].text == "the weather today is sunny"  # BM25 half of the hybrid retriever


def test_fused_rankings_score_by_rank():
    from app.search.fusion import fuse_hits as fuse_rankings

    a = [Hit(id="x", score=0.9), Hit(id="y", score=0.8)]
    b = [Hit(id="y", score=12.0), Hit(id="z", score=3.0)]
    fused = fuse_rankings([a, b], k=3)
    assert [h.id for h in fused] == ["y", "x", "z"] and fused[0].score == pytest.approx(1 / 62 + 1 / 61)


def test_merge_keeps_one_hit_per_window():
    def h(i, score, window, offset):
        return Hit(id=i, score=score, source="/a.wav", start_s=0.0, end_s=1.0, meta={"window": window, "offset_s": offset})

    merged = merge_windows([[h("a", 0.9, 0, 0.0), h("b", 0.95, 0, 0.1)], [h("c", 0.5, 1, 0.0), h("a", 0.9, 0, 0.0)]], k=5)
    assert [(m.id, m.score) for m in merged] == [("b", 0.95), ("c", 0.5)]


# -- CLI --------------------------------------------------------------------------------------
def test_cli_index_and_search_audio_json(sounds, tmp_db, audio_profile, capsys):
    from app.cli.main import main

    assert main(["index", "audio", str(sounds), "--db", tmp_db, "--profile", "offline", "-q", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indexed"] == 4 and len(report["skipped"]) == 5 and report["collections"] == ["audio__fake_16"]

    assert main(["search", "audio", str(sounds / "long.flac"), "--db", tmp_db, "--profile", "offline", "--json", "-k", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3
    assert {"id", "score", "source", "kind", "title", "start_s", "end_s", "text"} <= set(hits[0])
    assert hits[0]["title"] == "long" and (hits[0]["start_s"], hits[0]["end_s"]) == (0.0, 10.0)
    assert all(h["kind"] == "audio" for h in hits)

    assert main(["search", "audio", str(sounds / "short.wav"), "--db", tmp_db, "--profile", "offline", "-k", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("  1. 1.000  short  0.0–1.5 s")


def test_cli_bad_inputs_exit_1_with_one_line(sounds, tmp_db, audio_profile, capsys):
    from app.cli.main import main

    assert main(["index", "audio", str(sounds / "bad"), "--db", tmp_db, "--profile", "offline", "-q"]) == 1
    err = capsys.readouterr().err
    assert "0 indexed" in err and "silence only" in err
    assert main(["search", "audio", str(sounds / "nope.wav"), "--db", tmp_db, "--profile", "offline"]) == 1
    assert capsys.readouterr().err.strip().endswith("no such file: " + str(sounds / "nope.wav"))
    assert main(["index", "audio", str(sounds), "--db", tmp_db, "--window", "2", "--hop", "3"]) == 1
    assert "must not exceed" in capsys.readouterr().err
