"""A large catalogue from the database: import, count, categories, price range, filters, pages.

    python -m bench.catalogue_scale --n 100000 [--n 20000 …]

A generated CSV of N items (9 categories, prices unrelated to the id order, 4 small pictures
shared by every row) is imported with the `fake:16` encoder into a fresh Milvus Lite `.db`, so
what is timed is the import's own work (parse, validate, hash, upsert) and the store, not a
model. Then each browse the Catalogue page does is timed: every answer comes from queries
(`count(*)`, `distinct`, `lowest`, keyset pages; sorting by price and word filters read two or
three fields of the matching rows, never whole rows), and
the bench checks each answer against the CSV (a count, a page's ids) before it prints a figure.
Baseline: the same `count(*)` with no filter, timed in the same run.
"""

from __future__ import annotations

import argparse
import csv
import logging
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.common import markdown_table, write_result

log = logging.getLogger("bench.catalogue_scale")
CATEGORIES = [f"cat {c}" for c in "ABCDEFGH"] + ["it's"]


def _price(i: int) -> float:
    return round(((i * 7919) % 100_003) / 100 + 0.5, 2)


def write_catalogue(folder: Path, n: int) -> tuple[Path, list[tuple[str, float, str]]]:
    """The CSV and, per row, (id, price, category) to check the answers against."""
    from PIL import Image

    for k in range(4):
        Image.new("RGB", (8, 8), (60 * k, 10, 200 - 40 * k)).save(folder / f"i{k}.png")
    path = folder / "catalogue.csv"
    truth = []
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "price", "currency", "category", "image"])
        for i in range(n):
            row = (f"item-{i:07d}", _price(i), CATEGORIES[i % len(CATEGORIES)])
            truth.append(row)
            w.writerow([row[0], f"Thing {i}", f"{row[1]:.2f}", "EUR", row[2], f"i{i % 4}.png"])
    return path, truth


def timed(fn: Callable[[], Any], rounds: int) -> tuple[Any, float, float]:
    """The answer, and the p50 / max of `rounds` calls in ms."""
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return out, statistics.median(times), max(times)


def run(n: int, rounds: int, work: Path) -> list[list[Any]]:
    from app.search.catalogue import Catalogue, PriceQuery
    from encoders import get_encoder
    from encoders.profiles import Profile
    from indexers.catalogue import index_catalogue
    from milvus import VectorStore
    from milvus.client import close

    folder = work / f"cat{n}"
    folder.mkdir(parents=True)
    path, truth = write_catalogue(folder, n)
    uri = str(folder / "cat.db")
    store = VectorStore(uri)
    t0 = time.perf_counter()
    report = index_catalogue(path, store, [get_encoder("fake:16")], progress=False)
    import_s = time.perf_counter() - t0
    assert report.indexed == n and not report.failed, (report.indexed, report.failed[:3])
    fake = Profile("bench", image_encoders=("fake:16",), text_to_image="fake:16", image_to_image="fake:16", text="fake:16")
    cat = Catalogue(store, fake, "cpu")
    rows: list[list[Any]] = [[f"{n:,}", "import (fake encoder)", f"{n / import_s:,.0f} items/s", f"{import_s:.1f} s", "—", "—"]]
    base, b50, _ = timed(lambda: cat.count(), rounds)
    assert base == n

    def add(what: str, fn: Callable[[], Any], check: Callable[[Any], bool]) -> None:
        out, p50, worst = timed(fn, rounds)
        assert check(out), (what, out)
        rows.append([f"{n:,}", what, f"{p50:.1f}", f"{worst:.1f}", f"{p50 / b50:.1f}×", "ok"])

    rows.append([f"{n:,}", "count(*), no filter (baseline)", f"{b50:.1f}", "—", "1.0×", "ok"])
    in_b = [t for t in truth if t[2] == "cat B"]
    cheap_b = [t for t in in_b if t[1] <= 100]
    add("categories (distinct)", cat.categories, lambda c: c == sorted(CATEGORIES))
    add("price range (lowest, highest)", cat.price_range, lambda r: r == (min(t[1] for t in truth), max(t[1] for t in truth)))
    add("count: category B, price ≤ 100", lambda: cat.count(PriceQuery(categories=("cat B",), max_price=100)), lambda c: c == len(cheap_b))
    add("page 1 by id (24)", lambda: cat.browse(sort="id", page=0), lambda p: [h.id for h in p.hits] == [t[0] for t in truth[:24]])
    last = (n - 1) // 24
    add(f"page {last + 1:,} by id (the last)", lambda: cat.browse(sort="id", page=last), lambda p: [h.id for h in p.hits] == [t[0] for t in truth[last * 24 :]])
    by_price = sorted(cheap_b, key=lambda t: (t[1], t[0]))
    add("category B ≤ 100 by price, page 2", lambda: cat.browse(PriceQuery(categories=("cat B",), max_price=100), sort="price", page=1),
        lambda p: p.total == len(cheap_b) and [h.id for h in p.hits] == [t[0] for t in by_price[24:48]])
    word = str(n - 7)
    add(f"words 'thing {word}' (each in id, title or category)", lambda: cat.browse(text=f"thing {word}", sort="id", looks_k=0),
        lambda p: p.total >= 1 and f"Thing {word}" in [h.title for h in p.hits] and all(word in (h.title or "") for h in p.hits))
    close(uri)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, action="append", help="catalogue sizes (default 100000)")
    ap.add_argument("--rounds", type=int, default=5, help="timed calls per browse (p50 and worst reported)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sizes = args.n or [100_000]
    rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="mmsearch-catalogue-") as tmp:
        for n in sizes:
            rows += run(n, args.rounds, Path(tmp))
            log.info("%d items done", n)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = ", ".join(f"{x:.1f}" for x in __import__("os").getloadavg())
    table = markdown_table(["items", "what", "p50 ms (import: rate)", "worst ms (import: time)", "vs count(*)", "answer checked"], rows)
    notes = (f"Peak RSS of the bench process, import included: {peak_mb:,.0f} MB. "
             f"Load average at the end (1, 5, 15 min): {load} on {__import__('os').cpu_count()} cores.\n"
             f"Command: `python -m bench.catalogue_scale {' '.join(f'--n {n}' for n in sizes)} --rounds {args.rounds}`.")
    write_result("catalogue_scale", "A large catalogue, browsed from the database", f"--n {','.join(map(str, sizes))}, rounds {args.rounds}, encoder fake:16", table, notes)


if __name__ == "__main__":
    main()
