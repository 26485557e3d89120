"""A photo library of N items, end to end: write, index, size, query.

    python -m bench.library --n 2000 [--n 5000 …] [--store-sizes 10000,100000] [--device cpu] [--chunk 2000]

- Photos: Fashion-MNIST's 70,000 28×28 grayscale images (Debian's `dataset-fashion-mnist`,
  read as a gzip stream, one image at a time) written as small PNG files, 1,000 per folder;
  past 70,000, generated variants of them (mirrored, shifted, with seeded noise, so each one
  is new content). Nothing holds more than one image in memory while writing.
- Indexing: `indexers.images.index_images` with the offline profile's image encoders (or
  `--encoder`), into a fresh Milvus Lite `.db`, with a progress line per ~5 %; images/s is
  over the whole run (hash, decode, thumbnail, embed, upsert, flush, calibration). Files are
  hashed and checked against the store `--chunk` at a time (the indexer's default: 2,000).
- Memory: the bench process's peak RSS (VmHWM, reset before each run) and its RSS sampled at
  every batch, to show whether it grows with N; Milvus Lite's own server process is reported
  apart (it holds the collection, so it grows with N by design).
- Size: the `.db` on disk, and the thumbnails beside it.
- Warm queries over the indexed library (100 queries after 5 warm-ups): a word query
  through the profile's text→image encoder and a photo query through its image encoder,
  encode and store search timed apart.
- Store search at 10k / 100k rows (`--store-sizes`): random unit vectors of the image
  encoder's dim inserted straight into a collection (no model), then single queries, k=10.
  This measures the store part at sizes that would take hours to index on a small CPU.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import shutil
import statistics
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import markdown_table, write_result

log = logging.getLogger("bench.library")

FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")
PER_FOLDER = 1000
WORDS = ["a shoe", "a dress", "a bag", "a shirt", "trousers", "a sneaker", "an ankle boot", "a coat", "a pullover", "a sandal"]


# -- photos -------------------------------------------------------------------------------
def fashion_images(folder: Path = FASHION) -> Iterator[bytes]:
    """Fashion-MNIST's images (train then test) as 784 raw bytes each, streamed from the gzip files."""
    for name in FASHION_FILES:
        path = folder / name
        if not path.is_file():
            raise SystemExit(f"{path} is missing: apt-get install dataset-fashion-mnist")
        with gzip.open(path, "rb") as f:
            magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
            if magic != 2051 or (rows, cols) != (28, 28):
                raise SystemExit(f"{path} is not an IDX image file of 28×28 images")
            for _ in range(n):
                yield f.read(rows * cols)


