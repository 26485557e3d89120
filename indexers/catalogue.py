"""Import a product catalogue (CSV or JSONL) into one `product` collection per image encoder.

Columns: `id, title, price, currency, category, image` (+ any extra columns, kept in
`meta["extra"]`). `image` is a path relative to the catalogue file (it may not escape
the file's folder) or an http(s) URL (fetched with a timeout and a size cap).

- The catalogue's own `id` is the row id, so a re-import of a changed row replaces it.
- `meta["hash"]` is a hash of the row's fields and its image bytes (for URLs: the URL),
  so unchanged rows are neither decoded, embedded nor written again.
- Bad rows (missing, negative or non-numeric price, bad id, missing image, …) are
  reported with their line number and skipped; the rest import.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import re
import time
import unicodedata
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

from encoders.base import Encoder
from indexers.image_io import ImageDecodeError, open_image, save_thumbnail
from indexers.forward_plan import ForwardPlan
from indexers.images import embed_and_label
from indexers.model_inputs import decode_side, inputs_for, pipeline_batch, prepare_inputs
from indexers.progress import Progress, progress_bar
from indexers.report import IndexReport, is_out_of_room
from indexers.thumbs import thumb_path
from indexers.web import DownloadError, download, is_url
from milvus import Collection, Filter, VectorStore

log = logging.getLogger(__name__)

KIND = "product"
KNOWN_COLUMNS = ("id", "title", "price", "currency", "category", "image")
REQUIRED_COLUMNS = ("id", "price", "image")
MAX_ID_BYTES = 64  # the row id column is VARCHAR(64)
MAX_ROWS = 1_000_000
QUERY_WINDOW = 16_384  # Milvus: offset + limit of one query
URL_TIMEOUT_S = 10.0
URL_MAX_BYTES = 20 * 1024 * 1024
HASH_VERSION = "catalogue-v1"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class CatalogueError(ValueError):
    """The catalogue file as a whole cannot be read (bad format, missing columns)."""


class RowError(ValueError):
    """One row is invalid; the message says why in a few words."""


@dataclass
class CatalogueItem:
    """One valid row of a catalogue file."""

    line: int
    id: str
    price: float
    image: str  # as written in the file
    title: str | None = None
    currency: str | None = None
    category: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CatalogueReport(IndexReport):
    """An IndexReport that also counts updated (changed) rows and pruned ones."""

    updated: int = 0
    removed: int = 0

    def summary(self) -> str:
        head, *rest = super().summary().split("\n")
        extra = f" ({self.updated} of them updated)" if self.updated else ""
        if self.removed:
            extra += f", {self.removed} removed"
        return "\n".join([head.replace(" indexed,", f" indexed{extra},", 1), *rest])

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update(updated=self.updated, removed=self.removed)
        return out


# -- reading and validating -----------------------------------------------------------
def parse_price(value: Any) -> float:
    """A price as a finite, non-negative float; RowError says what is wrong."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RowError("missing price")
    if isinstance(value, bool):
        raise RowError(f"price is not a number: {value!r}")
    if isinstance(value, (int, float)):
        try:
            price = float(value)
        except OverflowError:  # a JSON integer beyond a float's range
            raise RowError(f"price is not a finite number: {_short(value)}") from None
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        price = float(value.strip())
    else:
        raise RowError(f"price is not a number: {_short(value)}")
    if not math.isfinite(price):
        raise RowError(f"price is not a finite number: {_short(value)}")
    if price < 0:
        raise RowError(f"negative price: {_short(value)}")
    return price


def validate_id(value: Any) -> str:
    """A catalogue id: 1–64 UTF-8 bytes, no control characters or backslashes."""
    if value is None:
        raise RowError("missing id")
    text = str(value).strip() if not isinstance(value, bool) else ""
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    if not text:
        raise RowError("missing id")
    if len(text.encode("utf-8")) > MAX_ID_BYTES:
        raise RowError(f"id longer than {MAX_ID_BYTES} bytes: {_short(text)}")
    if "\\" in text or any(unicodedata.category(c).startswith("C") for c in text):
        raise RowError(f"id contains a backslash or control character: {_short(text)}")
    return text


def _opt_text(value: Any, max_len: int) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:max_len] or None


def _short(value: Any, n: int = 40) -> str:
    text = repr(value) if not isinstance(value, str) else repr(value.strip())
    return text if len(text) <= n else text[: n - 1] + "…'"


