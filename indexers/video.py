"""Index videos: frames sampled by time (and optionally at scene changes) into the `video`
collection of each image encoder, and the audio track transcribed into timed segments of
the text (docs) collection, so both frames and speech point at a moment.

Frames are decoded with PyAV on a worker thread while the model embeds the previous batch.
A frame row's id hashes (file content, sampling settings, time), so a re-run skips a stored
file; the file's first frame row is written last and marks it as complete. A video without
an audio stream is indexed by its frames alone (faster-whisper raises IndexError on it).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from encoders.base import Encoder
from indexers.defaults import DEFAULT_FPS
from indexers.files import discover, file_digest, item_id
from indexers.progress import Progress, progress_bar
from indexers.report import IndexReport
from indexers.speech import transcribe_track
from milvus import Collection, VectorStore

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v"})
FRAME_MAX_SIDE = 448  # frames are scaled down before embedding (models see 224-260 px)
_BATCH = 16


class VideoDecodeError(ValueError):
    """A video that cannot be read; the message is the reason shown to the user."""


@dataclass
class VideoInfo:
    duration_s: float
    has_audio: bool
    width: int
    height: int
    fps: float


@dataclass
class VideoStats:
    """Where the time went (for the benchmark)."""

    media_s: float = 0.0
    decode_s: float = 0.0
    embed_s: float = 0.0
    transcribe_s: float = 0.0
    segment_store_s: float = 0.0  # embedding transcript lines with the text encoder + upsert
    frames: int = 0
    segments: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def probe_video(path: str | Path) -> VideoInfo:
    """Duration, size and whether there is an audio stream; raises VideoDecodeError."""
    import av

    try:
        if Path(path).stat().st_size == 0:
            raise VideoDecodeError("empty file")
        container = av.open(str(path))
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        log.debug("PyAV cannot open %s: %s", path, _first_line(exc))
        raise VideoDecodeError("not a readable video (unrecognised or corrupt file)") from None
    with container:
        if not container.streams.video:
            raise VideoDecodeError("no video stream in the file")
        vs = container.streams.video[0]
        duration = 0.0
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        if duration <= 0 and container.duration:
            duration = container.duration / 1_000_000
        fps = float(vs.average_rate or vs.guessed_rate or 0) if (vs.average_rate or vs.guessed_rate) else 0.0
        return VideoInfo(duration, bool(container.streams.audio), vs.codec_context.width, vs.codec_context.height, fps)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


def _small_gray(img: Any) -> np.ndarray:
    return np.asarray(img.convert("L").resize((32, 18)), dtype=np.float32) / 255.0


def sample_frames(path: str | Path, fps: float = DEFAULT_FPS, scene_threshold: float | None = None) -> Iterator[tuple[float, Any]]:
    """Yield (time in s, PIL RGB image) every 1/fps seconds of media time and, with a
    `scene_threshold` (mean absolute change of a tiny grey thumbnail, 0–1), at scene cuts."""
    import av

    if fps <= 0 and scene_threshold is None:
        raise ValueError("sample by time (fps > 0), by scene change, or both")
    step = 1.0 / fps if fps > 0 else float("inf")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        log.debug("PyAV cannot open %s: %s", path, _first_line(exc))
        raise VideoDecodeError("not a readable video (unrecognised or corrupt file)") from None
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_t = 0.0
        last_gray: np.ndarray | None = None
        n = 0
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else n / max(1.0, float(stream.average_rate or 25))
                n += 1
                due = t + 1e-6 >= next_t
                if not due and scene_threshold is None:
                    continue
                w, h = frame.width, frame.height
                scale = min(1.0, FRAME_MAX_SIDE / max(w, h))
                img = frame.to_image(width=max(2, int(w * scale)), height=max(2, int(h * scale))) if scale < 1 else frame.to_image()
                if scene_threshold is not None:
                    gray = _small_gray(img)
                    cut = last_gray is not None and float(np.abs(gray - last_gray).mean()) >= scene_threshold
                    last_gray = gray
                    if not (due or cut):
                        continue
                if due:
                    while next_t <= t + 1e-6:
                        next_t += step
                yield max(0.0, t), img.convert("RGB")
        except (av.FFmpegError, ValueError) as exc:
            if n == 0:
                raise VideoDecodeError(f"corrupt video ({_first_line(exc)})") from None
            log.warning("%s: video stream ends early (%s); using what was decoded", path, _first_line(exc))
        if n == 0:
            raise VideoDecodeError("no video frames could be decoded")


def frame_id(digest: str, fps: float, scene_threshold: float | None, t: float) -> str:
    return item_id(digest, f"video/{fps:g}/{scene_threshold or 0:g}@{t:.3f}")


def video_row(path: Path, rid: str, t: float, end_s: float, vector: Any, thumb: str, info: VideoInfo, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored row of one sampled frame."""
    row = {
        "id": rid,
        "vector": vector,
        "source": str(path),
        "kind": "video",
        "title": path.stem,
        "start_s": round(t, 3),
        "end_s": round(end_s, 3),
        "meta": {"thumb": thumb, "duration_s": round(info.duration_s, 3), "has_audio": info.has_audio, "width": info.width, "height": info.height},
    }
    row.update(extra or {})
    return row


