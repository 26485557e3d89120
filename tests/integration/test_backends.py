"""Congruence: the same store tests on Milvus Lite 2.5 (.db, the default), Lite 2.5 serving
over TCP (`mmsearch db serve`), Milvus Lite 3.2's server (own venv; nullable fields) and a
real Milvus 2.3.5 standalone server (PyPI `milvus`, in its own venv), all on loopback.

Each backend must give the same answers: exact top-10 on a small set, the same filtered
rows, the same upsert/delete semantics, and None for missing values.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from milvus import CollectionMismatchError, Filter, VectorStore
from milvus.client import close
from milvus.servers import LocalServer

pytestmark = pytest.mark.slow
BACKENDS = ["lite", "lite-server", "lite3-server", "milvus-2.3.5"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, tmp_path_factory):
    """(name, uri) of a running backend; servers are stopped by PID at the end of the module."""
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "lite":
        uri = str(root / "t.db")
        yield request.param, uri
        close(uri)
        return
    with LocalServer(request.param, root / "data") as server:
        yield request.param, server.uri
        close(server.uri)


@pytest.fixture()
def store(backend):
    store = VectorStore(backend[1])
    for info in store.list_collections():
        store.client.drop_collection(info.name)
    return store


def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, dim))
    x = centres[rng.integers(0, 8, n)] + 0.3 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _rows(vecs: np.ndarray) -> list[dict]:
    cats = ["shoes", 'say "hi"', "back\\slash", "bags"]
    return [
        {
            "id": f"r{i:04d}",
            "vector": v,
            "source": f"/data/{i}.jpg",
            "title": f"item {i}",
            "price": float(i % 50) if i % 7 else None,
            "category": cats[i % 4],
            "start_s": float(i) if i % 3 == 0 else None,
            "meta": {"i": i},
        }
        for i, v in enumerate(vecs)
    ]


def _live_members(pgid: int) -> list[int]:
    """Pids of a process group that have not exited (zombies count as exited)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            live.append(int(stat.parent.name))
    return live


def _wait_group_gone(pgid: int, limit_s: float = 60.0) -> None:
    """Wait until every process of a group has exited (the server's children too), bounded generously."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not _live_members(pgid):
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {pgid} still running after {limit_s:.0f} s")


def test_exact_top10_matches_numpy(store):
    vecs = _clustered(300, 32)
    coll = store.collection("image", "fake:32", 32)
    assert coll.upsert(_rows(vecs)) == 300
    coll.flush()
    assert coll.count() == 300
    queries = _clustered(5, 32, seed=1)
    got = coll.search(queries, k=10, strong=True)
    for q, hits in zip(queries, got):
        truth = [f"r{i:04d}" for i in np.argsort(-(vecs @ q))[:10]]
        assert [h["id"] for h in hits] == truth
        assert hits[0]["score"] == pytest.approx(float(vecs[int(truth[0][1:])] @ q), abs=1e-4)


def test_filters_give_the_same_rows(store):
    vecs = _clustered(120, 16)
    rows = _rows(vecs)
    coll = store.collection("product", "fake:16", 16)
    coll.upsert(rows)
    coll.flush()
    q = vecs[0]
    for flt, keep in [
        (Filter.lt("price", 10), lambda r: r["price"] is not None and r["price"] < 10),
        (Filter.eq("category", 'say "hi"'), lambda r: r["category"] == 'say "hi"'),
        (Filter.eq("category", "back\\slash") & Filter.ge("price", 20), lambda r: r["category"] == "back\\slash" and r["price"] is not None and r["price"] >= 20),
        (Filter.eq("category", "x\" or id != \""), lambda r: False),
    ]:
        hits = coll.search(q, k=200, filter=flt, strong=True)[0]
        assert {h["id"] for h in hits} == {r["id"] for r in rows if keep(r)}, flt.expr()


def test_missing_values_come_back_as_none(store):
    coll = store.collection("image", "fake:8", 8)
    coll.upsert([{"id": "a", "vector": np.ones(8)}, {"id": "b", "vector": -np.ones(8), "price": 0.0, "title": "t", "start_s": 0.0}])
    a, b = sorted(coll.get(["a", "b"]), key=lambda r: r["id"])
    assert (a["price"], a["title"], a["start_s"], a["category"]) == (None, None, None, None)
    assert (b["price"], b["title"], b["start_s"]) == (0.0, "t", 0.0)


def test_upsert_replaces_and_delete_removes(store):
    coll = store.collection("image", "fake:8", 8)
    coll.upsert([{"id": "a", "vector": np.ones(8), "price": 5.0}])
    coll.upsert([{"id": "a", "vector": np.ones(8), "price": 3.0}])
    assert coll.count() == 1
    assert coll.get(["a"])[0]["price"] == 3.0
    assert coll.existing_ids(["a", "zz"]) == {"a"}
    coll.delete(["a"])
    assert coll.existing_ids(["a"]) == set()


def test_other_encoder_is_refused(store):
    store.collection("image", "fake:8", 8)
    with pytest.raises(CollectionMismatchError, match="cannot be opened with"):
        store.collection("image", "fake:8", 16)


def test_indexer_is_idempotent_on_every_backend(store, sample_photos):
    from encoders import get_encoder
    from indexers.images import index_images

    enc = get_encoder("fake:16")
    first = index_images([sample_photos], store, [enc], progress=False)
    second = index_images([sample_photos], store, [enc], progress=False)
    assert first.indexed >= 15 and not first.failed
    assert (second.indexed, second.unchanged) == (0, first.indexed)
    assert store.find("image", "fake:16").count() == first.indexed


def test_backend_errors_are_one_store_error_on_every_backend(store):
    """What each Milvus refuses comes back as StoreError naming the collection, the
    backend's own exception kept as its cause."""
    from milvus import StoreError

    coll = store.collection("image", "fake:8", 8)
    coll.upsert([{"id": "a", "vector": np.ones(8, dtype=np.float32), "price": 1.0}])
    for call in (
        lambda: coll.search(np.ones(8, dtype=np.float32), k=2, filter=Filter(("price >>> 1",))),
        lambda: coll.query(filter=Filter(("price >>> 1",))),
    ):
        with pytest.raises(StoreError, match=f"^(search in|query of) {coll.name} failed: ") as info:
            call()
        assert "\n" not in str(info.value)
        assert type(info.value.__cause__).__module__.split(".")[0] in ("pymilvus", "grpc", "milvus_lite")


