"""Audio decoding without models: formats, mono mix, resampling, windows, and bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from indexers.audio_io import (
    AudioDecodeError,
    audio_extensions,
    decode_audio,
    have_pyav,
    is_silent,
    plan_windows,
    read_excerpt,
    resample,
    wav_bytes,
)


def tone(seconds: float = 1.0, rate: int = 44100, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_m4a(path, samples: np.ndarray, rate: int) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples[None, :].astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.mark.parametrize(
    "suffix, kwargs",
    [
        (".wav", {}),
        (".flac", {}),
        (".ogg", {"format": "OGG", "subtype": "VORBIS"}),
        (".oga", {"format": "OGG", "subtype": "VORBIS"}),
        (".mp3", {"format": "MP3"}),
    ],
)
def test_formats_decode_to_mono_at_the_target_rate(tmp_path, suffix, kwargs):
    path = tmp_path / f"t{suffix}"
    sf.write(path, tone(2.0), 44100, **kwargs)
    audio = decode_audio(path, target_rate=16000)
    assert audio.sample_rate == 16000 and audio.source_rate == 44100 and audio.channels == 1
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert abs(audio.duration_s - 2.0) < 0.1  # mp3 adds encoder padding
    assert abs(audio.samples.size - 16000 * audio.duration_s) <= 2
    assert 0.3 < float(np.abs(audio.samples).max()) <= 1.0


@pytest.mark.skipif(not have_pyav(), reason="PyAV not installed")
def test_m4a_decodes_through_pyav(tmp_path):
    path = tmp_path / "t.m4a"
    write_m4a(path, tone(1.5), 44100)
    assert ".m4a" in audio_extensions()
    audio = decode_audio(path, target_rate=32000)
    assert audio.sample_rate == 32000 and abs(audio.duration_s - 1.5) < 0.1
    assert float(np.abs(audio.samples).max()) > 0.3


def test_stereo_is_mixed_to_mono(tmp_path):
    left = tone(1.0)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    sf.write(tmp_path / "s.wav", stereo, 44100, subtype="FLOAT")
    audio = decode_audio(tmp_path / "s.wav")
    assert audio.channels == 2 and audio.sample_rate == 44100
    np.testing.assert_allclose(audio.samples, left / 2, atol=1e-6)


def test_bytes_and_paths_decode_alike(tmp_path):
    sf.write(tmp_path / "a.flac", tone(1.0), 22050)
    data = (tmp_path / "a.flac").read_bytes()
    np.testing.assert_array_equal(decode_audio(data, 16000).samples, decode_audio(tmp_path / "a.flac", 16000).samples)


def test_resample_keeps_the_pitch():
    x = tone(1.0, rate=48000, freq=1000.0)
    y = resample(x, 48000, 16000)
    assert y.size == 16000
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 16000 / y.size - 1000.0) < 2.0
    assert resample(x, 48000, 48000) is x


def test_long_files_are_cut_at_the_limit(tmp_path):
    sf.write(tmp_path / "long.wav", tone(5.0, rate=8000), 8000)
    audio = decode_audio(tmp_path / "long.wav", limit_s=2.0)
    assert audio.truncated and audio.duration_s == pytest.approx(2.0)


# -- bad files ---------------------------------------------------------------------------
def test_empty_file(tmp_path):
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty file"):
        decode_audio(tmp_path / "e.wav")
    with pytest.raises(AudioDecodeError, match="empty file"):
        decode_audio(b"")


def test_zero_length_audio(tmp_path):
    sf.write(tmp_path / "z.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioDecodeError, match="zero length"):
        decode_audio(tmp_path / "z.wav")


def test_text_file_named_wav(tmp_path):
    (tmp_path / "notes.wav").write_text("this is not audio\n" * 20)
    with pytest.raises(AudioDecodeError, match="not an audio file"):
        decode_audio(tmp_path / "notes.wav")


def test_truncated_file_does_not_crash(tmp_path):
    sf.write(tmp_path / "t.flac", tone(3.0), 44100)
    data = (tmp_path / "t.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    try:
        audio = decode_audio(tmp_path / "cut.flac")
    except AudioDecodeError:
        return  # refusing is fine; crashing is not
    assert 0 < audio.duration_s <= 3.0


def test_nan_samples_are_zeroed(tmp_path):
    x = tone(1.0)
    x[1000:2000] = np.nan
    x[5000] = np.inf
    sf.write(tmp_path / "n.wav", x, 44100, subtype="FLOAT")
    audio = decode_audio(tmp_path / "n.wav")
    assert audio.nonfinite == 1001
    assert np.isfinite(audio.samples).all()
    assert np.all(audio.samples[1000:2000] == 0)


def test_all_nan_is_refused(tmp_path):
    sf.write(tmp_path / "n.wav", np.full(4000, np.nan, dtype=np.float32), 8000, subtype="FLOAT")
    with pytest.raises(AudioDecodeError, match="NaN"):
        decode_audio(tmp_path / "n.wav")


def test_out_of_range_float_samples_are_clipped(tmp_path):
    sf.write(tmp_path / "loud.wav", tone(0.5, amp=4.0), 44100, subtype="FLOAT")
    assert float(np.abs(decode_audio(tmp_path / "loud.wav").samples).max()) == pytest.approx(1.0)


def test_silence_detection():
    assert is_silent(np.zeros(1000, dtype=np.float32))
    assert is_silent(np.full(1000, 1e-4, dtype=np.float32))  # -80 dBFS
    assert not is_silent(tone(0.1, amp=0.01))  # -40 dBFS
    assert is_silent(np.zeros(0, dtype=np.float32))


# -- windows -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "duration, expected",
    [
        (0.3, [(0.0, 0.3)]),
        (10.0, [(0.0, 10.0)]),
        (12.0, [(0.0, 10.0), (2.0, 12.0)]),
        (25.0, [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0), (15.0, 25.0)]),
        (26.5, [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0), (15.0, 25.0), (16.5, 26.5)]),
    ],
)
def test_windows_cover_the_file_with_full_windows(duration, expected):
    assert plan_windows(duration, 10.0, 5.0) == expected


def test_windows_without_overlap():
    assert plan_windows(30.0, 10.0, 10.0) == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]


def test_wav_bytes_round_trip():
    data = wav_bytes(tone(0.5, rate=16000), 16000)
    assert data[:4] == b"RIFF"
    assert decode_audio(data).duration_s == pytest.approx(0.5)


def test_read_excerpt_seeks_to_the_window(tmp_path):
    rate = 8000
    x = np.concatenate([np.zeros(rate * 5, dtype=np.float32), tone(1.0, rate=rate), np.zeros(rate * 4, dtype=np.float32)])
    sf.write(tmp_path / "x.flac", x, rate)
    part = read_excerpt(tmp_path / "x.flac", 5.0, 6.0, rate=rate)
    assert part.size == rate and float(np.abs(part).max()) > 0.4
    assert float(np.abs(read_excerpt(tmp_path / "x.flac", 0.0, 4.0, rate=rate)).max()) == 0.0
