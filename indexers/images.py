"""Index folders of photos into one collection per image encoder of the profile."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from encoders.base import Encoder
from indexers import failpoints
from indexers.calibration import finish_collections
from indexers.files import digest_files, discover, item_id
from indexers.image_io import (
    IMAGE_EXTENSIONS,
    ImageDecodeError,
    open_image,
    save_thumbnail,
)
from indexers.model_inputs import ThreadPlan, inputs_for, pipeline_batch, prepare_inputs
from indexers.progress import Progress, progress_bar
from indexers.report import IndexReport, is_out_of_room
from indexers.thumbs import thumb_path
from milvus import Collection, VectorStore

log = logging.getLogger(__name__)
FIRST_STEP = 8  # photos in the first pipeline step (its decoding cannot overlap a forward pass)


@dataclass
class DecodedImage:
    path: Path
    id: str
    image: Any  # PIL.Image
    width: int
    height: int
    inputs: dict[str, Any]  # model inputs by `Encoder.prepare_key`, made on the worker


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
    img = open_image(path)
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
) -> IndexReport:
    """Index every image under `paths` with each encoder; skip what is already stored.

    Files are hashed first (cheap) so a re-run only decodes and embeds new content;
    the next batch decodes on worker threads while the model embeds the current one, and
    torch's threads beside them follow the measured costs (`ThreadPlan`).
    """

    t0 = time.perf_counter()
    batch_size = batch_size or pipeline_batch(encoders)
    report = IndexReport(kind="images")
    files, missing = discover(paths, IMAGE_EXTENSIONS)
    for p, reason in missing:
        report.skip(p, reason)
    collections: list[tuple[Encoder, Collection]] = [
        (enc, store.collection("image", enc.spec.id, enc.spec.dim, enc.spec.metric)) for enc in encoders
    ]
    report.collections = [c.name for _, c in collections]

    # 1. hash every file; keep those missing from any collection
    digests = digest_files(files, report, workers)
    ids = {p: item_id(d) for p, d in digests.items()}
    present = [c.existing_ids(ids.values()) for _, c in collections]
    todo = [p for p in digests if not all(ids[p] in s for s in present)]
    report.unchanged = len(digests) - len(todo)

    # 2. decode the next batch while embedding this one
    # a small first step: nothing overlaps its decoding, so the model waits for all of it
    first = min(batch_size, FIRST_STEP)
    batches = [todo[:first]] + [todo[i : i + batch_size] for i in range(first, len(todo), batch_size)] if todo else []
    bar = progress_bar(progress, len(todo), "img", "indexing images")
    with ThreadPoolExecutor(workers) as pool, ThreadPlan(workers, encoders) as plan:

        def submit(batch: list[Path]) -> list[Future]:
            return [pool.submit(plan.timed, _safe_decode, p, digests[p], store.uri, encoders) for p in batch]

        pending = submit(batches[0]) if batches else []
        for i, batch in enumerate(batches):
            t_wait = time.perf_counter()
            results = [f.result() for f in pending]
            t_ready = time.perf_counter()
            pending = submit(batches[i + 1]) if i + 1 < len(batches) else []
            good: list[DecodedImage] = []
            for p, res in zip(batch, results):
                if isinstance(res, str):
                    report.skip(str(p), res)
                else:
                    good.append(res)
            forward_s = _embed_and_store(good, collections, store.uri) if good else 0.0
            # the first batch's decoding overlapped nothing: its step starts when it is ready
            plan.record(len(good), time.perf_counter() - (t_ready if i == 0 else t_wait), forward_s)
            if good:
                report.indexed += len(good)
                failpoints.reached(failpoints.BATCH_STORED)
            bar.update(len(batch))
    bar.close()
    finish_collections(collections, bool(report.indexed))
    report.seconds = time.perf_counter() - t0
    return report


def _embed_and_store(batch: list[DecodedImage], collections: list[tuple[Encoder, Collection]], store_uri: str) -> float:
    """Embed and upsert one batch into every collection; return the seconds the models took."""
    images = [d.image for d in batch]
    prepared = [d.inputs for d in batch]
    model_s = 0.0
    for enc, coll in collections:
        inputs = inputs_for(enc, images, prepared)
        t0 = time.perf_counter()
        vecs = enc.embed_documents(inputs)
        extras = label_extras(enc, inputs)
        model_s += time.perf_counter() - t0
        rows = [image_row(d, v, store_uri, extra) for d, v, extra in zip(batch, vecs, extras)]
        coll.upsert(rows)
    return model_s


def label_extras(enc: Encoder, images: list[Any]) -> list[dict[str, Any]]:
    """Extra searchable text: the predicted labels, for encoders that classify."""
    return [{"text": text} if text is not None else {} for text in predicted_labels(enc, images)]


def predicted_labels(enc: Encoder, images: list[Any]) -> list[str | None]:
    """Top-5 ImageNet labels with probabilities, for encoders that classify (the offline
    label bridge); None for the others."""
    labels = enc.image_encoder.classify(images, top=5) if enc.image_encoder is not None else None
    if labels is None:
        return [None] * len(images)
    return ["; ".join(f"{name} ({p:.2f})" for name, p in top) for top in labels]