def _item_from_record(record: dict[str, Any], line: int) -> CatalogueItem:
    item_id = validate_id(record.get("id"))
    price = parse_price(record.get("price"))
    image = record.get("image")
    if image is None or not str(image).strip():
        raise RowError("missing image")
    currency = _opt_text(record.get("currency"), 16)
    extra = {k: v for k, v in record.items() if k not in KNOWN_COLUMNS and k is not None and v not in (None, "")}
    return CatalogueItem(
        line=line,
        id=item_id,
        price=price,
        image=str(image).strip(),
        title=_opt_text(record.get("title"), 1024),
        currency=currency.upper() if currency else None,
        category=_opt_text(record.get("category"), 256),
        extra=extra,
    )


def detect_format(path: Path, text: str) -> str:
    """"csv" or "jsonl", from the suffix, else from the first non-blank character."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _canonical_columns(names: Sequence[str]) -> list[str]:
    """Known columns match case-insensitively (`Price` → `price`); others keep their name."""
    out = []
    for n in names:
        key = (n or "").strip()
        out.append(key.lower() if key.lower() in KNOWN_COLUMNS else key)
    return out


def _csv_records(text: str, delimiter: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CatalogueError("the catalogue is empty") from None
    except csv.Error as exc:  # e.g. a first line over csv's field size limit: not a CSV header
        raise CatalogueError(f"the catalogue's first line is not a CSV header ({exc})") from None
    columns = _canonical_columns(header)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise CatalogueError(
            f"the catalogue has no {', '.join(missing)} column(s); its header is: {', '.join(header)[:200]}"
        )
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last_line = reader.line_num
            yield start, RowError(f"unreadable CSV ({exc})")
            continue
        last_line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) > len(columns):
            yield start, RowError(f"{len(fields)} fields but the header has {len(columns)}")
            continue
        yield start, dict(zip(columns, fields + [""] * (len(columns) - len(fields))))


def _jsonl_records(text: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    # Lines end at \n, \r\n or \r only: JSON strings may hold U+2028 and other characters
    # that str.splitlines() would also break at.
    for n, raw in enumerate(_LINE_BREAK.split(text), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield n, RowError(f"not valid JSON ({exc.msg})")
            continue
        except (ValueError, RecursionError) as exc:  # an integer over 4300 digits, nesting too deep
            yield n, RowError(f"not valid JSON ({type(exc).__name__}: {str(exc)[:80]})")
            continue
        if not isinstance(obj, dict):
            yield n, RowError("not a JSON object")
            continue
        record = dict(zip(_canonical_columns(list(obj)), obj.values()))
        yield n, record


class CatalogueFile(NamedTuple):
    items: list[CatalogueItem]  # the valid rows
    problems: list[tuple[int, str]]  # (line, reason) per bad row
    ids: set[str]  # every readable id, valid row or not (`--prune` keeps a product whose row is broken)


def read_catalogue(path: str | Path) -> CatalogueFile:
    """Read and validate a catalogue file. Duplicate ids: the first wins."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise CatalogueError(f"no such catalogue file: {path}") from None
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    fmt = detect_format(path, text)
    if fmt == "jsonl":
        records = _jsonl_records(text)
    else:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        records = _csv_records(text, delimiter)
    items: list[CatalogueItem] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    seen: set[str] = set()
    for line, record in records:
        if isinstance(record, RowError):
            problems.append((line, str(record)))
            continue
        try:
            seen.add(validate_id(record.get("id")))
        except RowError:
            pass
        try:
            item = _item_from_record(record, line)
        except RowError as exc:
            problems.append((line, str(exc)))
            continue
        if item.id in first_line:
            problems.append((line, f"duplicate id {item.id!r} (first on line {first_line[item.id]})"))
            continue
        first_line[item.id] = line
        items.append(item)
        if len(items) > MAX_ROWS:
            raise CatalogueError(f"more than {MAX_ROWS:,} rows; split the catalogue")
    return CatalogueFile(items, problems, seen)


# -- images -----------------------------------------------------------------------------
def resolve_image(ref: str, base_dir: Path) -> Path:
    """The local file for an image reference, refusing paths outside `base_dir`."""
    scheme = urllib.parse.urlsplit(ref).scheme
    if len(scheme) > 1:  # "c:" is a drive letter, not a scheme
        raise RowError(f"unsupported image location {_short(ref)} (use a relative path or an http(s) URL)")
    base = base_dir.resolve()
    try:
        target = (base / ref).resolve()
        inside = target.is_relative_to(base)
        found = inside and target.is_file()
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the file system
        raise RowError(f"unusable image path {_short(ref)} ({getattr(exc, 'strerror', None) or exc})") from None
    if not inside:
        raise RowError(f"image path escapes the catalogue's folder: {_short(ref)}")
    if not found:
        raise RowError(f"image not found: {_short(ref)}")
    return target