def test_capabilities_are_detected(backend, store):
    """Nullable fields exist in Lite 3 and servers ≥ 2.5 only (elsewhere the store keeps sentinels);
    HNSW everywhere but Lite 2.x, which has FLAT / IVF_FLAT only (and FLAT is its exact one)."""
    name = backend[0]
    caps = store.capabilities
    assert caps.nullable is (name == "lite3-server")
    assert caps.vector_index["index_type"] == ("FLAT" if name in ("lite", "lite-server") else "HNSW")
    assert caps.plain_strings is (name not in ("lite", "lite-server"))


def test_two_processes_share_a_server(backend, tmp_path):
    """Many processes at once: two CLI processes write and read concurrently through a server."""
    name, uri = backend
    env = dict(os.environ, MMSEARCH_PROFILE="offline")
    code = (
        "import sys, numpy as np\n"
        "from milvus import VectorStore\n"
        "s = VectorStore(sys.argv[1]); c = s.collection('image', 'fake:8', 8)\n"
        "c.upsert([{'id': sys.argv[2] + str(i), 'vector': np.random.rand(8)} for i in range(50)])\n"
        "print(len(c.search(np.random.rand(8), k=5, strong=True)[0]))\n"
    )
    if name == "lite":
        VectorStore(uri)  # a Lite .db is one process's file: the others must be told so
        res = subprocess.run([sys.executable, "-c", code, uri, "p"], capture_output=True, text=True, env=env, timeout=600)
        assert res.returncode != 0 and "in use by another process" in res.stderr
        return
    procs = [subprocess.Popen([sys.executable, "-c", code, uri, tag], stdout=subprocess.PIPE, text=True, env=env) for tag in ("p", "q")]
    outs = [p.communicate(timeout=600)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs == ["5", "5"]
    assert VectorStore(uri).find("image", "fake:8").count() == 100


def test_lite_lock_message(tmp_path):
    """A second process opening a Lite .db in use gets one sentence pointing at `db serve`."""
    uri = str(tmp_path / "locked.db")
    VectorStore(uri)  # this process now holds the file
    try:
        res = subprocess.run(
            [sys.executable, "-m", "app.cli", "doctor", "--db", uri], capture_output=True, text=True, timeout=600
        )
        res2 = subprocess.run(
            [sys.executable, "-m", "app.cli", "search", "text", "cat", "--db", uri, "--profile", "offline"],
            capture_output=True, text=True, timeout=600,
        )
    finally:
        close(uri)
    assert "in use by another process" in res.stdout
    assert res2.returncode == 1
    assert res2.stderr.strip().splitlines()[-1].startswith("mmsearch: error: the database")
    assert "mmsearch db serve" in res2.stderr and "Traceback" not in res2.stderr


def test_db_serve_shares_a_lite_file(tmp_path):
    """`mmsearch db serve` serves a .db on loopback; other processes use it through the URI."""

    from milvus.servers import _wait_port, free_port

    db, port = str(tmp_path / "shared.db"), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "db", "serve", "--db", db, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        _wait_port(port, proc, 60, tmp_path / "no.log")
        uri = f"http://127.0.0.1:{port}"
        code = "import sys, numpy as np\nfrom milvus import VectorStore\nc = VectorStore(sys.argv[1]).collection('image', 'fake:8', 8)\nc.upsert([{'id': sys.argv[2], 'vector': np.ones(8)}])\n"
        for tag in ("a", "b"):
            subprocess.run([sys.executable, "-c", code, uri, tag], check=True, timeout=600)
        assert VectorStore(uri).find("image", "fake:8").existing_ids(["a", "b"]) == {"a", "b"}
        close(uri)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(60)
        _wait_group_gone(proc.pid)
    # the file holds the rows after the server stops
    assert VectorStore(db).find("image", "fake:8").count() == 2
    close(db)
