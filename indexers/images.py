"""Index folders of photos into one collection per image encoder of the profile."""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from encoders.base import Encoder
from indexers import failpoints
from indexers.calibration import finish_collections
from indexers.files import count_files, digest_files, item_id, iter_files
from indexers.image_io import (
    IMAGE_EXTENSIONS,
    ImageDecodeError,
    open_image,
    save_thumbnail,
)
from indexers.forward_plan import ForwardPlan, Step
from indexers.model_inputs import decode_side, inputs_for, pipeline_batch, prepare_inputs
from indexers.progress import Progress, progress_bar
from indexers.report import IndexReport, is_out_of_room
from indexers.store_behind import StoreBehind
from indexers.thumbs import thumb_path
from milvus import Collection, VectorStore

log = logging.getLogger(__name__)
FIRST_STEP = 8  # photos in the first pipeline step (its decoding cannot overlap a forward pass)
# Files hashed and checked against the store at a time: the run's bookkeeping is one chunk's,
# not the library's (~77 MB of paths, digests and ids at 100k files when it was all kept).
CHUNK = 2000
T = TypeVar("T")


@dataclass
class DecodedImage:
    path: Path
    id: str
    image: Any  # PIL.Image
    width: int
    height: int
    inputs: dict[str, Any]  # model inputs by `Encoder.prepare_key`, made where it was decoded


Rows = tuple[Collection, list[dict[str, Any]]]  # one collection's rows of a step


