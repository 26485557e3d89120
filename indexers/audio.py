"""Index sound files into one collection per audio encoder, one row per time window.

Each file is decoded once (mono), resampled once per model rate, and cut into windows
(default 10 s every 5 s, the last one aligned to the end; a shorter clip is one window).
Silent windows are left out; a file with nothing but silence is reported, as are empty,
zero-length and undecodable files. Row ids hash (file content, window settings, window
start, start offset), so a re-run skips what is stored; a file's rows are written in one
upsert, the row that marks the file as done (its first non-silent window) last.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from encoders.base import Encoder
from indexers.audio_io import (
    AudioDecodeError,
    DecodedAudio,
    audio_extensions,
    decode_audio,
    is_silent,
    plan_windows,
)
from indexers.calibration import finish_collections
from indexers.defaults import DEFAULT_HOP_S, DEFAULT_WINDOW_S
from indexers.files import digest_files, discover, item_id
from indexers.progress import Progress, progress_bar
from indexers.report import IndexReport
from milvus import Collection, VectorStore

log = logging.getLogger(__name__)

_GROUP_SECONDS = 30.0  # embed several short files together, up to about this much audio
MIN_OFFSET_REST_S = 0.1  # an offset variant must leave at least this much of the window
# A short sound (one window) is also embedded from points every TAIL_STEP_S across it, so a
# query that is only its tail (it starts later in the sound) meets a library clip that starts
# within TAIL_STEP_S before it, which the query's own start offsets (0-250 ms) then align.
# Measured with aiSFX on the 35 freedesktop sounds, queries the last 50 % / 30 % of a sound at
# -10 dB, source first: 19/21 / 8/21 with the start offsets alone, 20/21 / 18/21 with these.
TAIL_STEP_S = 0.25
MIN_TAIL_S = 0.3  # a tail shorter than this is not embedded
MAX_TAIL_OFFSETS = 40  # 10 s at TAIL_STEP_S: the most tail rows of one clip


def sample_rate_of(enc: Encoder) -> int:
    """The rate an encoder wants its clips at (16 kHz for encoders that do not say)."""
    return int(enc.sample_rate or enc.spec.extra.get("sample_rate", 16000))


def start_offsets_of(enc: Encoder) -> tuple[float, ...]:
    """Where in a window the encoder also embeds a stored clip (aiSFX: a few ms; others: 0)."""
    return tuple(enc.start_offsets_s) or (0.0,)


def row_id(digest: str, window_s: float, hop_s: float, start_s: float, offset_s: float) -> str:
    """Id of one window row: the same content and window settings always give the same id."""
    return item_id(digest, f"audio/{window_s:g}/{hop_s:g}@{start_s:.3f}+{offset_s:.3f}")


def marker_id(digest: str, window_s: float, hop_s: float) -> str:
    """The id of a file's first non-silent window (at offset 0), written last: its presence
    means the whole file is stored. Known before decoding, so a re-run can skip the file."""
    return row_id(digest, window_s, hop_s, 0.0, 0.0)


@dataclass
class Segment:
    """One piece of audio to embed: window `index` of a file, starting `offset_s` into it."""

    index: int
    start_s: float
    end_s: float
    offset_s: float


@dataclass
class FileWork:
    path: Path
    digest: str
    audio: DecodedAudio
    signals: dict[int, np.ndarray]  # rate → samples
    segments: list[Segment] = field(default_factory=list)  # non-silent windows (offset 0)

    def clip(self, seg: Segment, rate: int) -> np.ndarray:
        x = self.signals[rate]
        a = int(round((seg.start_s + seg.offset_s) * rate))
        b = int(round(seg.end_s * rate))
        return x[a:b]


def segments_for(work: FileWork, offsets: tuple[float, ...]) -> list[Segment]:
    """The windows to embed for one encoder: every window at offset 0, and a clip that fits
    in one window also at the encoder's small start offsets, so that a copy with its start
    trimmed still matches (in a long file a trim shifts every window: offsets of the first
    would cost much and help little; the query side tries offsets too)."""
    out: list[Segment] = []
    single = len(work.segments) == 1 and work.segments[0].start_s == 0.0 and work.audio.duration_s <= work.segments[0].end_s + 1e-3
    for seg in work.segments:
        out.append(seg)
        if single:
            for off in (*offsets, *tail_offsets(seg.end_s - seg.start_s, offsets)):
                if off <= 0 or seg.end_s - seg.start_s - off < MIN_OFFSET_REST_S:
                    continue
                variant = Segment(seg.index, seg.start_s, seg.end_s, off)
                if not is_silent(work.clip(variant, work.audio.sample_rate)):
                    out.append(variant)
    return out


def tail_offsets(duration_s: float, offsets: tuple[float, ...]) -> list[float]:
    """Start points across a short clip past the encoder's small start offsets, every
    `TAIL_STEP_S` while at least `MIN_TAIL_S` is left (none for encoders without offsets)."""
    if len(offsets) < 2:
        return []
    first = max(offsets) + TAIL_STEP_S
    n = int(max(0.0, duration_s - MIN_TAIL_S - first) // TAIL_STEP_S) + 1 if duration_s - MIN_TAIL_S >= first else 0
    return [round(first + i * TAIL_STEP_S, 3) for i in range(min(n, MAX_TAIL_OFFSETS))]


def prepare(path: Path, digest: str, rates: Sequence[int], window_s: float, hop_s: float) -> FileWork:
    """Decode a file once, resample once per model rate, plan its non-silent windows."""
    return plan_work(path, digest, decode_audio(path), rates, window_s, hop_s)


def plan_work(path: Path, digest: str, audio: DecodedAudio, rates: Sequence[int], window_s: float, hop_s: float) -> FileWork:
    """A decoded signal resampled once per model rate, with its non-silent windows planned
    (`prepare` without the decoding: `mmsearch eval` plans in-memory variants this way)."""
    signals = {r: audio.resampled(r) for r in sorted(set(rates))}
    signals[audio.sample_rate] = audio.samples
    work = FileWork(path, digest, audio, signals)
    for i, (start, end) in enumerate(plan_windows(audio.duration_s, window_s, hop_s)):
        seg = Segment(i, start, end, 0.0)
        if not is_silent(work.clip(seg, audio.sample_rate)):
            work.segments.append(seg)
    if not work.segments:
        raise AudioDecodeError("silence only (nothing above -70 dBFS)")
    return work


def _safe_prepare(path: Path, digest: str, rates: Sequence[int], window_s: float, hop_s: float) -> FileWork | str:
    try:
        return prepare(path, digest, rates, window_s, hop_s)
    except AudioDecodeError as exc:
        return str(exc)
    except MemoryError:
        return "too large to decode in memory"
    except OSError as exc:
        return f"cannot read file ({exc.strerror or exc})"


def index_audio(
    paths: Sequence[str | Path],
    store: VectorStore,
    encoders: Sequence[Encoder],
    window_s: float = DEFAULT_WINDOW_S,
    hop_s: float = DEFAULT_HOP_S,
    progress: Progress = True,
    workers: int = 2,
) -> IndexReport:
    """Index every sound file under `paths` with each encoder; skip what is already stored.

    Files are hashed first (cheap), so a re-run decodes nothing it has seen; the next
    files decode on worker threads while the model embeds the current ones.
    """

    if window_s <= 0 or hop_s <= 0 or hop_s > window_s:
        raise ValueError("the window must be positive and the hop between 0 and the window length")
    for enc in encoders:
        if not enc.weights_available():
            enc.load()  # raises the one-sentence "weights not found" before anything is written
    t0 = time.perf_counter()
    report = IndexReport(kind="audio")
    files, missing = discover(paths, audio_extensions())
    for p, reason in missing:
        report.skip(p, reason)
    collections: list[tuple[Encoder, Collection]] = [
        (enc, store.collection("audio", enc.spec.id, enc.spec.dim, enc.spec.metric)) for enc in encoders
    ]
    report.collections = [c.name for _, c in collections]
    rates = [sample_rate_of(enc) for enc in encoders]

    # 1. hash every file; keep those whose marker row is missing from any collection
    digests = digest_files(files, report, workers)
    keys = {p: marker_id(d, window_s, hop_s) for p, d in digests.items()}
    present = [c.existing_ids(keys.values()) for _, c in collections]
    todo = [p for p in digests if not all(keys[p] in s for s in present)]
    report.unchanged = len(digests) - len(todo)

    # 2. decode ahead on worker threads; embed groups of files; write each file's rows at once
    bar = progress_bar(progress, len(todo), "file", "indexing audio")
    seconds = 0.0
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[tuple[Path, Future]] = deque()
        queue = list(todo)

        def refill() -> None:
            while queue and len(pending) < workers + 1:
                p = queue.pop(0)
                pending.append((p, pool.submit(_safe_prepare, p, digests[p], rates, window_s, hop_s)))

        refill()
        group: list[FileWork] = []
        group_s = 0.0
        while pending:
            p, fut = pending.popleft()
            res = fut.result()
            refill()
            if isinstance(res, str):
                report.skip(str(p), res)
                bar.update(1)
            else:
                group.append(res)
                group_s += res.audio.duration_s
            if group and (group_s >= _GROUP_SECONDS or not pending):
                _embed_and_store(group, collections, window_s, hop_s)
                report.indexed += len(group)
                seconds += group_s
                bar.update(len(group))
                group, group_s = [], 0.0
    bar.close()
    finish_collections(collections, bool(report.indexed))
    report.seconds = time.perf_counter() - t0
    log.info("indexed %.1f s of audio in %.1f s", seconds, report.seconds)
    return report


def _embed_and_store(group: list[FileWork], collections: list[tuple[Encoder, Collection]], window_s: float, hop_s: float) -> None:
    for enc, coll in collections:
        rate = sample_rate_of(enc)
        offsets = start_offsets_of(enc)
        plan = [(w, seg) for w in group for seg in segments_for(w, offsets)]
        clips = [w.clip(seg, rate) for w, seg in plan]
        vecs = enc.embed_documents(clips)
        tags = _tags(enc, clips)
        rows_by_file: dict[int, list[dict[str, Any]]] = {}
        for (w, seg), vec, tag in zip(plan, vecs, tags):
            rows_by_file.setdefault(id(w), []).append(audio_row(w, seg, vec, window_s, hop_s, tag))
        for w in group:
            rows = rows_by_file.get(id(w), [])
            marker = marker_id(w.digest, window_s, hop_s)
            rows.sort(key=lambda r: r["id"] == marker)  # the row that marks the file done goes last
            coll.upsert(rows)


def _tags(enc: Encoder, clips: list[np.ndarray]) -> list[list[tuple[str, float]] | None]:
    if not enc.has_tags:
        return [None] * len(clips)
    return list(enc.tags(clips, top=5))


def tags_text(tags: list[tuple[str, float]] | None) -> str | None:
    """Stored, searchable text of a window's tags: "Dog (0.82); Bark (0.61)"."""
    if not tags:
        return None
    return "; ".join(f"{name} ({score:.2f})" for name, score in tags)


def audio_row(
    work: FileWork, seg: Segment, vector, window_s: float, hop_s: float, tags: list[tuple[str, float]] | None = None
) -> dict[str, Any]:
    """The stored row of one window: its time span, the file, and facts about both."""
    meta: dict[str, Any] = {
        "duration_s": round(work.audio.duration_s, 3),
        "sample_rate": work.audio.source_rate,
        "channels": work.audio.channels,
        "window": seg.index,
        "offset_s": seg.offset_s,
        "thumb": None,
    }
    if tags is not None:
        meta["tags"] = [[name, round(score, 4)] for name, score in tags]
    if work.audio.truncated:
        meta["truncated_at_s"] = round(work.audio.duration_s, 3)
    first = seg.index == work.segments[0].index and seg.offset_s == 0.0
    rid = marker_id(work.digest, window_s, hop_s) if first else row_id(work.digest, window_s, hop_s, seg.start_s, seg.offset_s)
    return {
        "id": rid,
        "vector": vector,
        "source": str(work.path),
        "kind": "audio",
        "title": work.path.stem,
        "start_s": seg.start_s,  # the window's span (offset variants share it; meta says the offset)
        "end_s": round(seg.end_s, 3),
        "text": tags_text(tags),
        "meta": meta,
    }
