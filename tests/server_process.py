"""`mmsearch serve` as a real process for the tests: started on a free loopback port, ready when it
prints its "serving" line, stopped with SIGTERM (the way a user or a service manager stops it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from milvus.servers import free_port  # one helper for every test server's port

REPO = Path(__file__).resolve().parents[1]
READY = "mmsearch: serving"
START_TIMEOUT_S = 300.0  # generous: two cores, models load on first use only
STOP_TIMEOUT_S = 90.0


def port_is_free(port: int) -> bool:
    """True when nothing answers on 127.0.0.1:port and a server could listen there again
    (with SO_REUSEADDR, as servers bind: connections the test made may linger in TIME_WAIT)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


@dataclass
class Server:
    """A running `mmsearch serve`: its process, URL and everything it wrote on stderr."""

    proc: subprocess.Popen
    port: int
    token: str | None = None
    lines: list[str] = field(default_factory=list)
    seen: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, needle: str, timeout: float = START_TIMEOUT_S) -> bool:
        """Block until a stderr line holds `needle` (True), or the process ends / time runs out (False)."""
        with self.seen:
            return self.seen.wait_for(lambda: any(needle in line for line in self.lines) or self.proc.poll() is not None, timeout) and any(
                needle in line for line in self.lines
            )

    def log(self) -> str:
        """What the server printed, for assertion messages."""
        return "".join(self.lines[-60:])

    def request(self, method: str, path: str, body: Any = None, token: str | None = "default", headers: dict[str, str] | None = None, raw: bytes | None = None) -> tuple[int, Any]:
        """(status, JSON or text) of one HTTP request to the server."""
        hdrs = dict(headers or {})
        token = self.token if token == "default" else token
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, headers=hdrs, method=method)
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                status, payload, ctype = r.status, r.read(), r.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            status, payload, ctype = e.code, e.read(), e.headers.get("content-type", "")
        return status, json.loads(payload) if ctype.startswith("application/json") else payload.decode(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then wait for the whole process group to end; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(STOP_TIMEOUT_S)
        return code


@contextmanager
def mmsearch_server(db: str, env: dict[str, str] | None = None, args: tuple[str, ...] = (), expect_ready: bool = True) -> Iterator[Server]:
    """Start `mmsearch serve --db DB` and yield it once it serves; always stopped (killed if it must be)."""
    port = free_port()
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--db", db, "--port", str(port), *args],
        env=full_env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    server = Server(proc, port, token=(env or {}).get("MMSEARCH_API_TOKEN"))

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with server.seen:
                server.lines.append(line)
                server.seen.notify_all()
        with server.seen:
            server.seen.notify_all()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if expect_ready and not server.wait_for(READY):
            raise RuntimeError(f"mmsearch serve did not start:\n{server.log()}")
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reader.join(10)


def group_alive(pgid: int) -> bool:
    """True while any process of the group is alive."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