def index_video(
    paths: Sequence[str | Path],
    store: VectorStore,
    encoders: Sequence[Encoder],
    transcriber: Any | None = None,
    text_encoder: Encoder | None = None,
    fps: float = DEFAULT_FPS,
    scene_threshold: float | None = None,
    progress: Progress = True,
    stats: VideoStats | None = None,
) -> IndexReport:
    """Index every video under `paths`: frames with each image encoder, speech with the
    transcriber (None: frames only) into the text collection. Already stored files are skipped."""

    from indexers.images import label_extras

    t0 = time.perf_counter()
    stats = stats if stats is not None else VideoStats()
    report = IndexReport(kind="video")
    files, missing = discover(paths, VIDEO_EXTENSIONS)
    for p, reason in missing:
        report.skip(p, reason)
    collections: list[tuple[Encoder, Collection]] = [(enc, store.collection("video", enc.spec.id, enc.spec.dim, enc.spec.metric)) for enc in encoders]
    report.collections = [c.name for _, c in collections]

    work: list[tuple[Path, str, VideoInfo]] = []
    for p in files:
        try:
            digest = file_digest(p)
            info = probe_video(p)
        except VideoDecodeError as exc:
            report.skip(str(p), str(exc))
            continue
        except OSError as exc:
            report.skip(str(p), f"cannot read file ({exc.strerror or exc})")
            continue
        first = frame_id(digest, fps, scene_threshold, 0.0)
        if all(first in c.existing_ids([first]) for _, c in collections):
            report.unchanged += 1
            continue
        work.append((p, digest, info))

    bar = progress_bar(progress, round(sum(i.duration_s for _, _, i in work), 1), "s", "indexing video (media time)")
    for path, digest, info in work:
        try:
            n = _index_one(path, digest, info, store, collections, transcriber, text_encoder, fps, scene_threshold, stats, bar, label_extras)
        except VideoDecodeError as exc:
            report.skip(str(path), str(exc))
            continue
        report.indexed += 1
        stats.media_s += info.duration_s
        log.info("%s: %d frames", path, n)
    bar.close()
    for _, c in collections:
        c.flush()
    report.seconds = time.perf_counter() - t0
    return report


def _index_one(path, digest, info, store, collections, transcriber, text_encoder, fps, scene_threshold, stats, bar, describe) -> int:
    from indexers.image_io import save_thumbnail
    from indexers.model_inputs import inputs_for, prepare_inputs
    from indexers.thumbs import thumb_path

    encoders = [enc for enc, _ in collections]
    q: queue.Queue = queue.Queue(maxsize=3)
    done_s = [0.0]

    def produce() -> None:  # decode (and make the model inputs) on a worker while the model embeds
        batch: list[tuple[float, Any, dict[str, Any]]] = []
        try:
            t_dec = time.perf_counter()
            for t, img in sample_frames(path, fps, scene_threshold):
                batch.append((t, img, prepare_inputs(img, encoders)))
                if len(batch) >= _BATCH:
                    stats.decode_s += time.perf_counter() - t_dec
                    q.put(batch)
                    batch = []
                    t_dec = time.perf_counter()
            stats.decode_s += time.perf_counter() - t_dec
            if batch:
                q.put(batch)
            q.put(None)
        except Exception as exc:  # handed to the consumer, which reports it
            q.put(exc)

    worker = threading.Thread(target=produce, daemon=True, name="video-decode")
    worker.start()
    marker_rows: dict[int, dict[str, Any]] = {}
    n = 0
    step = 1.0 / fps if fps > 0 else None
    while True:
        item = q.get()
        if isinstance(item, Exception):
            worker.join()
            raise item if isinstance(item, VideoDecodeError) else VideoDecodeError(f"cannot decode video ({_first_line(item)})")
        if item is None:
            break
        t_emb = time.perf_counter()
        ts = [t for t, _, _ in item]
        imgs = [img for _, img, _ in item]
        prepared = [inputs for _, _, inputs in item]
        first_t = min(ts) if n == 0 else None
        ids = [frame_id(digest, fps, scene_threshold, 0.0 if t == first_t else t) for t in ts]
        thumbs = []
        for rid, img in zip(ids, imgs):
            tp = thumb_path(store.uri, rid)
            if not tp.exists():
                save_thumbnail(img, tp)
            thumbs.append(str(tp))
        for ci, (enc, coll) in enumerate(collections):
            inputs = inputs_for(enc, imgs, prepared)
            vecs = enc.embed_documents(inputs)
            extras = describe(enc, inputs)
            rows = []
            for rid, t, v, th, ex in zip(ids, ts, vecs, thumbs, extras):
                end = min(info.duration_s or t + (step or 1.0), t + (step or 1.0))
                rows.append(video_row(path, rid, t, max(end, t), v, th, info, ex))
            if first_t is not None:
                marker_rows[ci] = rows.pop(ts.index(first_t))  # written last: marks the file done
            if rows:
                coll.upsert(rows)
        stats.embed_s += time.perf_counter() - t_emb
        n += len(item)
        stats.frames += len(item)
        new_done = min(max(ts) + (step or 0.0), info.duration_s) if info.duration_s else max(ts)
        bar.update(round(max(0.0, new_done - done_s[0]) * (0.8 if transcriber and info.has_audio else 1.0), 1))
        done_s[0] = new_done
    worker.join()
    if n == 0:
        raise VideoDecodeError("no video frames could be decoded")

    if transcriber is not None and info.has_audio:
        t_tr = time.perf_counter()
        segs = transcribe_track(path, transcriber)
        stats.transcribe_s += time.perf_counter() - t_tr
        stats.segments += len(segs)
        if segs:
            from indexers.docs import index_segments

            t_seg = time.perf_counter()
            index_segments(store, path, segs, encoder=text_encoder, title=path.name)
            stats.segment_store_s += time.perf_counter() - t_seg
    for ci, (_, coll) in enumerate(collections):
        if ci in marker_rows:
            coll.upsert([marker_rows[ci]])
    bar.update(round(max(0.0, info.duration_s - bar.n), 1) if bar.total else 0)
    return n
