"""The pure parts of `mmsearch eval` for sounds and speech: near-duplicate variants,
best-window scores, the sound set's de-duplication, and word error rates."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from app.errors import QueryError
from app.eval.audio import (
    VARIANTS,
    _group_max,
    distinct_files,
    make_variants,
    pick_evenly,
)
from app.eval.speech import (
    corpus_wer,
    librivox_clips,
    normalise_transcript,
    word_errors,
)

RATE = 48000


def _chirp(seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * (300 + 900 * t) * t) * np.exp(-2 * t)).astype(np.float32)


def test_variants_are_deterministic_and_named():
    x = _chirp()
    a = make_variants(x, RATE, "bell")
    b = make_variants(x.copy(), RATE, "bell")
    assert [n for n, _ in a] == list(VARIANTS)
    for (_, ya), (_, yb) in zip(a, b):
        assert ya.dtype == np.float32 and np.array_equal(ya, yb)
    # the name seeds the noise and the shift: another sound gets other ones
    other = dict(make_variants(x, RATE, "complete"))
    assert not np.array_equal(dict(a)["noise-20dB"], other["noise-20dB"])


def test_each_variant_changes_the_signal_as_described():
    x = _chirp()
    v = dict(make_variants(x, RATE, "bell"))
    noise = v["noise-20dB"] - x
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert 19.0 < snr < 21.0
    shifted = v["quieter-shifted"]
    lead = shifted.size - x.size
    assert 0.1 * RATE <= lead <= 0.3 * RATE and not shifted[:lead].any()
    assert np.allclose(shifted[lead:], x * 10 ** (-6 / 20), atol=1e-6)
    assert np.array_equal(v["first-70%"], x[: round(0.7 * x.size)])


def test_band_limited_variant_drops_what_is_above_8_khz():
    x = (0.2 * np.random.default_rng(0).standard_normal(RATE)).astype(np.float32)  # broadband
    band = dict(make_variants(x, RATE, "hiss"))["band-limited"]
    assert band.size == pytest.approx(x.size, abs=2)
    n = min(band.size, x.size)
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    before, after = np.abs(np.fft.rfft(x[:n])), np.abs(np.fft.rfft(band[:n]))
    low, high = (freqs > 500) & (freqs < 6000), freqs > 9000
    assert after[low].mean() == pytest.approx(before[low].mean(), rel=0.05)  # the band below 8 kHz is kept
    assert after[high].mean() < 0.01 * before[high].mean()  # nothing above 8 kHz survives 48k→16k→48k


def test_low_rate_sources_are_band_limited_to_half_their_rate():
    rate = 8000
    x = (0.2 * np.random.default_rng(1).standard_normal(rate)).astype(np.float32)
    band = dict(make_variants(x, rate, "phone"))["band-limited"]
    n = min(band.size, x.size)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    before, after = np.abs(np.fft.rfft(x[:n])), np.abs(np.fft.rfft(band[:n]))
    assert after[freqs > 2200].mean() < 0.05 * before[freqs > 2200].mean()  # 8k→4k→8k


def test_variants_of_an_empty_signal_are_refused():
    with pytest.raises(ValueError, match="no samples"):
        make_variants(np.zeros(0, dtype=np.float32), RATE, "empty")


def test_group_max_takes_the_best_window_pair():
    m = np.array(
        [
            [0.1, 0.2, 0.9],
            [0.5, 0.3, 0.0],
            [0.7, 0.8, 0.4],
        ]
    )
    # clip 0 has query windows 0-1, clip 1 has window 2; clip 0 stores windows 0-1, clip 1 window 2
    out = _group_max(m, np.array([0, 2]), np.array([0, 2]))
    assert out.tolist() == [[0.5, 0.9], [0.8, 0.4]]


def test_pick_evenly_is_deterministic_and_spread():
    items = list(range(27))
    assert pick_evenly(items, None) == items and pick_evenly(items, 40) == items
    picked = pick_evenly(items, 5)
    assert picked == [0, 6, 13, 20, 26]
    with pytest.raises(QueryError, match="at least 2"):
        pick_evenly(items, 1)


def test_distinct_files_keeps_one_regular_file_per_content(tmp_path):
    (tmp_path / "b-original.oga").write_bytes(b"same")
    (tmp_path / "a-link.oga").symlink_to(tmp_path / "b-original.oga")
    (tmp_path / "c-copy.oga").write_bytes(b"same")
    (tmp_path / "d-other.oga").write_bytes(b"other")
    names = [p.name for p in distinct_files(tmp_path.iterdir())]
    assert names == ["b-original.oga", "d-other.oga"]


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("he was not an ill disposed young man", "he was not an ill disposed young man", (0, 8)),
        ("he was not an ill disposed young man", "He was not an ill-disposed young man.", (0, 8)),
        ("he was not an ill disposed young man", "he was an ill disposed old man", (2, 8)),  # 1 deletion, 1 substitution
        ("he might even have been made amiable", "he might even have been made amiable himself", (1, 7)),  # 1 insertion
        ("", "", (0, 0)),
        ("", "something was said", (3, 0)),
        ("three words here", "", (3, 3)),
    ],
)
def test_word_errors(ref, hyp, expected):
    assert word_errors(ref, hyp) == expected


def test_corpus_wer_weights_clips_by_their_length_and_normalises():
    pairs = [
        ("and mister john dashwood had then leisure", "And Mr. John Dashwood had then leisure"),  # 0 of 7
        ("he was not", "he is not"),  # 1 of 3
    ]
    assert corpus_wer(pairs) == pytest.approx(1 / 10)
    assert normalise_transcript("Mr. Dashwood, Mrs. Dashwood!") == "mister dashwood missus dashwood"


def test_corpus_wer_with_empty_references():
    assert corpus_wer([]) == 0.0
    assert corpus_wer([("", "")]) == 0.0
    assert corpus_wer([("", "hello")]) == 1.0
    # an empty reference's insertions still count against the words of the others
    assert corpus_wer([("one two three four", "one two three four"), ("", "extra")]) == pytest.approx(1 / 4)


def test_librivox_clips_read_references_and_refuse_a_missing_set(tmp_path):
    (tmp_path / "transcription").write_text(
        "<s> he was not an ill disposed young man </s> (clip-0880)\n"
        "<s> no audio for this one </s> (clip-0999)\n"
        "<s> he might even have been made amiable himself </s> (clip-0930)\n"
    )
    (tmp_path / "clip-0880.wav").write_bytes(b"")
    (tmp_path / "clip-0930.wav").write_bytes(b"")
    clips = librivox_clips(tmp_path)
    assert [c.stem for c in clips] == ["clip-0880", "clip-0930"]
    assert clips[0].reference == "he was not an ill disposed young man"
    assert [c.stem for c in librivox_clips(tmp_path, limit=1)] == ["clip-0880"]
    with pytest.raises(QueryError, match="pocketsphinx-testdata"):
        librivox_clips(tmp_path / "missing")


def test_missing_weights_are_reported_not_raised(tmp_path, monkeypatch):
    """openai-whisper has no packaged weights: the eval says so (and downloads nothing)."""
    from app.eval import speech as evaluate_speech
    from app.eval.speech import SpeechClip, eval_transcriber

    monkeypatch.setattr(evaluate_speech, "rss_mb", lambda: 0.0)
    import soundfile as sf

    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(16000, dtype=np.float32), 16000)
    res = eval_transcriber("openai-whisper:tiny.en", [SpeechClip("a", wav, "words")], device="cpu")
    assert res.wer is None and res.audio_s == pytest.approx(1.0)
    assert "weights for openai-whisper:tiny.en not found" in res.error and "does not download" in res.error
    assert res.to_dict()["error"] == res.error and res.to_dict()["wer"] is None
    bad = eval_transcriber("vosk:small", [SpeechClip("a", wav, "words")], device="cpu")
    assert "unknown transcription backend" in bad.error


def test_save_is_refused_for_the_speech_set():
    from app.cli.eval import cmd_eval
    from app.errors import CliError

    args = argparse.Namespace(dataset="librivox-wer", save=True, folder=None)
    with pytest.raises(CliError, match="measures transcription and has none"):
        cmd_eval(args)
