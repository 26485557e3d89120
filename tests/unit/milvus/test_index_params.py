"""The vector index and its search knobs, on a real Milvus Lite 2.5 file.

Why the embedded default stays FLAT (exact): Lite 2.5 keeps each collection in one growing
segment that is never sealed (its Flush does nothing), and its IVF_FLAT / AUTOINDEX are
Milvus's growing-segment interim index, built at 100,000 rows with nlist and nprobe from
segcore's defaults; the collection's nlist and the query's nprobe never reach it (see
`milvus.store._index_for`). The slow test below pins that behaviour: if a future milvus-lite
honours nprobe it fails, and an approximate default is worth measuring again
(`python -m bench.query_latency`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from milvus.store import _index_for, search_params_for


def _unit(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_search_knobs_per_index_type():
    assert search_params_for("FLAT", 10) == {}
    assert search_params_for("HNSW", 10) == {"ef": 64}
    assert search_params_for("HNSW", 200) == {"ef": 200}  # ef below k would return fewer than k
    assert search_params_for("IVF_FLAT", 10) == {"nprobe": 64}
    assert _index_for(lite_major=2) == {"index_type": "FLAT", "params": {}}
    assert _index_for(lite_major=None)["index_type"] == "HNSW"


def test_lite_default_is_flat_and_returns_the_exact_top10(store):
    assert store.capabilities.vector_index["index_type"] == "FLAT"
    data, queries = _unit(3000, 32, 0), _unit(20, 32, 1)
    coll = store.collection("image", "fake:32", 32)
    coll.upsert([{"id": f"r{i}", "vector": v} for i, v in enumerate(data)])
    truth = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    for q, want in zip(queries, truth):
        got = [int(h["id"][1:]) for h in coll.search(q, k=10)[0]]
        assert got == want.tolist()


def test_search_sends_its_knobs_nested_under_params(store, monkeypatch):
    """pymilvus's shape: search_params={"metric_type": ..., "params": {"ef"/"nprobe": ...}}
    (Milvus reads the knobs from "params" only). Checked on the real client, spied on."""
    coll = store.collection("image", "fake:8", 8)
    e0 = np.eye(8, dtype=np.float32)[0]
    coll.upsert([{"id": "a", "vector": e0}])
    seen: list[dict] = []
    real = coll.client.search

    def spy(*args, **kwargs):
        seen.append(kwargs["search_params"])
        return real(*args, **kwargs)

    monkeypatch.setattr(coll.client, "search", spy)
    assert coll.search(e0, k=3)[0][0]["id"] == "a"
    assert seen == [{"metric_type": "IP", "params": {}}]
    # the knobs follow the store's index type (read per search, no RPC): as on a server with HNSW
    store.capabilities = dataclasses.replace(store.capabilities, vector_index={"index_type": "HNSW", "params": {}})
    assert coll.search(e0, k=3)[0][0]["id"] == "a"  # Lite's FLAT ignores an unknown "ef"
    assert seen[-1] == {"metric_type": "IP", "params": {"ef": 64}}


@pytest.mark.slow
def test_lite_ivf_ignores_nprobe_and_flat_stays_exact(tmp_db):
    """Lite 2.5: IVF_FLAT scans every row below 100,000 rows; from 100,000 rows on it answers
    from an interim index whose results nprobe does not change (nprobe=1 and =nlist give the
    same ids), while FLAT stays exact. 8-d vectors keep the 2 × 100,000 inserts short."""
    from milvus.client import connect, import_pymilvus

    DataType = import_pymilvus().DataType
    client = connect(tmp_db)
    n, dim = 100_000, 8
    rng = np.random.default_rng(7)
    data = rng.standard_normal((n, dim)).astype(np.float32)
    queries = rng.standard_normal((30, dim)).astype(np.float32)
    for name, index_type, params in (("ivf", "IVF_FLAT", {"nlist": 1024}), ("flat", "FLAT", {})):
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = client.prepare_index_params()
        index.add_index("vector", index_type=index_type, metric_type="L2", params=params)
        client.create_collection(name, schema=schema, index_params=index)

    def insert(lo: int, hi: int) -> None:
        for name in ("ivf", "flat"):
            for i in range(lo, hi, 5000):
                client.insert(name, [{"id": k, "vector": data[k]} for k in range(i, min(hi, i + 5000))])

    def top10(name: str, nprobe: int) -> list[list[int]]:
        res = client.search(name, data=queries, limit=10, search_params={"metric_type": "L2", "params": {"nprobe": nprobe}})
        return [[int(h["id"]) for h in hits] for hits in res]

    def exact(rows: int) -> list[list[int]]:
        d = ((queries[:, None, :] - data[None, :rows]) ** 2).sum(-1)
        return np.argsort(d, axis=1)[:, :10].tolist()

    def recall(got: list[list[int]], want: list[list[int]]) -> float:
        return float(np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)]))

    insert(0, n - 1000)  # 99,000 rows: below the interim index's threshold
    assert top10("ivf", 1) == exact(n - 1000)  # nprobe=1 of nlist=1024, yet exact: a full scan

    insert(n - 1000, n)  # 100,000 rows: the interim index takes over
    low, high = top10("ivf", 1), top10("ivf", 1024)
    assert low == high, "Lite now honours nprobe: measure an approximate default again"
    assert recall(low, exact(n)) < 0.99  # approximate, and nothing the caller can tune
    assert top10("flat", 1) == exact(n)  # FLAT gets no interim index: still exact