def fetch_url(url: str, timeout: float = URL_TIMEOUT_S, max_bytes: int = URL_MAX_BYTES) -> bytes:
    """Download an image with a timeout and a size cap."""
    try:
        return download(url, timeout, max_bytes, accept="image/*", user_agent="mmsearch-catalogue/1").body
    except DownloadError as exc:
        if exc.too_large:
            raise RowError(f"image at {_short(url, 80)} is larger than {max_bytes // 1_000_000} MB") from None
        raise RowError(f"cannot fetch image {_short(url, 80)} ({exc})") from None


@dataclass
class _Prepared:
    item: CatalogueItem
    source: str  # absolute path or URL
    hash: str


def row_hash(item: CatalogueItem, image_digest: str) -> str:
    """Hash of everything stored for a row: its fields, the image reference and bytes."""
    payload = json.dumps(
        {
            "v": HASH_VERSION,
            "id": item.id,
            "title": item.title,
            "price": item.price,
            "currency": item.currency,
            "category": item.category,
            "image": item.image,
            "extra": item.extra,
            "image_digest": image_digest,
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _prepare(item: CatalogueItem, base_dir: Path, allow_urls: bool) -> _Prepared:
    if is_url(item.image):
        if not allow_urls:
            raise RowError("image URLs are turned off (--no-urls)")
        # URL rows hash the URL, not the bytes: a re-import must not download everything again.
        return _Prepared(item, item.image, row_hash(item, "url"))
    path = resolve_image(item.image, base_dir)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return _Prepared(item, str(path), row_hash(item, digest))


# -- storing -------------------------------------------------------------------------
def stored_hashes(coll: Collection, ids: Sequence[str]) -> dict[str, str | None]:
    """id → meta["hash"] for the ids already in `coll` (queried with typed filters)."""
    out: dict[str, str | None] = {}
    ids = list(ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for row in coll.query(Filter.is_in("id", chunk), limit=len(chunk)):
            meta = row.get("meta") or {}
            out[row["id"]] = meta.get("hash") if isinstance(meta, dict) else None
    return out


def all_ids(coll: Collection) -> Iterator[str]:
    """Every row id in a collection, streamed by Milvus's query iterator (any size: no
    offset + limit window)."""
    for row in coll.scan(fields=("id",), batch_size=4096):
        yield row["id"]


def _delete(coll: Collection, ids: list[str]) -> None:
    """Delete rows by id (`Collection.delete` goes through a typed filter, quotes and all)."""
    coll.delete(ids)


def product_row(prep: _Prepared, vector: Any, store_uri: str, size: tuple[int, int], text: str | None) -> dict[str, Any]:
    it = prep.item
    words = [it.title or "", it.category or ""] + [v for v in it.extra.values() if isinstance(v, str) and not _NUMBER.fullmatch(v)]
    description = " · ".join(w for w in words if w)
    return {
        "id": it.id,
        "vector": vector,
        "source": prep.source,
        "kind": KIND,
        "title": it.title or it.id,
        "price": it.price,
        "currency": it.currency,
        "category": it.category,
        "text": "; ".join(t for t in (description, text) if t) or None,
        "meta": {
            "hash": prep.hash,
            "thumb": str(thumb_path(store_uri, prep.hash)),
            "image": it.image,
            "line": it.line,
            "width": size[0],
            "height": size[1],
            "extra": it.extra,
        },
    }


def _decode(prep: _Prepared, store_uri: str, url_timeout: float, encoders: Sequence[Encoder]) -> tuple[Any, dict[str, Any]]:
    """The decoded image and its model inputs (run on worker threads)."""
    source: str | bytes = fetch_url(prep.source, url_timeout) if is_url(prep.source) else prep.source
    img = open_image(source, short_side=decode_side(encoders))
    tp = thumb_path(store_uri, prep.hash)
    if not tp.exists():
        save_thumbnail(img, tp)
    return img, prepare_inputs(img, encoders)


def index_catalogue(
    path: str | Path,
    store: VectorStore,
    encoders: Sequence[Encoder],
    batch_size: int | None = None,
    progress: Progress = False,
    allow_urls: bool = True,
    url_timeout: float = URL_TIMEOUT_S,
    prune: bool = False,
    workers: int = 2,
) -> CatalogueReport:
    """Import (or re-import) a catalogue file into a `product` collection per encoder."""

    t0 = time.perf_counter()
    batch_size = batch_size or pipeline_batch(encoders)
    path = Path(path)
    report = CatalogueReport(kind="catalogue")
    items, problems, file_ids = read_catalogue(path)
    where = path.name
    for line, reason in problems:
        report.skip(f"{where}:{line}", reason)
    collections: list[tuple[Encoder, Collection]] = [
        (enc, store.collection(KIND, enc.spec.id, enc.spec.dim, enc.spec.metric)) for enc in encoders
    ]
    report.collections = [c.name for _, c in collections]

    # 1. resolve and hash images (cheap), keep rows whose hash differs in some collection
    prepared: list[_Prepared] = []
    base_dir = path.resolve().parent
    with ThreadPoolExecutor(workers) as pool:
        futures = [(it, pool.submit(_prepare, it, base_dir, allow_urls)) for it in items]
        for it, fut in futures:
            try:
                prepared.append(fut.result())
            except RowError as exc:
                report.skip(f"{where}:{it.line}", str(exc))
            except OSError as exc:
                report.skip(f"{where}:{it.line}", f"cannot read image ({exc.strerror or exc})")
    stored = [stored_hashes(c, [p.item.id for p in prepared]) for _, c in collections]
    todo = [p for p in prepared if any(s.get(p.item.id) != p.hash for s in stored)]
    was_there = {p.item.id for p in todo if any(p.item.id in s for s in stored)}
    report.unchanged = len(prepared) - len(todo)

    # 2. decode the next batch on worker threads while the models embed this one
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    bar = progress_bar(progress, len(todo), "item", "importing catalogue")
    for enc, _ in collections:
        enc.expect_documents(len(todo))
    with ThreadPoolExecutor(workers) as pool, ForwardPlan(encoders) as plan:
        pending = [pool.submit(_decode, p, store.uri, url_timeout, encoders) for p in batches[0]] if batches else []
        for i, batch in enumerate(batches):
            t_step = time.perf_counter()
            results = []
            for p, fut in zip(batch, pending):
                try:
                    results.append((p, fut.result()))
                except (RowError, ImageDecodeError) as exc:
                    report.skip(f"{where}:{p.item.line}", str(exc))
                except OSError as exc:
                    if is_out_of_room(exc):  # writing the thumbnail failed: stop, the row is fine
                        raise
                    report.skip(f"{where}:{p.item.line}", f"cannot read image ({exc.strerror or exc})")
            pending = [pool.submit(_decode, p, store.uri, url_timeout, encoders) for p in batches[i + 1]] if i + 1 < len(batches) else []
            if results:
                _embed_and_store(results, collections, store.uri, plan)
                plan.record(len(results), time.perf_counter() - t_step)
                report.indexed += len(results)
                report.updated += sum(1 for p, _ in results if p.item.id in was_there)
            bar.update(len(batch))
    bar.close()

    if prune:
        keep = file_ids
        for _, coll in collections:
            gone = [i for i in all_ids(coll) if i not in keep]
            for j in range(0, len(gone), 500):
                _delete(coll, gone[j : j + 500])
            report.removed = max(report.removed, len(gone))
    for _, coll in collections:
        coll.flush()
    report.failed.sort(key=lambda f: int(f[0].rpartition(":")[2]))  # in file order
    report.seconds = time.perf_counter() - t0
    log.info("catalogue %s: %s", path, report.summary().splitlines()[0])
    return report


def _embed_and_store(
    batch: list[tuple[_Prepared, tuple[Any, dict[str, Any]]]],
    collections: list[tuple[Encoder, Collection]],
    store_uri: str,
    plan: ForwardPlan,
) -> None:
    images = [img for _, (img, _) in batch]
    prepared = [inputs for _, (_, inputs) in batch]
    for enc, coll in collections:
        vecs, labels = embed_and_label(enc, inputs_for(enc, images, prepared), plan)
        rows = [
            product_row(p, v, store_uri, img.info.get("orig_size", img.size), lab)
            for (p, (img, _)), v, lab in zip(batch, vecs, labels)
        ]
        coll.upsert(rows)

