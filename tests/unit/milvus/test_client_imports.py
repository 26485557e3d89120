"""What opening and searching a Milvus Lite file imports, in a fresh interpreter (read from
`sys.modules` afterwards; no timing): not pkg_resources (milvus-lite 2.5.1's `__init__` is
replaced by its one effect, `__version__`), and not scipy.sparse (pymilvus's "is this a SciPy
sparse matrix?" answers no until SciPy is imported, then checks as before), and not pandas
(deferred while pymilvus imports: `milvus.deferred_pandas`); and the Lite
server process is started once, on a thread, while pymilvus is imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fresh_python import probe_env, run_probe

PROBE = """
import json, sys
import threading
import numpy as np
from milvus import VectorStore
from milvus import client
from milvus.client import close

db = sys.argv[1]
starts, asked = [], []
if client._import_milvus_lite() is not None:
    client._quick_lite_start()
    from milvus_lite import server, server_manager

    start, start_and_get_uri = server.Server.start, server_manager.ServerManager.start_and_get_uri
    def counted(self):
        starts.append(threading.current_thread().name)
        return start(self)
    def asking(self, *args, **kwargs):
        asked.append(threading.current_thread().name)
        return start_and_get_uri(self, *args, **kwargs)
    server.Server.start = counted
    server_manager.ServerManager.start_and_get_uri = asking
store = VectorStore(db)
coll = store.collection("image", "fake:4", 4)
coll.upsert([{"id": f"r{i}", "vector": np.eye(4, dtype=np.float32)[i], "title": f"t{i}"} for i in range(4)])
hits = coll.search(np.eye(4, dtype=np.float32)[2:3], k=2)[0]
loaded = sorted(m for m in ("pkg_resources", "scipy.sparse", "pandas") if m in sys.modules)
import milvus_lite
from pymilvus.client.utils import SciPyHelper

listed = SciPyHelper.is_scipy_sparse([[0.5, 1.0]])
try:
    import scipy.sparse
except ImportError:
    sparse = None
else:
    sparse = SciPyHelper.is_scipy_sparse(scipy.sparse.csr_matrix([[0.0, 1.0]]))
for thread in threading.enumerate():
    if thread.name == "milvus-lite-start":
        thread.join()
close(db)
print("PROBE " + json.dumps({"first": hits[0]["id"], "loaded": loaded, "version": milvus_lite.__version__,
      "listed": listed, "sparse": sparse, "starts": starts, "asked": sorted(asked)}))
"""


def test_lite_search_imports_no_pkg_resources_scipy_or_pandas_and_starts_one_server(tmp_path: Path) -> None:
    import importlib.metadata

    got = run_probe(PROBE, [str(tmp_path / "x.db")], tmp_path, probe_env())
    assert got["first"] == "r2"
    assert got["loaded"] == []
    assert got["version"] == importlib.metadata.version("milvus-lite")
    assert got["listed"] is False
    # The server was asked for early, on a thread, and again by pymilvus: one server was started.
    assert got["asked"] == ["MainThread", "milvus-lite-start"] and len(got["starts"]) == 1
    if got["sparse"] is not None:  # SciPy installed: once imported, pymilvus's own check answers
        assert got["sparse"] is True


def test_scipy_check_is_pymilvus_own_once_scipy_is_imported() -> None:
    sparse = pytest.importorskip("scipy.sparse")
    from milvus.client import import_pymilvus

    import_pymilvus()
    from pymilvus.client.utils import SciPyHelper

    assert getattr(SciPyHelper, "_mmsearch_lazy", False)
    assert SciPyHelper.is_scipy_sparse(sparse.csr_matrix([[0.0, 1.0]]))
    assert SciPyHelper.is_scipy_sparse(sparse.csr_array([[0.0, 1.0]]))
    assert not SciPyHelper.is_scipy_sparse([[0.0, 1.0]])
