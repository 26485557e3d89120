"""Decoding audio safely: mono mix, one resample to the model's rate, windows, silence.

libsndfile (via `soundfile`) reads wav, flac, ogg/oga (Vorbis, Opus), mp3 and aiff;
PyAV (FFmpeg) reads m4a/aac and anything libsndfile does not recognise. Every failure
becomes an `AudioDecodeError` whose message says what is wrong in a few words.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from indexers import config

log = logging.getLogger(__name__)

SNDFILE_EXTENSIONS = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff"})
AV_EXTENSIONS = frozenset({".m4a", ".aac"})  # need PyAV (FFmpeg)
SILENCE_DBFS = -70.0  # a window whose peak stays below this is silence
_BLOCK_SECONDS = 30


class AudioDecodeError(ValueError):
    """The file is not usable audio; the message says why in a few words."""


@dataclass
class DecodedAudio:
    """A mono float32 signal in [-1, 1] at `sample_rate`, plus facts about the source."""

    samples: np.ndarray
    sample_rate: int
    duration_s: float  # of the decoded (possibly cut) signal
    source_rate: int
    channels: int
    truncated: bool = False
    nonfinite: int = 0  # NaN/inf samples that were set to 0

    def resampled(self, rate: int) -> np.ndarray:
        """The signal at `rate` (the same array when the rate already matches)."""
        return resample(self.samples, self.sample_rate, rate)


@lru_cache(maxsize=1)
def have_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def audio_extensions() -> frozenset[str]:
    """The file extensions `index audio` picks up (m4a/aac only where PyAV is installed)."""
    return SNDFILE_EXTENSIONS | (AV_EXTENSIONS if have_pyav() else frozenset())


def max_seconds() -> float:
    """Sound files are cut at this length."""
    return config.current().max_audio_seconds


def silence_threshold() -> float:
    """Peak amplitude below which a stretch of audio counts as silence."""
    return 10 ** (SILENCE_DBFS / 20)


def is_silent(x: np.ndarray) -> bool:
    return x.size == 0 or float(np.max(np.abs(x))) < silence_threshold()


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling (soxr); a no-op when the rates match."""
    if from_rate == to_rate or x.size == 0:
        return x
    import soxr

    return soxr.resample(x, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def decode_audio(source: str | Path | bytes, target_rate: int | None = None, limit_s: float | None = None) -> DecodedAudio:
    """Decode a file (or its bytes) to mono float32, resampled once to `target_rate`.

    Raises `AudioDecodeError` for empty, zero-length, undecodable or all-NaN input.
    Files longer than `limit_s` (default `MMSEARCH_MAX_AUDIO_SECONDS`, one hour) are cut.
    """
    limit_s = max_seconds() if limit_s is None else limit_s
    suffix = "" if isinstance(source, (bytes, bytearray)) else Path(source).suffix.lower()
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise AudioDecodeError("empty file")
    else:
        try:
            if Path(source).stat().st_size == 0:
                raise AudioDecodeError("empty file")
        except OSError as exc:
            raise AudioDecodeError(f"cannot read file ({exc.strerror or exc})") from None

    if suffix in AV_EXTENSIONS:
        mono, rate, channels, truncated = _decode_av(source, limit_s)
    else:
        try:
            mono, rate, channels, truncated = _decode_sndfile(source, limit_s)
        except _Unrecognised:
            if not have_pyav():
                raise AudioDecodeError("not an audio file (unrecognised format)") from None
            mono, rate, channels, truncated = _decode_av(source, limit_s)

    if mono.size == 0:
        raise AudioDecodeError("no audio samples (zero length)")
    bad = ~np.isfinite(mono)
    nonfinite = int(bad.sum())
    if nonfinite:
        if nonfinite == mono.size:
            raise AudioDecodeError("no valid samples (all NaN or infinite)")
        log.warning("%s: %d NaN/infinite samples set to 0", _where(source), nonfinite)
        mono[bad] = 0.0
    np.clip(mono, -1.0, 1.0, out=mono)
    if truncated:
        log.warning("%s: audio longer than %.0f s: only the first %.0f s are used", _where(source), limit_s, limit_s)
    out_rate = target_rate or rate
    samples = resample(mono, rate, out_rate)
    return DecodedAudio(samples, out_rate, mono.size / rate, rate, channels, truncated, nonfinite)


def _where(source: str | Path | bytes) -> str:
    """The file a warning is about (uploads are bytes)."""
    return "uploaded audio" if isinstance(source, (bytes, bytearray)) else str(source)


class _Unrecognised(Exception):
    pass


def _decode_sndfile(source: str | Path | bytes, limit_s: float) -> tuple[np.ndarray, int, int, bool]:
    import soundfile as sf

    fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        f = sf.SoundFile(fp)
    except sf.LibsndfileError as exc:
        if "recognised" in str(exc) or "unknown format" in str(exc).lower() or "unsupported" in str(exc).lower():
            raise _Unrecognised() from None
        raise AudioDecodeError(f"corrupt or unreadable audio ({_first_line(exc)})") from None
    except (RuntimeError, TypeError, ValueError) as exc:
        raise AudioDecodeError(f"corrupt or unreadable audio ({_first_line(exc)})") from None
    with f:
        rate, channels = int(f.samplerate), int(f.channels)
        if rate <= 0 or channels <= 0:
            raise AudioDecodeError("corrupt audio header (no sample rate or channels)")
        max_frames = int(limit_s * rate) if math.isfinite(limit_s) else None
        parts: list[np.ndarray] = []
        n = 0
        truncated = False
        try:
            for block in f.blocks(blocksize=_BLOCK_SECONDS * rate, dtype="float32", always_2d=True):
                if max_frames is not None and n + len(block) > max_frames:
                    block = block[: max_frames - n]
                    truncated = True
                parts.append(block.mean(axis=1, dtype=np.float32) if channels > 1 else block[:, 0].copy())
                n += len(block)
                if truncated:
                    break
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            if not parts:
                raise AudioDecodeError(f"corrupt or truncated audio ({_first_line(exc)})") from None
            log.warning("audio stream ends early (%s); using the %d samples decoded", _first_line(exc), n)
    mono = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return mono.astype(np.float32, copy=False), rate, channels, truncated


def _decode_av(source: str | Path | bytes, limit_s: float) -> tuple[np.ndarray, int, int, bool]:
    if not have_pyav():
        raise AudioDecodeError("m4a/aac needs PyAV (pip install av)")
    import av

    fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        container = av.open(fp)
    except (av.FFmpegError, OSError, ValueError) as exc:
        log.debug("PyAV cannot open the file: %s", _first_line(exc))
        raise AudioDecodeError("not an audio file (unrecognised format)") from None
    with container:
        if not container.streams.audio:
            raise AudioDecodeError("no audio stream in the file")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        channels = int(stream.codec_context.channels or 1)
        if rate <= 0:
            raise AudioDecodeError("corrupt audio stream (no sample rate)")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        max_frames = int(limit_s * rate) if math.isfinite(limit_s) else None
        parts: list[np.ndarray] = []
        n = 0
        truncated = False
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    parts.append(arr)
                    n += arr.size
                if max_frames is not None and n >= max_frames:
                    truncated = True
                    break
            if not truncated:
                for out in resampler.resample(None):
                    parts.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        except (av.FFmpegError, OSError, ValueError) as exc:
            if not parts:
                raise AudioDecodeError(f"corrupt audio ({_first_line(exc)})") from None
            log.warning("audio stream ends early (%s); using what was decoded", _first_line(exc))
    mono = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    if max_frames is not None and mono.size > max_frames:
        mono = mono[:max_frames]
        truncated = True
    return mono, rate, channels, truncated


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


def plan_windows(duration_s: float, window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """(start_s, end_s) spans covering `duration_s`: full windows every `hop_s`, the last one
    aligned to the end; a clip no longer than one window is a single span."""
    if window_s <= 0 or hop_s <= 0:
        raise ValueError("window and hop must be positive")
    if duration_s <= window_s:
        return [(0.0, float(duration_s))]
    spans = []
    start = 0.0
    while start + window_s < duration_s - 1e-6:
        spans.append((round(start, 3), round(start + window_s, 3)))
        start += hop_s
    last = round(duration_s - window_s, 3)
    if not spans or last > spans[-1][0] + 1e-6:
        spans.append((last, round(duration_s, 3)))
    return spans


def read_excerpt(path: str | Path, start_s: float, end_s: float, rate: int = 22050) -> np.ndarray:
    """Mono samples of [start_s, end_s) at `rate`, seeking where libsndfile can (UI players of large files)."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            sr = int(f.samplerate)
            f.seek(min(int(start_s * sr), max(f.frames - 1, 0)))
            block = f.read(max(int((end_s - start_s) * sr), 1), dtype="float32", always_2d=True)
        mono = np.nan_to_num(block.mean(axis=1), nan=0.0, posinf=0.0, neginf=0.0)
        return resample(np.clip(mono, -1.0, 1.0).astype(np.float32), sr, rate)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        audio = decode_audio(path, target_rate=rate, limit_s=end_s)  # formats without seeking (m4a)
        return audio.samples[int(start_s * rate) :]


def audio_mimetype(path: str | Path) -> str:
    """The MIME type a browser player needs for a file, by extension."""
    return {
        ".wav": "audio/wav", ".wave": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
        ".oga": "audio/ogg", ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
        ".aac": "audio/aac", ".aif": "audio/aiff", ".aiff": "audio/aiff",
    }.get(Path(path).suffix.lower(), "audio/wav")


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """16-bit PCM WAV bytes of a mono float signal (for excerpts in the UI)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(samples, -1, 1), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()
