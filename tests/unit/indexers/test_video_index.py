"""The video indexer and moment search with the fake encoder and a fake transcriber on real
Milvus Lite: frame times, transcript rows, no-audio videos, bad files, idempotence, fusion, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.search.video import Evidence, fuse_moments
from encoders import get_encoder
from encoders.transcribe import Transcript, TranscriptSegment, word_error_rate
from indexers.docs import DOC_KIND, SEGMENT_KIND
from indexers.video import index_video, probe_video, sample_frames
from tests.video_samples import CLIP_0880, VTEST, make_video

pytestmark = pytest.mark.skipif(not VTEST.exists() or not CLIP_0880.exists(), reason="needs Debian opencv-doc and pocketsphinx-testdata")


class FakeTranscriber:
    id = "fake:transcriber"

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(self, audio, language=None) -> Transcript:
        self.calls += 1
        return Transcript([TranscriptSegment(2.1, 3.4, "he was not an ill disposed young man")], "en", audio.size / 16000)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("videos")
    make_video(d / "talk.mp4", seconds=4, speech=[(2.0, CLIP_0880)], fps=5, size=(160, 120))
    make_video(d / "mute.mp4", seconds=3, fps=5, size=(160, 120))
    (d / "broken.mkv").write_bytes(b"\x1aE\xdf\xa3 not really a matroska file" * 20)
    (d / "empty.webm").write_bytes(b"")
    (d / "notes.txt").write_text("not a video")
    return d


def test_probe_and_sample(videos):
    info = probe_video(videos / "talk.mp4")
    assert info.has_audio and abs(info.duration_s - 4.0) < 0.3
    assert not probe_video(videos / "mute.mp4").has_audio
    times = [t for t, _ in sample_frames(videos / "talk.mp4", fps=1.0)]
    assert times == pytest.approx([0.0, 1.0, 2.0, 3.0], abs=0.05)
    times2 = [t for t, _ in sample_frames(videos / "talk.mp4", fps=2.0)]
    assert len(times2) == 8
    scenes = [t for t, _ in sample_frames(videos / "talk.mp4", fps=0.0, scene_threshold=0.5)]
    assert scenes == [0.0]  # the first frame, then no cut in one steady shot
    with pytest.raises(ValueError):
        next(sample_frames(videos / "talk.mp4", fps=0.0))


def test_index_video_frames_speech_and_bad_files(videos, store):
    enc = get_encoder("fake:16")
    tr = FakeTranscriber()
    report = index_video([videos], store, [enc], transcriber=tr, text_encoder=enc, progress=False)
    assert report.indexed == 2
    assert sorted(Path(p).name for p, _ in report.failed) == ["broken.mkv", "empty.webm"]
    assert tr.calls == 1  # the video without an audio stream is not transcribed
    frames = store.find("video", enc.spec.id).query(limit=100)
    by_src: dict[str, list[float]] = {}
    for r in frames:
        by_src.setdefault(Path(r["source"]).name, []).append(round(r["start_s"], 2))
        assert r["kind"] == "video" and Path(r["meta"]["thumb"]).exists()
    assert sorted(by_src["talk.mp4"]) == [0.0, 1.0, 2.0, 3.0]
    assert sorted(by_src["mute.mp4"]) == [0.0, 1.0, 2.0]
    segs = [r for r in store.find(DOC_KIND, enc.spec.id).query(limit=100) if r["kind"] == SEGMENT_KIND]
    assert len(segs) == 1 and segs[0]["source"].endswith("talk.mp4")
    assert segs[0]["start_s"] == pytest.approx(2.1) and segs[0]["end_s"] == pytest.approx(3.4)
    again = index_video([videos], store, [enc], transcriber=tr, text_encoder=enc, progress=False)
    assert again.indexed == 0 and again.unchanged == 2 and tr.calls == 1


def test_fuse_moments_one_timeline():
    ev = [
        Evidence("a.mp4", 7.0, 8.0, 0.30, "frame", thumb="t7.jpg"),
        Evidence("a.mp4", 8.0, 9.0, 0.25, "frame", thumb="t8.jpg"),
        Evidence("a.mp4", 7.9, 11.0, 0.60, "speech", text="he was not an ill disposed young man"),
        Evidence("a.mp4", 40.0, 41.0, 0.20, "frame", thumb="t40.jpg"),
        Evidence("b.mp4", 3.0, 5.0, 0.50, "speech", text="other"),
    ]
    hits = fuse_moments(ev, k=10)
    assert [(h.source, h.start_s) for h in hits] == [("a.mp4", 7.9), ("b.mp4", 3.0), ("a.mp4", 40.0)]
    top = hits[0]
    assert top.text == "he was not an ill disposed young man" and top.end_s == 11.0
    assert top.meta["thumb"] == "t7.jpg" and top.meta["matched"] == ["frame", "speech"]
    assert top.meta["span"] == [7.0, 11.0] and top.score == pytest.approx(0.65)
    assert hits[2].text is None and hits[2].meta["thumb"] == "t40.jpg"
    assert len(fuse_moments(ev, k=1)) == 1


def test_wer():
    assert word_error_rate("he was not an ill disposed young man", "He was not an ill-disposed young man.") == 0.0
    assert word_error_rate("a b c d", "a x c") == pytest.approx(0.5)


def test_cli_index_and_search_video(videos, tmp_db, fake_profile, capsys):
    from app.cli.main import main

    assert main(["index", "video", str(videos / "mute.mp4"), "--db", tmp_db, "--no-speech", "-q", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["indexed"] == 1 and out["kind"] == "video"
    assert main(["search", "text", "people walking", "--kind", "video", "--db", tmp_db, "--json", "-k", "2"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert 1 <= len(hits) <= 2
    assert {"start_s", "end_s", "text", "source"} <= set(hits[0]) and hits[0]["kind"] == "video"
    assert main(["index", "video", str(videos / "broken.mkv"), "--db", tmp_db, "--no-speech", "-q"]) == 1  # only a bad file
    assert "broken.mkv: not a readable video" in capsys.readouterr().err
    assert main(["index", "video", str(videos), "--fps", "0", "--db", tmp_db]) == 1