def variant(raw: bytes, i: int) -> bytes:
    """A new 28×28 image made from a Fashion-MNIST one: mirrored, shifted and noised by `i`."""
    import numpy as np

    rng = np.random.default_rng(i)
    x = np.frombuffer(raw, dtype=np.uint8).reshape(28, 28).astype(np.int16)
    if i % 2:
        x = x[:, ::-1]
    x = np.roll(x, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
    x = np.clip(x + rng.integers(-12, 13, size=x.shape), 0, 255)
    return x.astype(np.uint8).tobytes()


def write_photos(dest: Path, n: int) -> int:
    """N PNG files under `dest` (1,000 per folder); returns how many were written."""
    from PIL import Image

    written = 0
    source = fashion_images()
    while written < n:
        raw = next(source, None)
        if raw is None:  # past 70,000: variants of what was read (re-read the files, one at a time)
            source = (variant(r, written + j) for j, r in enumerate(fashion_images()))
            continue
        folder = dest / f"{written // PER_FOLDER:03d}"
        if written % PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        Image.frombytes("L", (28, 28), raw).save(folder / f"{written:06d}.png", optimize=False)
        written += 1
    return written


# -- memory ---------------------------------------------------------------------------------
def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A process's resident memory (or its peak, field="VmHWM") in MB, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak() -> None:
    """Reset this process's peak RSS (Linux: `echo 5 > /proc/self/clear_refs`)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        log.warning("cannot reset the peak RSS; the figure is the process's lifetime peak")


def child_pids() -> list[int]:
    """This process's child processes (Milvus Lite's server runs as one)."""
    me = os.getpid()
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def tree_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


# -- runs -----------------------------------------------------------------------------------
def index_run(n: int, work: Path, encoder_ids: list[str], device: str, queries: int, chunk: int | None = None) -> dict:
    """Write N photos, index them into a fresh .db; measure speed, memory, size and queries."""
    import numpy as np

    from encoders import get_encoder
    from indexers.images import index_images
    from indexers.thumbs import thumbs_dir
    from milvus import VectorStore

    photos = work / f"photos_{n}"
    if not (photos / "done").exists():
        shutil.rmtree(photos, ignore_errors=True)
        t0 = time.perf_counter()
        write_photos(photos, n)
        (photos / "done").write_text(str(n))
        log.info("wrote %d photos in %.1f s", n, time.perf_counter() - t0)
    run_dir = work / f"run_{n}"  # its own folder: thumbnails live beside the .db
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    db = run_dir / "library.db"
    encoders = [get_encoder(e, device) for e in encoder_ids]
    for enc in encoders:  # model load is not indexing
        enc.load()
    store = VectorStore(str(db))
    samples: list[tuple[float, float]] = []  # (done, RSS MB) at every batch
    loads: list[float] = []  # 1-minute load average at every batch
    step = max(1, n // 20)
    last = [0.0]

    def sink(done: float, total: float) -> None:
        samples.append((done, rss_mb()))
        loads.append(os.getloadavg()[0])
        if done - last[0] >= step or done == total:
            last[0] = done
            log.info("indexed %d / %d (RSS %.0f MB)", done, total, samples[-1][1])

    reset_peak()
    t0 = time.perf_counter()
    report = index_images([photos], store, encoders, progress=sink, **({"chunk_size": chunk} if chunk else {}))
    seconds = time.perf_counter() - t0
    peak = rss_mb(field="VmHWM")
    lite = sum(rss_mb(p) for p in child_pids())
    thumbs = thumbs_dir(store.uri)
    out = {
        "n": n,
        "indexed": report.indexed,
        "failed": len(report.failed),
        "seconds": seconds,
        "per_s": report.indexed / seconds if seconds else 0.0,
        "peak_rss": peak,
        "rss_quarters": [pct([r for d, r in samples if d <= n * q / 4] or [float("nan")], 100) for q in (1, 2, 3, 4)],
        "lite_rss": lite,
        "db_mb": tree_mb(db),
        "thumbs_mb": tree_mb(thumbs) if thumbs.exists() else 0.0,
        "load": (min(loads), statistics.median(loads), max(loads)) if loads else (float("nan"),) * 3,
    }
    log.info("n=%d: %.1f images/s, peak RSS %.0f MB, RSS by quarter %s MB, load min/median/max %.1f/%.1f/%.1f",
             n, out["per_s"], peak, " / ".join(f"{x:.0f}" for x in out["rss_quarters"]), *out["load"])
    # warm queries: words through text→image, a photo through image→image; encode and store apart
    from encoders.profiles import PROFILES

    offline = PROFILES["offline"]
    text_enc = get_encoder(offline.text_to_image if offline.text_to_image in encoder_ids else encoder_ids[0], device)
    image_enc = get_encoder(offline.image_to_image if offline.image_to_image in encoder_ids else encoder_ids[0], device)
    from PIL import Image

    first = next(fashion_images())

    def query_photo(i: int) -> Image.Image:  # new content each time: no embedding cache can answer
        return Image.frombytes("L", (28, 28), variant(first, 10_000_000 + i)).convert("RGB")

    timings: dict[str, list[float]] = {"text encode": [], "text store": [], "photo encode": [], "photo store": []}
    for name, enc, make in (("text", text_enc, lambda i: WORDS[i % len(WORDS)] + f" #{i}"), ("photo", image_enc, query_photo)):
        if (name == "text" and "text" not in enc.spec.query_kinds) or (name == "photo" and "image" not in enc.spec.query_kinds):
            continue
        coll = store.find("image", enc.spec.id)
        for i in range(queries + 5):
            t1 = time.perf_counter()
            vec = enc.embed_queries([make(i)])[0]  # a new text each time: no query cache
            t2 = time.perf_counter()
            coll.search(np.asarray(vec)[None, :], k=10)
            t3 = time.perf_counter()
            if i >= 5:
                timings[f"{name} encode"].append((t2 - t1) * 1000)
                timings[f"{name} store"].append((t3 - t2) * 1000)
    out["queries"] = {k: (statistics.median(v), pct(v, 95)) for k, v in timings.items() if v}
    out["dim"] = image_enc.spec.dim
    from milvus.client import close

    close(store.uri)
    return out


def store_run(rows: int, dim: int, work: Path, queries: int) -> dict:
    """Random unit vectors inserted straight into a fresh collection; single-query latency, k=10."""
    import numpy as np

    from milvus import VectorStore
    from milvus.client import close

    db = work / f"store_{rows}.db"
    shutil.rmtree(db, ignore_errors=True)
    store = VectorStore(str(db))
    coll = store.collection("image", f"fake:{dim}", dim)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for start in range(0, rows, 5000):
        m = min(5000, rows - start)
        x = rng.standard_normal((m, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        coll.upsert([{"id": f"r{start + j:07d}", "vector": x[j], "source": f"/photos/{start + j}.png"} for j in range(m)])
    coll.flush()
    insert_s = time.perf_counter() - t0
    q = rng.standard_normal((queries + 5, dim)).astype(np.float32)
    ms = []
    for i, v in enumerate(q):
        t1 = time.perf_counter()
        coll.search(v[None, :], k=10)
        if i >= 5:
            ms.append((time.perf_counter() - t1) * 1000)
    out = {"rows": rows, "dim": dim, "insert_per_s": rows / insert_s, "p50": statistics.median(ms), "p95": pct(ms, 95), "db_mb": tree_mb(db)}
    close(store.uri)
    shutil.rmtree(db, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, action="append", help="library size; repeat for several (default 2000)")
    ap.add_argument("--encoder", action="append", help="image encoder id; repeat for several (default: the offline profile's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--store-sizes", default="10000,100000", help="rows for the store-only latency runs ('' for none)")
    ap.add_argument("--chunk", type=int, default=None, help="files hashed and checked against the store at a time (default: the indexer's)")
    ap.add_argument("--work", type=Path, default=None, help="where photos and databases go (default: a temp folder, removed)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("milvus", "pymilvus", "indexers", "encoders", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from encoders.profiles import PROFILES
    from indexers.images import CHUNK

    encoder_ids = args.encoder or list(PROFILES["offline"].image_encoders)
    sizes = args.n or [2000]
    load_start = os.getloadavg()[0]
    work = args.work or Path(tempfile.mkdtemp(prefix="mmsearch-library-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        runs = [index_run(n, work, encoder_ids, args.device, args.queries, args.chunk) for n in sizes]
        stores = [store_run(int(s), runs[0]["dim"], work, args.queries) for s in args.store_sizes.split(",") if s.strip()]
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    rows = []
    for r in runs:
        q = r["queries"]
        rows.append([
            f"{r['n']:,}", f"{r['indexed']:,}", f"{r['per_s']:.1f}", f"{r['seconds']:.0f}",
            f"{r['peak_rss']:.0f}", " / ".join(f"{x:.0f}" for x in r["rss_quarters"]), f"{r['lite_rss']:.0f}",
            f"{r['db_mb']:.1f}", f"{r['thumbs_mb']:.1f}",
            *(f"{q[k][0]:.1f} / {q[k][1]:.1f}" if k in q else "—" for k in ("text encode", "text store", "photo encode", "photo store")),
        ])
    table = markdown_table(
        ["photos", "indexed", "images/s", "seconds", "peak RSS MB", "RSS at ¼ / ½ / ¾ / end MB", "Lite server RSS MB",
         ".db MB", "thumbnails MB", "text encode p50/p95 ms", "text store p50/p95 ms", "photo encode p50/p95 ms", "photo store p50/p95 ms"],
        rows,
    )
    if stores:
        table += "\n\nStore search alone, random unit vectors inserted straight into a collection (no model), k=10, single queries:\n\n"
        table += markdown_table(
            ["rows", "dim", "insert rows/s", "search p50 ms", "search p95 ms", ".db MB"],
            [[f"{s['rows']:,}", s["dim"], f"{s['insert_per_s']:,.0f}", f"{s['p50']:.1f}", f"{s['p95']:.1f}", f"{s['db_mb']:.0f}"] for s in stores],
        )
    sizes_s = ",".join(str(n) for n in sizes)
    write_result(
        "library",
        "A photo library end to end (Fashion-MNIST + generated)",
        f"--n {sizes_s}, encoders {', '.join(encoder_ids)}, device {args.device}, {args.queries} warm queries, "
        f"store sizes {args.store_sizes}, chunk {args.chunk or CHUNK}",
        table,
        notes="Command: `python -m bench.library " + " ".join(f"--n {n}" for n in sizes)
        + (f" --queries {args.queries}" if args.queries != 100 else "") + (f" --chunk {args.chunk}" if args.chunk else "")
        + f" --store-sizes {args.store_sizes}`. "
        f"Load average at the start / end: {load_start:.1f} / {os.getloadavg()[0]:.1f} (on {os.cpu_count()} cores); "
        "during indexing (1-minute, sampled at every batch) min / median / max: "
        + ", ".join(f"{r['n']:,} photos {r['load'][0]:.1f} / {r['load'][1]:.1f} / {r['load'][2]:.1f}" for r in runs) + ".",
        pkgs=("torch", "timm", "sentence-transformers"),
    )


if __name__ == "__main__":
    main()
