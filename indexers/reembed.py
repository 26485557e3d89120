"""Fill a new model's collection from what the database already holds (a model switch).

The rows of the fullest collection of a kind name their `source`. Photos, sounds and videos
are indexed again from those files with the new encoders, exactly as `mmsearch index KIND`
would (default window and frame settings; video speech is left alone: transcripts live in
the text collection). Catalogue items and text chunks cannot always be read again (a
catalogue file, a URL, a transcript), so their rows are copied and only the vector is
made anew: the item's image from its stored source, the chunk's stored text.

Ids are content hashes, so a fill cut short (killed, cancelled) resumes where it stopped:
rows already in the new collection are skipped.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from encoders.base import Encoder
from indexers import failpoints
from indexers.progress import Progress, progress_bar
from indexers.calibration import finish_collections
from indexers.report import IndexReport
from milvus import Collection, VectorStore
from milvus.store import CollectionInfo

log = logging.getLogger(__name__)

BATCH = 32


def source_collection(store: VectorStore, kind: str, exclude: Sequence[str] = ()) -> CollectionInfo | None:
    """The fullest collection of `kind` not made by an encoder in `exclude` (None: nothing stored)."""
    found = [c for c in store.list_collections() if c.kind == kind and c.encoder not in exclude and c.count > 0]
    return max(found, key=lambda c: c.count) if found else None


def stored_sources(coll: Collection) -> list[str]:
    """The distinct `source` of every row, in first-seen order."""
    return list(dict.fromkeys(r["source"] for r in coll.scan(fields=("id", "source")) if r.get("source")))


def fill(store: VectorStore, kind: str, encoders: Sequence[Encoder], progress: Progress = True) -> IndexReport:
    """Fill the (kind, encoder) collections of `encoders` from the fullest other collection of
    `kind`. Nothing stored: an empty report."""
    source = source_collection(store, kind, exclude=[e.spec.id for e in encoders])
    if source is None:
        return IndexReport(kind)
    old = store.find(kind, source.encoder)
    assert old is not None
    log.info("filling %s for %s from %s (%d rows)", kind, ", ".join(e.spec.id for e in encoders), old.name, source.count)
    if kind == "image":
        from indexers.images import index_images

        return index_images(stored_sources(old), store, encoders, progress=progress)
    if kind == "audio":
        from indexers.audio import index_audio

        return index_audio(stored_sources(old), store, encoders, progress=progress)
    if kind == "video":
        from indexers.video import index_video

        return index_video(stored_sources(old), store, encoders, transcriber=None, progress=progress)
    if kind == "product":
        return _copy_rows(old, store, encoders, _product_vectors, progress)
    if kind == "doc":
        return _copy_rows(old, store, encoders, _text_vectors, progress)
    raise ValueError(f"no fill for collection kind {kind!r}")


def _copy_rows(old: Collection, store: VectorStore, encoders: Sequence[Encoder], vectors, progress: Progress) -> IndexReport:
    """Copy every row of `old` into each encoder's collection with a vector made by `vectors`."""
    t0 = time.perf_counter()
    report = IndexReport(old.kind)
    rows = list(old.scan(fields=("id", "source", "kind", "title", "text", "price", "currency", "category", "start_s", "end_s", "meta")))
    targets = [(enc, _target(store, old.kind, enc)) for enc in encoders]
    report.collections = [c.name for _, c in targets]
    bar = progress_bar(progress, len(rows), "item", f"filling {old.kind} with {', '.join(e.spec.id for e in encoders)}")
    for enc in encoders:
        enc.expect_documents(len(rows))
    for i in range(0, len(rows), BATCH):
        batch = rows[i : i + BATCH]
        ids = [r["id"] for r in batch]
        present = [c.existing_ids(ids) for _, c in targets]
        todo = [r for r in batch if not all(r["id"] in p for p in present)]
        report.unchanged += len(batch) - len(todo)
        wrote, failed_ids = False, set()
        for enc, coll in targets:
            made, failed = vectors(enc, todo, rows)
            for r, reason in failed:
                if r["id"] not in failed_ids:
                    failed_ids.add(r["id"])
                    report.skip(r.get("source") or r["id"], reason)
            new = [{**r, **extra, "vector": v} for r, (v, extra) in made]
            if new:
                coll.upsert(new)
                wrote = True
        report.indexed += len(todo) - len(failed_ids)
        if wrote:
            failpoints.reached(failpoints.BATCH_STORED)
        bar.update(len(batch))
    bar.close()
    finish_collections(targets, bool(report.indexed))
    report.seconds = time.perf_counter() - t0
    return report


def _target(store: VectorStore, kind: str, enc: Encoder) -> Collection:
    if kind == "doc":
        from indexers.docs import text_collection

        return text_collection(store, enc)
    return store.collection(kind, enc.spec.id, enc.spec.dim, enc.spec.metric)


def _text_vectors(enc: Encoder, todo: list[dict[str, Any]], everything: list[dict[str, Any]]):
    """Chunks: title › headings + text, as `index docs` embeds them; transcript segments: the
    line with its neighbours, as `index_segments` does."""
    from indexers.docs import SEGMENT_KIND, embedding_text

    if not todo:
        return [], []
    neighbours: dict[str, dict[int, str]] = defaultdict(dict)
    if any(r.get("kind") == SEGMENT_KIND for r in todo):
        for r in everything:
            if r.get("kind") == SEGMENT_KIND and isinstance(r.get("meta"), dict) and "segment" in r["meta"]:
                neighbours[r["source"]][int(r["meta"]["segment"])] = (r.get("text") or "").strip()
    texts = []
    for r in todo:
        meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
        if r.get("kind") == SEGMENT_KIND and "segment" in meta:
            lines = neighbours[r["source"]]
            n = int(meta["segment"])
            window = " ".join(lines[j] for j in range(n - 1, n + 2) if lines.get(j))
            texts.append(embedding_text(r.get("title") or "", (), window))
        else:
            texts.append(embedding_text(r.get("title") or "", meta.get("heading_path") or (), r.get("text") or ""))
    vecs = enc.embed_documents(texts)
    return [(r, (v, {})) for r, v in zip(todo, vecs)], []


def _product_vectors(enc: Encoder, todo: list[dict[str, Any]], everything: list[dict[str, Any]]):
    """Catalogue items: the image again from the row's source (a file or URL); an item whose
    image cannot be read is skipped with the reason. The stored words (title, category,
    predicted labels) are kept as they are."""
    from indexers.catalogue import fetch_url
    from indexers.image_io import ImageDecodeError, open_image
    from indexers.web import DownloadError, is_url

    good, images, failed = [], [], []
    for r in todo:
        try:
            src = r.get("source") or ""
            images.append(open_image(fetch_url(src) if is_url(src) else src, short_side=enc.image_side))
            good.append(r)
        except (ImageDecodeError, DownloadError, OSError, ValueError) as exc:
            failed.append((r, f"cannot read its image again ({str(exc).splitlines()[0][:120]})"))
    vecs = enc.embed_documents(images) if images else []
    return [(r, (v, {})) for r, v in zip(good, vecs)], failed
