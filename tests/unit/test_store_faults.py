"""Store faults give one clear sentence and a non-zero exit, never a traceback wall."""

from __future__ import annotations

import socket

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
