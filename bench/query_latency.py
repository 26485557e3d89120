"""Query latency and recall per store backend and index, against an exact numpy scan.

    python -m bench.query_latency [--n 10000] [--dim 512] [--queries 100] [--backends ...]

Synthetic clustered unit vectors (the store part does not care where vectors come from);
each backend gets the same rows through `milvus.VectorStore`, flushed as the indexers do.
Reports p50/p95 of one query per call, the per-query time when 32 queries share a call,
recall@10 against the exact scan, and, separately, the text-encode time of a query with
the offline MiniLM model (what `search text` adds on top of the store).

Backends: `lite` (the embedded default: Milvus Lite 2.5 `.db`, FLAT over inner products of
unit vectors), `lite-cosine` (the same indexed with Milvus's COSINE, as before), `lite-ivf`
and `lite-autoindex` (Lite 2.5's other indexes), `lite-server` (Lite 2.5 over
TCP, as `mmsearch db serve` runs it), `lite3-server` (Milvus Lite 3.2's Python engine,
HNSW; own venv) and `milvus-2.3.5` (the real standalone server, HNSW; own venv).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import markdown_table, write_result

BACKENDS = "lite,lite-cosine,lite-ivf,lite-autoindex,lite-server,lite3-server,milvus-2.3.5"
# backend → (label, changes to the store's capabilities for the comparison)
LITE_VARIANTS: dict[str, tuple[str, dict]] = {
    "lite": ("Milvus Lite .db (embedded default)", {}),
    "lite-cosine": ("Milvus Lite .db", {"cosine_index_metric": "COSINE"}),
    "lite-ivf": ("Milvus Lite .db", {"vector_index": {"index_type": "IVF_FLAT", "params": {"nlist": 1024}}}),
    "lite-autoindex": ("Milvus Lite .db", {"vector_index": {"index_type": "AUTOINDEX", "params": {}}}),
}


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(8, n // 500), dim))
    x = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def percentiles(samples_s: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples_s) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def run_backend(
    name: str, uri: str, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, variant: dict | None = None
) -> list[object]:
    from milvus import VectorStore

    store = VectorStore(uri)
    if variant:  # another index or metric than the backend's default, for comparison
        store.capabilities = dataclasses.replace(store.capabilities, **variant)
    coll = store.collection("image", f"bench:{data.shape[1]}", data.shape[1])
    index_name = f"{coll.index_type} {coll.index_metric}" + _index_params(coll)
    t0 = time.perf_counter()
    for i in range(0, len(data), 2000):
        coll.upsert([{"id": f"r{j}", "vector": data[j], "source": "bench"} for j in range(i, min(len(data), i + 2000))])
    coll.flush()
    load_s = time.perf_counter() - t0
    coll.search(queries[:2], k=10)  # warm up
    lat, hits = [], []
    for q in queries:
        t = time.perf_counter()
        res = coll.search(q, k=10)[0]
        lat.append(time.perf_counter() - t)
        hits.append([int(h["id"][1:]) for h in res])
    t = time.perf_counter()
    for i in range(0, len(queries), 32):
        coll.search(queries[i : i + 32], k=10)
    batched_ms = (time.perf_counter() - t) / len(queries) * 1000
    recall = float(np.mean([len(set(h) & set(tr)) / 10 for h, tr in zip(hits, truth)]))
    p50, p95 = percentiles(lat)
    return [name, store.capabilities.backend, index_name, p50, p95, batched_ms, f"{recall:.3f}", f"{load_s:.0f}"]


def _index_params(coll) -> str:
    from milvus.store import search_params_for

    build = coll.store.capabilities.vector_index.get("params") or {}
    knobs = {**build, **search_params_for(coll.index_type, 10)}
    return (" " + " ".join(f"{k}={v}" for k, v in knobs.items())) if knobs else ""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--backends", default=BACKENDS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from milvus.client import close
    from milvus.errors import StoreError
    from milvus.servers import LocalServer

    data = clustered(args.n, args.dim, 0)
    queries = clustered(args.queries, args.dim, 1)
    lat = []
    for q in queries:  # the baseline: an exact scan in numpy, same machine, same run
        t = time.perf_counter()
        np.argpartition(-(data @ q), 10)[:10]
        lat.append(time.perf_counter() - t)
    truth = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    p50, p95 = percentiles(lat)
    t = time.perf_counter()
    for i in range(0, len(queries), 32):
        queries[i : i + 32] @ data.T
    rows: list[list[object]] = [
        ["exact numpy scan (baseline)", f"numpy {np.__version__}", "-", p50, p95, (time.perf_counter() - t) / len(queries) * 1000, "1.000", "-"]
    ]

    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            root = Path(tmp) / backend
            try:
                if backend in LITE_VARIANTS:
                    label, variant = LITE_VARIANTS[backend]
                    uri = str(root / "bench.db")
                    rows.append(run_backend(label, uri, data, queries, truth, variant))
                    close(uri)
                else:
                    with LocalServer(backend, root / "data") as server:
                        rows.append(run_backend(backend, server.uri, data, queries, truth))
                        close(server.uri)
            except StoreError as exc:
                rows.append([backend, "unavailable", str(exc)[:80], "", "", "", "", ""])

    from encoders import get_encoder

    enc = get_encoder("sentence_transformers:all-MiniLM-L6-v2", "cpu")
    enc.embed_queries(["warm up"])
    enc_lat = []
    for i in range(30):
        t = time.perf_counter()
        enc.embed_queries([f"a photo of thing number {i}"])
        enc_lat.append(time.perf_counter() - t)
    e50, e95 = percentiles(enc_lat)
    rows.append(["text encode only (MiniLM, one query)", "sentence-transformers", "-", e50, e95, "", "", ""])

    base_p95 = float(rows[0][4])
    table = markdown_table(
        ["backend", "engine", "index", "p50 ms", "p95 ms", "p95 vs numpy", "ms/query in batches of 32", "recall@10", "load+flush s"],
        [_fmt(r, base_p95) for r in rows],
    )
    write_result(
        f"query_latency_{args.n}",
        f"Query latency at {args.n:,} vectors",
        f"n={args.n}, dim={args.dim}, queries={args.queries}, k=10, COSINE, rows flushed; servers are queried with Strong consistency, Lite has one writer and reads its writes",
        table,
        notes="Goal on the embedded default: p95 ≤ 30 ms at 100k. `p95 vs numpy` is the backend's p95 over the exact scan's, same run.",
        pkgs=("numpy",),
    )


def _fmt(row: list[object], base_p95: float) -> list[object]:
    """Numbers to fixed decimals, plus the p95 ratio to the numpy baseline."""
    name, engine, index, p50, p95, batched, *rest = row
    if not isinstance(p95, float):
        return [name, engine, index, p50, p95, "", batched, *rest]
    ratio = f"{p95 / base_p95:.1f}×" if engine != "sentence-transformers" else ""
    batched_s = f"{batched:.2f}" if isinstance(batched, float) else batched
    return [name, engine, index, f"{p50:.1f}", f"{p95:.1f}", ratio, batched_s, *rest]


if __name__ == "__main__":
    main()