def image_row(decoded: DecodedImage, vector, store_uri: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored row for a photo."""
    row = {
        "id": decoded.id,
        "vector": vector,
        "source": str(decoded.path),
        "kind": "image",
        "title": decoded.path.stem,
        "meta": {"width": decoded.width, "height": decoded.height, "thumb": str(thumb_path(store_uri, decoded.id))},
    }
    row.update(extra or {})
    return row


def _decode(path: Path, digest: str, store_uri: str, encoders: Sequence[Encoder]) -> DecodedImage:
    img = open_image(path, short_side=decode_side(encoders))
    w, h = img.info["orig_size"]
    rid = item_id(digest)
    tp = thumb_path(store_uri, rid)
    if not tp.exists():
        save_thumbnail(img, tp)
    return DecodedImage(path, rid, img, w, h, prepare_inputs(img, encoders))


def _safe_decode(path: Path, digest: str, store_uri: str, encoders: Sequence[Encoder]) -> DecodedImage | str:
    try:
        return _decode(path, digest, store_uri, encoders)
    except ImageDecodeError as exc:
        return str(exc)
    except OSError as exc:
        if is_out_of_room(exc):  # writing the thumbnail failed: stop the run, the file is fine
            raise
        return f"cannot read file ({exc.strerror or exc})"


def index_images(
    paths: Sequence[str | Path],
    store: VectorStore,
    encoders: Sequence[Encoder],
    batch_size: int | None = None,
    progress: Progress = True,
    workers: int = 2,
    chunk_size: int = CHUNK,
) -> IndexReport:
    """Index every image under `paths` with each encoder; skip what is already stored.

    Files stream from the folder walk in chunks of `chunk_size`: each chunk is hashed (cheap)
    and checked against the store, so a re-run only decodes and embeds new content, and the
    run holds one chunk's bookkeeping whatever the library's size.

    Each step embeds a batch in one of two ways, whichever measures faster (`ForwardPlan`):
    in lanes, where each lane (a core's share) decodes its photos and then embeds them, so no
    thread waits for another's work and none is preempted mid-forward; or in one forward pass
    on every core (or an accelerator) while worker threads decode the next batch. The batch
    before is written to the store meanwhile (`StoreBehind`). The progress total is every file
    found; files already stored (or unreadable) count as done when their chunk is checked.
    """

    t0 = time.perf_counter()
    batch_size = batch_size or pipeline_batch(encoders)
    chunk_size = max(1, chunk_size)
    report = IndexReport(kind="images")
    total = count_files(paths, IMAGE_EXTENSIONS, on_missing=report.skip)  # a walk that keeps nothing
    collections: list[tuple[Encoder, Collection]] = [
        (enc, store.collection("image", enc.spec.id, enc.spec.dim, enc.spec.metric)) for enc in encoders
    ]
    report.collections = [c.name for _, c in collections]
    for enc in encoders:
        enc.expect_documents(total)  # files found: a long run repays a one-time speed-up (`encoders.frozen`)
    bar = progress_bar(progress, total, "img", "indexing images")

    with ThreadPoolExecutor(workers) as pool, ForwardPlan(encoders) as plan, StoreBehind() as behind:

        def todo() -> Iterator[tuple[Path, str]]:
            """(file, digest) of each file missing from a collection, one chunk checked at a time."""
            for chunk in _chunks(iter_files(paths, IMAGE_EXTENSIONS), chunk_size):
                failed_before = len(report.failed)
                digests = digest_files(chunk, report, workers, pool)
                ids = {p: item_id(d) for p, d in digests.items()}
                behind.wait()  # a copy of a file in the batch being written is then seen as stored
                present = [c.existing_ids(ids.values()) for _, c in collections]
                new = [(p, digests[p]) for p in digests if not all(ids[p] in s for s in present)]
                unchanged = len(digests) - len(new)
                report.unchanged += unchanged
                del chunk, digests, ids, present
                skipped = unchanged + len(report.failed) - failed_before
                if skipped:
                    bar.update(skipped)
                yield from new

        def decode_ahead(batch: list[tuple[Path, str]]) -> list[Future]:
            return [pool.submit(_safe_decode, p, digest, store.uri, encoders) for p, digest in batch]

        def lane(sources: list[Callable[[], DecodedImage | str]]) -> tuple[list[DecodedImage | str], list[Rows]]:
            """Decode (unless the workers did) and embed one lane's share of a step."""
            results = [get() for get in sources]
            return results, _embed([r for r in results if not isinstance(r, str)], collections, store.uri)

        # a small first step: when it decodes ahead, nothing overlaps its decoding
        batches = _batches(todo(), min(batch_size, FIRST_STEP), batch_size)
        batch = next(batches, [])
        ahead: list[Future] | None = None  # the batch's decoding, started on the workers
        started: deque[tuple[list[tuple[Path, str]], Step]] = deque()
        t_last = time.perf_counter()  # when the last step was done (or the run began)
        checking_s = 0.0  # time since then spent hashing and checking files, not on a step
        while batch or started:
            if batch and (not started or (plan.queues_steps and len(started) < 2)):
                if plan.decodes_ahead:
                    ahead = ahead or decode_ahead(batch)  # the step before decoded in lanes: start now
                    wait(ahead)
                t_pull = time.perf_counter()
                following = next(batches, [])  # may hash and check the next chunk
                checking_s += time.perf_counter() - t_pull
                if ahead is not None:
                    sources: list[Callable[[], DecodedImage | str]] = [f.result for f in ahead]
                else:  # each lane decodes its share, then embeds it: no thread waits for another's work
                    sources = [partial(_safe_decode, p, digest, store.uri, encoders) for p, digest in batch]
                ahead = decode_ahead(following) if plan.decodes_ahead and following else None
                started.append((batch, plan.start_in_lanes(lane, sources)))
                batch = following
                continue
            done, step = started.popleft()
            lanes = step.results()
            good: list[DecodedImage] = []
            for (p, _), res in zip(done, (r for results, _ in lanes for r in results)):
                if isinstance(res, str):
                    report.skip(str(p), res)
                else:
                    good.append(res)
            if good:
                rows = _merge_lanes([rows for _, rows in lanes])
                behind.submit(lambda rows=rows: _write(rows), lambda n=len(good): _stored(report, n))
            now = time.perf_counter()
            plan.record(len(good), now - t_last - checking_s, step.schedule)
            t_last, checking_s = now, 0.0
            bar.update(len(done))
            del lanes, good
    bar.close()
    finish_collections(collections, bool(report.indexed))
    report.seconds = time.perf_counter() - t0
    return report


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter), pulled lazily."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _batches(items: Iterable[T], first: int, size: int) -> Iterator[list[T]]:
    """A batch of `first` items, then batches of `size`, pulled lazily across chunk boundaries."""
    it = iter(items)
    n = first
    while batch := list(islice(it, n)):
        yield batch
        n = size


def _embed(batch: list[DecodedImage], collections: list[tuple[Encoder, Collection]], store_uri: str) -> list[Rows]:
    """The rows of `batch` for every collection, embedded on this thread."""
    images = [d.image for d in batch]
    prepared = [d.inputs for d in batch]
    out = []
    for enc, coll in collections:
        vecs, labels = embed_one_lane(enc, inputs_for(enc, images, prepared))
        out.append((coll, [image_row(d, v, store_uri, extra) for d, v, extra in zip(batch, vecs, text_extras(labels))]))
    return out


def _merge_lanes(lanes: list[list[Rows]]) -> list[Rows]:
    """Each collection's rows from every lane, in the lanes' order."""
    return [(coll, [row for rows in lanes for row in rows[k][1]]) for k, (coll, _) in enumerate(lanes[0])]


def _write(rows: list[tuple[Collection, list[dict[str, Any]]]]) -> None:
    for coll, coll_rows in rows:
        coll.upsert(coll_rows)


def _stored(report: IndexReport, n: int) -> None:
    """`n` photos are in every collection: count them, and tell a crash test (`failpoints`)."""
    report.indexed += n
    failpoints.reached(failpoints.BATCH_STORED)


def embed_one_lane(enc: Encoder, inputs: list[Any]) -> tuple[Any, list[str | None]]:
    """Vectors and predicted labels (`predicted_labels`) of `inputs`, on this thread; the
    labels come from the same forward pass where the encoder classifies (`classify` reuses it)."""
    return enc.embed_documents(inputs), predicted_labels(enc, inputs)


def embed_and_label(enc: Encoder, inputs: list[Any], plan: ForwardPlan) -> tuple[Any, list[str | None]]:
    """`embed_one_lane` of `inputs`, on a CPU in the plan's lanes."""
    import numpy as np

    lanes = plan.in_lanes(partial(embed_one_lane, enc), inputs) if enc.device == "cpu" else [embed_one_lane(enc, inputs)]
    return np.concatenate([v for v, _ in lanes]), [label for _, labels in lanes for label in labels]


def label_extras(enc: Encoder, images: list[Any]) -> list[dict[str, Any]]:
    """Extra searchable text: the predicted labels, for encoders that classify."""
    return text_extras(predicted_labels(enc, images))


def text_extras(labels: list[str | None]) -> list[dict[str, Any]]:
    """Row extras that make predicted labels searchable text (none where there are none)."""
    return [{"text": text} if text is not None else {} for text in labels]


def predicted_labels(enc: Encoder, images: list[Any]) -> list[str | None]:
    """Top-5 ImageNet labels with probabilities, for encoders that classify (the offline
    label bridge); None for the others."""
    labels = enc.image_encoder.classify(images, top=5) if enc.image_encoder is not None else None
    if labels is None:
        return [None] * len(images)
    return ["; ".join(f"{name} ({p:.2f})" for name, p in top) for top in labels]
