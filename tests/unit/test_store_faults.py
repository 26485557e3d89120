"""Store faults give one clear sentence and a non-zero exit, never a traceback wall."""

from __future__ import annotations

import errno
import socket

import pytest

from app.cli import main


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
