"""Audio→audio evaluation on Debian's freedesktop sounds (`mmsearch eval --dataset freedesktop-sounds`).

The sounds carry no class labels, so the set is a near-duplicate retrieval task: every
distinct source sound is its own class (the theme's links to the same file count once), and four deterministic variants of it are made in memory:

- `noise-20dB`: white noise at 20 dB SNR (relative to the whole clip's RMS);
- `quieter-shifted`: −6 dB gain behind 100–300 ms of leading silence;
- `band-limited`: resampled down to 16 kHz (half the rate for sources at ≤ 16 kHz) and back;
- `first-70%`: only the first 70 % of the clip.

Every clip (source and variants) is a query against all the others (itself excluded);
relevant = the other clips of the same source. Clips are embedded the way `index audio`
stores them (decoded mono signal → `plan_work` → `segments_for`, start offsets included)
and queried the way `search audio` queries (`query_clips`); the score of a pair of clips is
the best over their query and stored windows, as `merge_windows` ranks a search.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from app.errors import QueryError
from app.eval.metrics import EvalResult, model_mb, rank_against_each_other, rss_mb

log = logging.getLogger(__name__)

FREEDESKTOP_SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
VARIANTS = ("noise-20dB", "quieter-shifted", "band-limited", "first-70%")
NOISE_SNR_DB = 20.0
GAIN_DB = -6.0
SHIFT_RANGE_S = (0.1, 0.3)
BAND_RATE = 16000
KEEP_FRACTION = 0.7


@dataclass
class SoundClip:
    """One clip of the set: its source sound (the class), the variant name and the signal."""

    source: str
    variant: str  # "original" or one of VARIANTS
    samples: np.ndarray  # mono float32 in [-1, 1]
    sample_rate: int

    @property
    def name(self) -> str:
        return f"{self.source}#{self.variant}"


def _seed(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def make_variants(samples: np.ndarray, rate: int, name: str) -> list[tuple[str, np.ndarray]]:
    """The four near-duplicates of one sound, named as in `VARIANTS`; the same name and
    signal always give the same variants (the noise and shift are seeded by the name)."""
    from indexers.audio_io import resample

    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if x.size == 0:
        raise ValueError(f"{name}: no samples")
    rng = np.random.default_rng(_seed(name))
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    noise = rng.standard_normal(x.size) * rms * 10 ** (-NOISE_SNR_DB / 20)
    noisy = np.clip(x + noise, -1.0, 1.0).astype(np.float32)
    shift = round(rng.uniform(*SHIFT_RANGE_S) * rate)
    shifted = np.concatenate([np.zeros(shift, dtype=np.float32), x * np.float32(10 ** (GAIN_DB / 20))])
    low = BAND_RATE if rate > BAND_RATE else rate // 2
    band = np.clip(resample(resample(x, rate, low), low, rate), -1.0, 1.0).astype(np.float32)
    head = x[: max(1, round(KEEP_FRACTION * x.size))].copy()
    return list(zip(VARIANTS, [noisy, shifted, band, head]))


def pick_evenly(items: Sequence, limit: int | None) -> list:
    """`limit` items spread evenly over `items` (all of them when limit is None or large)."""
    items = list(items)
    if limit is None or limit >= len(items):
        return items
    if limit < 2:
        raise QueryError("--limit must be at least 2: near-duplicate retrieval needs two sounds")
    idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in idx]


def distinct_files(paths: Iterable[Path]) -> list[Path]:
    """One file per distinct content, sorted by name; a regular file is kept over the links
    and copies of it (the freedesktop theme links power-plug.oga to device-added.oga, …:
    as separate classes they would be each other's unfindable near-duplicates)."""
    from indexers.files import file_digest

    seen: dict[str, Path] = {}
    for p in sorted(paths, key=lambda p: (p.is_symlink(), p.name)):
        d = file_digest(p)
        if d in seen:
            log.debug("%s: same content as %s, left out", p.name, seen[d].name)
            continue
        seen[d] = p
    return sorted(seen.values(), key=lambda p: p.name)


def load_sound_set(root: Path = FREEDESKTOP_SOUNDS, limit: int | None = None) -> list[SoundClip]:
    """Every sound under `root` (or `limit` of them, spread evenly by name) plus its variants."""
    from indexers.audio_io import AudioDecodeError, audio_extensions, decode_audio

    if not root.is_dir():
        raise QueryError(f"{root} is missing: apt-get install sound-theme-freedesktop")
    files = pick_evenly(distinct_files(p for p in root.iterdir() if p.suffix.lower() in audio_extensions()), limit)
    clips: list[SoundClip] = []
    for path in files:
        try:
            audio = decode_audio(path)
        except AudioDecodeError as exc:
            log.warning("%s: left out (%s)", path, exc)
            continue
        clips.append(SoundClip(path.stem, "original", audio.samples, audio.sample_rate))
        for variant, y in make_variants(audio.samples, audio.sample_rate, path.stem):
            clips.append(SoundClip(path.stem, variant, y, audio.sample_rate))
    if len({c.source for c in clips}) < 2:
        raise QueryError(f"{root} has fewer than two usable sounds")
    return clips


def _stored_and_query_clips(encoder, clip: SoundClip) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The windows `index audio` would store for the clip, and those `search audio` would send."""
    from app.search.audio import query_clips
    from indexers.audio import (
        DEFAULT_HOP_S,
        DEFAULT_WINDOW_S,
        plan_work,
        sample_rate_of,
        segments_for,
        start_offsets_of,
    )
    from indexers.audio_io import DecodedAudio

    rate = sample_rate_of(encoder)
    offsets = start_offsets_of(encoder)
    audio = DecodedAudio(clip.samples, clip.sample_rate, clip.samples.size / clip.sample_rate, clip.sample_rate, 1)
    work = plan_work(Path(clip.name), "", audio, [rate], DEFAULT_WINDOW_S, DEFAULT_HOP_S)
    stored = [work.clip(seg, rate) for seg in segments_for(work, offsets)]
    queries = query_clips(work.signals[rate], rate, offsets, DEFAULT_WINDOW_S, DEFAULT_HOP_S)
    return stored, queries


def _group_max(m: np.ndarray, row_starts: np.ndarray, col_starts: np.ndarray) -> np.ndarray:
    """Max of each block of `m` whose rows start at `row_starts` and columns at `col_starts`."""
    return np.maximum.reduceat(np.maximum.reduceat(m, row_starts, axis=0), col_starts, axis=1)


def _symmetric(encoder) -> bool:
    """True when the encoder embeds queries exactly as documents (aiSFX; not PANNs)."""
    return encoder.embeds_queries_as_documents


def _embed_unique(encoder, windows: list[np.ndarray]) -> np.ndarray:
    """Document vectors of `windows`, each distinct signal embedded once."""
    keys: dict[bytes, int] = {}
    index = [keys.setdefault(np.ascontiguousarray(w, dtype=np.float32).tobytes(), len(keys)) for w in windows]
    unique: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(keys)
    for w, i in zip(windows, index):
        unique[i] = w
    return encoder.embed_documents(unique)[index]


def clip_similarities(encoder, clips: Sequence[SoundClip]) -> tuple[np.ndarray, float]:
    """(clip × clip best-window scores, ms to embed one clip's windows).

    Row i, column j: the best score of a query window of clip i against a stored window of
    clip j. The time covers a clip's stored windows, and its query windows too where the
    encoder embeds them differently (a symmetric encoder shares identical windows)."""
    plans = [_stored_and_query_clips(encoder, c) for c in clips]
    stored = [w for s, _ in plans for w in s]
    queries = [w for _, q in plans for w in q]
    encoder.embed_documents(stored[:2])  # load + warm up, not timed
    t = time.perf_counter()
    if _symmetric(encoder):
        vecs = _embed_unique(encoder, stored + queries)
        dvecs, qvecs = vecs[: len(stored)], vecs[len(stored) :]
    else:
        dvecs, qvecs = encoder.embed_documents(stored), encoder.embed_queries(queries)
    ms = (time.perf_counter() - t) / len(clips) * 1000
    d_starts = np.cumsum([0] + [len(s) for s, _ in plans[:-1]])
    q_starts = np.cumsum([0] + [len(q) for _, q in plans[:-1]])
    return _group_max(qvecs @ dvecs.T, q_starts, d_starts), ms


def eval_near_duplicates(encoder, clips: Sequence[SoundClip]) -> EvalResult:
    """Every clip queries the others; relevant = the other clips of its source sound."""
    rss0 = rss_mb()
    sims, ms = clip_similarities(encoder, clips)
    lab = np.asarray([c.source for c in clips])
    ranked, (recall, map10, ndcg), (thr, f1) = rank_against_each_other(sims, lab)
    mem = model_mb(encoder) or max(0.0, rss_mb() - rss0)
    first_ok = lab[ranked[:, 0]] == lab
    variants = np.asarray([c.variant for c in clips])
    by_variant = ", ".join(f"{v} {first_ok[variants == v].mean():.2f}" for v in ("original", *VARIANTS) if (variants == v).any())
    notes = [
        f"{len(set(lab.tolist()))} distinct sounds × (original + {len(VARIANTS)} variants), every clip a query",
        f"R@1 by query variant: {by_variant}",
    ]
    return EvalResult(encoder.spec.id, "audio→audio", len(clips), recall, map10, ndcg, ms, mem, thr, f1, notes)
