"""indexers/playable.py: what a browser plays as it is, and converted copies of the rest."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from indexers import playable as pl

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _avi_with_sound(path: Path, seconds: int = 3) -> Path:
    """A small AVI (MPEG-4 Part 2 + MP2 sound): a format Chromium does not play."""
    import av

    with av.open(str(path), "w", format="avi") as out:
        vs = out.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        as_ = out.add_stream("mp2", rate=44100)
        as_.layout = "mono"
        for i in range(seconds * 10):
            img = np.full((48, 64, 3), (i * 8) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        samples = (0.2 * np.sin(np.arange(seconds * 44100) * 2 * np.pi * 440 / 44100)).astype(np.float32)
        for start in range(0, samples.size, 1152):
            chunk = samples[start : start + 1152]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 44100, start, Fraction(1, 44100)
            out.mux(as_.encode(frame))
        out.mux(as_.encode(None))
    return path


def _sound(path: Path, fmt: str, seconds: float = 2.0) -> Path:
    import soundfile as sf

    rate = 22050
    x = 0.2 * np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * 330 / rate)
    sf.write(path, x.astype(np.float32), rate, format=fmt)
    return path


def test_wav_and_flac_play_as_they_are(tmp_path):
    for name, fmt, mime in (("a.wav", "WAV", "audio/wav"), ("a.flac", "FLAC", "audio/flac")):
        src = _sound(tmp_path / name, fmt)
        got = pl.playable(src, str(tmp_path / "x.db"))
        assert got == pl.Playable(src, mime)


def test_aiff_becomes_an_m4a_of_the_same_length_and_is_cached(tmp_path, monkeypatch):
    src = _sound(tmp_path / "a.aiff", "AIFF", seconds=2.0)
    got = pl.playable(src, str(tmp_path / "x.db"))
    assert got.converted and got.mimetype == "audio/mp4" and got.path.suffix == ".m4a"
    assert got.path.is_relative_to(tmp_path / "thumbs" / "playable")
    info = pl.probe(got.path)
    assert info.audio_codec == "aac" and info.video_codec is None
    assert abs(info.duration_s - 2.0) < 0.2
    monkeypatch.setattr(pl, "convert", lambda *a, **k: pytest.fail("converted twice"))
    assert pl.playable(src, str(tmp_path / "x.db")) == got


def test_an_avi_becomes_h264_aac_mp4_with_its_times_kept(tmp_path):
    src = _avi_with_sound(tmp_path / "clip.avi", seconds=3)
    assert pl.browser_mimetype(pl.probe(src)) is None
    got = pl.playable(src, str(tmp_path / "x.db"))
    info = pl.probe(got.path)
    assert (info.container, info.video_codec, info.audio_codec, got.mimetype) == ("mp4", "h264", "aac", "video/mp4")
    assert abs(info.duration_s - 3.0) < 0.3
    assert pl.browser_mimetype(info) == "video/mp4"


@pytest.mark.skipif(not VTEST.exists(), reason="needs Debian opencv-doc")
def test_vtest_avi_frame_times_are_kept(tmp_path):
    import av

    got = pl.playable(VTEST, str(tmp_path / "x.db"))
    with av.open(str(got.path)) as c:
        times = [f.time for _, f in zip(range(61), c.decode(video=0))]
    assert times[0] == pytest.approx(0.0) and times[60] == pytest.approx(6.0, abs=0.05)


def test_a_file_that_is_not_media_says_so(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(pl.NotPlayable, match="not a readable media file"):
        pl.playable(bad, str(tmp_path / "x.db"))
    with pytest.raises(pl.NotPlayable, match="not there any more"):
        pl.playable(tmp_path / "gone.mp4", str(tmp_path / "x.db"))


def test_a_failed_conversion_leaves_no_partial_file(tmp_path, monkeypatch):
    import av

    src = _sound(tmp_path / "a.aiff", "AIFF")

    def broken(*args, **kwargs):
        Path(args[1]).write_bytes(b"half")
        raise av.FFmpegError(1, "boom")

    monkeypatch.setattr(pl, "_transcode", broken)
    with pytest.raises(pl.NotPlayable, match="converting it failed"):
        pl.playable(src, str(tmp_path / "x.db"))
    assert not [p for p in (tmp_path / "thumbs").rglob("*") if p.is_file()]
