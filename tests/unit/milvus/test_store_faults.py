"""Store faults give one clear sentence and a non-zero exit, never a traceback wall."""

from __future__ import annotations

import errno
import socket

import pytest

from app.cli.main import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def test_server_down_is_one_sentence(capsys):
    uri = f"http://127.0.0.1:{_closed_port()}"
    code = main(["search", "text", "a cat", "--db", uri, "--profile", "offline"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith(f"mmsearch: error: cannot reach the Milvus server at {uri}; is it running?")
    assert not any("Traceback" in line for line in err)


def test_index_into_unreachable_server_fails_cleanly(tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(b"not really")
    uri = f"http://127.0.0.1:{_closed_port()}"
    code = main(["index", "images", str(tmp_path), "--db", uri, "--profile", "offline", "-q"])
    assert code == 1
    assert "cannot reach the Milvus server" in capsys.readouterr().err


def test_no_room_to_write_is_one_sentence_naming_where(tmp_path):
    """Disk full / `ulimit -f`: the same sentence whether the errno survived or only its text did."""
    from pymilvus.exceptions import MilvusException

    from app.errors import NO_ROOM, user_message

    db = str(tmp_path / "t.db")
    in_lite = MilvusException(code=1, message="[Errno 27] File too large")  # Milvus Lite 3.x, in-process
    assert user_message(in_lite, db) == f"could not write to the Milvus database at {db}: {NO_ROOM}"
    journal = OSError(errno.EFBIG, "File too large", db + "-journal")
    assert user_message(journal, db) == f"could not write to the Milvus database at {db}: {NO_ROOM}"
    thumb = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "thumbs" / "ab" / "ab12.tmp"))
    assert user_message(thumb, db) == f"could not write {thumb.filename}: {NO_ROOM}"
    other = MilvusException(code=1, message="collection not loaded")
    assert user_message(other, db).startswith("unexpected MilvusException")  # no disk problem here


def test_a_lite3_folder_gets_one_sentence(tmp_path):
    """Milvus Lite 3 kept a `.db` as a folder; Lite 2.5 cannot open it, and says what to do."""
    from milvus import VectorStore
    from milvus.errors import StoreError

    (tmp_path / "old.db").mkdir()
    with pytest.raises(StoreError, match="format of Milvus Lite 3.*re-index into a new .db path"):
        VectorStore(str(tmp_path / "old.db"))


# -- backend errors become StoreError in milvus/ alone -------------------------------------
def _stored(store):
    import numpy as np

    coll = store.collection("image", "fake:8", 8)
    coll.upsert([{"id": f"r{i}", "vector": np.eye(8, dtype=np.float32)[i], "price": float(i)} for i in range(3)])
    return coll


def _assert_backend_cause(err: BaseException) -> None:
    assert err.__cause__ is not None
    assert type(err.__cause__).__module__.split(".")[0] in ("pymilvus", "grpc", "milvus_lite")


def test_a_filter_the_server_rejects_is_one_store_error_naming_the_collection(store):
    import numpy as np

    from milvus import Filter
    from milvus.errors import StoreError

    coll = _stored(store)
    rejected = Filter.eq("price", "cheap")  # a string against a DOUBLE field: Milvus refuses the expression
    with pytest.raises(StoreError) as info:
        coll.search(np.ones(8, dtype=np.float32), k=2, filter=rejected)
    message = str(info.value)
    assert message.startswith(f"search in {coll.name} failed: ") and "\n" not in message
    assert "MilvusException" not in message  # the server's words, not pymilvus's wrapping
    _assert_backend_cause(info.value)
    with pytest.raises(StoreError, match=f"^query of {coll.name} failed: ") as info:
        coll.query(filter=rejected)
    _assert_backend_cause(info.value)
    with pytest.raises(StoreError, match=f"^query of {coll.name} failed: "):
        coll.query(filter=Filter(("price >>> 1",)))  # not even an expression


def test_every_call_on_a_dropped_collection_is_a_store_error(store):
    import numpy as np

    from milvus.errors import StoreError

    coll = _stored(store)
    store.drop("image", "fake:8")
    calls = {
        "counting the rows of": coll.count,
        "search in": lambda: coll.search(np.ones(8, dtype=np.float32)),
        "writing to": lambda: coll.upsert([{"id": "x", "vector": np.ones(8, dtype=np.float32)}]),
        "reading rows of": lambda: coll.get(["r1"]),
        "looking up ids in": lambda: coll.existing_ids(["r1"]),
        "query of": coll.query,
        "deleting from": lambda: coll.delete(["r1"]),
        "reading the rows of": lambda: list(coll.scan()),  # a generator: fails while iterating
    }
    for action, call in calls.items():
        with pytest.raises(StoreError) as info:
            call()
        assert str(info.value).startswith(f"{action} {coll.name} failed: "), (action, str(info.value))
        _assert_backend_cause(info.value)


def test_our_own_errors_are_not_translated(store):
    import numpy as np

    from milvus.errors import StoreError, translate

    coll = _stored(store)
    with pytest.raises(ValueError):  # a bad argument is the caller's bug: it keeps its type
        coll.search(np.ones(8, dtype=np.float32), k="ten")
    with pytest.raises(StoreError, match="does not fit"):  # our own StoreError passes unchanged
        coll.search(np.ones(5, dtype=np.float32))
    with pytest.raises(TypeError), translate("search in c"):
        raise TypeError("a bug of ours")

    class RpcError(Exception):  # a gRPC error type, as grpc defines them
        def details(self) -> str:
            return "failed to connect to all addresses\nmore"

    RpcError.__module__ = "grpc._channel"
    with pytest.raises(StoreError, match="^search in c failed: failed to connect to all addresses$"), translate("search in c"):
        raise RpcError()


def test_a_full_disk_behind_a_translated_error_still_reads_as_no_room(tmp_path):
    """The translation keeps the backend's error as the cause, where `user_message` finds it."""
    from pymilvus.exceptions import MilvusException

    from app.errors import NO_ROOM, user_message
    from milvus.errors import StoreError, translate

    db = str(tmp_path / "t.db")
    with pytest.raises(StoreError) as info, translate("writing to image__fake_8"):
        raise MilvusException(code=1, message="[Errno 27] File too large")
    assert user_message(info.value, db) == f"could not write to the Milvus database at {db}: {NO_ROOM}"
    with pytest.raises(StoreError) as info, translate("search in image__fake_8"):
        raise MilvusException(code=1, message="collection not loaded")
    assert user_message(info.value, db) == "search in image__fake_8 failed: collection not loaded"


def test_milvus_uri_may_be_a_lite_path(tmp_path):
    """pymilvus reads MILVUS_URI on import and rejects a local path; mmsearch reads it as the
    database and hides it from pymilvus's import, putting it back straight after."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    db = tmp_path / "data" / "x.db"
    script = (
        "import os\n"
        "from milvus import VectorStore\n"
        "from milvus.client import close, import_pymilvus\n"
        "import_pymilvus()\n"
        "assert os.environ['MILVUS_URI'] == './data/x.db', os.environ.get('MILVUS_URI')\n"
        "from app.settings import Settings\n"
        "store = VectorStore(Settings.load().db)\n"  # the database named by MILVUS_URI
        "assert store.uri == DB_PATH, store.uri\n"
        "coll = store.collection('image', 'fake:4', 4)\n"
        "coll.upsert([{'id': 'a', 'vector': [1.0, 0.0, 0.0, 0.0]}])\n"
        "print('COUNT', coll.count())\n"
        "close(store.uri)\n"
    ).replace("DB_PATH", repr(str(db.resolve())))
    repo = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "MILVUS_URI": "./data/x.db", "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    env.pop("MMSEARCH_DB", None)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "COUNT 1" in proc.stdout
    assert db.is_file()
