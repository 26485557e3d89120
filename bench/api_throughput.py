"""Queries through `mmsearch serve`'s HTTP API at 1, 4 and 16 concurrent clients, and the CLI's
time to answer with and without a running server.

    python -m bench.api_throughput --n 10000

Builds a library of N generated photos (offline profile: EfficientNet-Lite0 + the label bridge),
starts the server on loopback, warms it, then runs text queries from C client threads for a fixed
number of requests each; every query text is distinct, so each pays its text encoding. The baseline row is one client: the other rows' ratios are to it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bench.common import fresh_dir, log, markdown_table, write_result

QUERIES = ["a cat", "a red car", "coffee", "a rocket", "the sea", "a person", "flowers", "a dog", "a building", "food"]


def make_photos(folder: Path, n: int, seed: int = 0) -> Path:
    """N small JPEGs of coloured blocks and noise (different content hashes)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        path = folder / f"p{i:06d}.jpg"
        if path.exists():
            continue
        img = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
        img[: 48, :, :] = rng.integers(0, 255, 3, dtype=np.uint8)
        Image.fromarray(img).save(path, quality=80)
    return folder


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_clients(url: str, clients: int, per_client: int) -> tuple[float, list[float]]:
    """(queries per second, latencies in s) of `clients` threads sending `per_client` queries each."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        mine = []
        for i in range(per_client):
            # distinct texts: the engine caches query vectors, and each query should pay its encode
            query = f"{QUERIES[(c + i) % len(QUERIES)]} {c * per_client + i}"
            body = json.dumps({"q": query, "kind": "image", "k": 10}).encode()
            req = urllib.request.Request(url + "/api/search/text", data=body, headers={"Content-Type": "application/json"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=120) as r:
                r.read()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - t0), latencies


def cli_seconds(db: str, runs: int = 3) -> float:
    """Median wall time of `mmsearch search text` on `db`."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "app.cli", "search", "text", "a cat", "--db", db, "-k", "5"],
                       check=True, capture_output=True, env=dict(os.environ, MMSEARCH_PROFILE="offline"))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="photos in the library")
    parser.add_argument("--per-client", type=int, default=50, help="queries each client sends")
    parser.add_argument("--work", default="/tmp/mmsearch-bench-api")
    args = parser.parse_args(argv)
    from tests.server_process import mmsearch_server  # the same start/stop the tests use

    work = Path(args.work)
    photos = make_photos(work / f"photos-{args.n}", args.n)
    db = str(fresh_dir(work / "db") / "lib.db")
    env = dict(os.environ, MMSEARCH_PROFILE="offline")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app.cli", "index", "images", str(photos), "--db", db, "-q"], check=True, env=env)
    index_s = time.perf_counter() - t0
    log.info("indexed %d photos in %.0f s", args.n, index_s)
    cli_alone = cli_seconds(db)

    rows = []
    with mmsearch_server(db, {"MMSEARCH_PROFILE": "offline"}) as server:
        run_clients(server.url, 1, 5)  # load the models
        cli_with_server = cli_seconds(db)
        base = None
        for clients in (1, 4, 16):
            qps, lat = run_clients(server.url, clients, args.per_client)
            base = base or qps
            rows.append([clients, f"{qps:.1f}", f"{qps / base:.2f}×", f"{percentile(lat, 0.5) * 1000:.1f}", f"{percentile(lat, 0.95) * 1000:.1f}"])
    table = markdown_table(["clients", "queries/s", "vs 1 client", "p50 ms", "p95 ms"], rows)
    table += "\n\n" + markdown_table(
        ["CLI `search text` (wall, median of 3)", "seconds", "vs alone"],
        [["alone (loads torch and the models)", f"{cli_alone:.2f}", "1.00×"],
         ["through the running server", f"{cli_with_server:.2f}", f"{cli_with_server / cli_alone:.2f}×"]],
    )
    write_result(
        "api_throughput", "Text queries through the HTTP API",
        f"{args.n} generated photos, offline profile, k=10, {args.per_client} queries per client; indexed in {index_s:.0f} s",
        table, pkgs=("fastapi", "uvicorn", "streamlit"),
    )


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
