"""Local Milvus servers on loopback, without Docker: for `mmsearch db serve`, tests and benchmarks.

- `lite-server`: Milvus Lite's own server binary serving one `.db` file (in the data dir)
  over gRPC on loopback, started through `milvus_lite.server.Server`.
- `lite3-server`: `milvus-lite server` from Milvus Lite 3.2 (its pure-Python engine, with
  nullable fields), in its own venv (`.venv-lite3`, made by `make lite3-venv`): the
  embedded default is Lite 2.5 and one venv cannot hold both.
- `milvus-2.3.5`: the real standalone server shipped in the PyPI package `milvus==2.3.5`.
  Its import name collides with this package, so it lives in its own venv
  (`.venv-milvus-server`, made by `make server-venv`) and runs as a subprocess.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from milvus.errors import StoreError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SERVER_VENV = REPO / ".venv-milvus-server"  # `make server-venv`; see `configure`
LITE3_VENV = REPO / ".venv-lite3"  # `make lite3-venv`


def configure(server_venv: Path | None = None, lite3_venv: Path | None = None) -> None:
    """Where the test/benchmark server venvs are (the settings' MMSEARCH_MILVUS_SERVER_VENV, MMSEARCH_LITE3_VENV)."""
    global SERVER_VENV, LITE3_VENV
    SERVER_VENV = Path(server_venv) if server_venv else SERVER_VENV
    LITE3_VENV = Path(lite3_venv) if lite3_venv else LITE3_VENV
BACKENDS = ("lite-server", "lite3-server", "milvus-2.3.5")

# Runs inside the server venv with `python -I` (no cwd on sys.path: `milvus` is the PyPI package there).
_LAUNCH_235 = r"""
import signal, sys, time
from milvus import MilvusServer, MilvusServerConfig
server = MilvusServer(MilvusServerConfig(), wait_for_started=True)
server.set_base_dir(sys.argv[1])
server.listen_port = int(sys.argv[2])
def stop(*_):
    server.stop()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
server.start()
print("READY", flush=True)
while server.running:
    time.sleep(0.5)
"""


# Runs with this venv's python: Milvus Lite's server on a TCP address instead of a socket.
_LAUNCH_LITE = r"""
import signal, sys, time
from milvus.servers import serve_lite
server = serve_lite(sys.argv[1], f"127.0.0.1:{sys.argv[2]}")
def stop(*_):
    server.stop()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
print("READY", flush=True)
while server._p.poll() is None:
    time.sleep(0.5)
sys.exit(f"milvus-lite exited with code {server._p.returncode}")
"""


def serve_lite(db_path: str | Path, address: str):
    """Start Milvus Lite's server for one `.db` file on a TCP `address` (host:port); returns
    the running `milvus_lite.server.Server`. This process keeps mmsearch's lock on the file
    (see `hold_lite_file`) until it exits. For `mmsearch db serve` and the tests."""
    import warnings

    from milvus.client import hold_lite_file

    try:
        with warnings.catch_warnings():  # milvus-lite 2.5 imports the deprecated pkg_resources
            warnings.simplefilter("ignore", UserWarning)
            from milvus_lite.server import Server
    except ImportError as exc:
        raise StoreError("Milvus Lite is not installed (pip install 'milvus-lite==2.5.1')") from exc
    db = Path(db_path).expanduser().resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    hold_lite_file(str(db))  # the fd stays open, and the lock held, for the life of this process
    try:
        server = Server(str(db), address=address)
    except RuntimeError as exc:  # Lite's rules for file names
        raise StoreError(f"cannot serve {db_path}: {exc}") from exc
    if not server.init() or not server.start():
        raise StoreError(f"cannot serve {db_path}: another process has it open (stop the app or indexer using it), or {address} is taken")
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float, log_path: Path) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise StoreError(f"the Milvus server exited with code {proc.returncode}; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise StoreError(f"the Milvus server did not open port {port} within {timeout:.0f} s; see {log_path}")


class LocalServer:
    """A Milvus server subprocess on 127.0.0.1; use as a context manager. `uri` is its address."""

    def __init__(self, backend: str, data_dir: Path, port: int | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown server backend {backend!r}")
        self.backend = backend
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-{backend}.log"

    def command(self) -> tuple[list[str], Path]:
        if self.backend == "lite-server":
            db_file = self.data_dir / "milvus.db"
            return [sys.executable, "-c", _LAUNCH_LITE, str(db_file), str(self.port)], REPO
        if self.backend == "lite3-server":
            exe = LITE3_VENV / "bin" / "milvus-lite"
            if not exe.exists():
                raise StoreError(f"no Milvus Lite 3 venv at {LITE3_VENV}; run `make lite3-venv`")
            # --host is explicit: the default is 0.0.0.0
            cmd = [str(exe), "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)]
            return cmd, self.data_dir
        py = SERVER_VENV / "bin" / "python"
        if not py.exists():
            raise StoreError(f"no Milvus 2.3.5 server venv at {SERVER_VENV}; run `make server-venv`")
        # cwd is the data dir so this repo's milvus/ package can never shadow the server's.
        return [str(py), "-I", "-c", _LAUNCH_235, str(self.data_dir), str(self.port)], self.data_dir

    def start(self, timeout: float = 120.0) -> "LocalServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd, cwd = self.command()
        logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        _wait_port(self.port, self.proc, timeout, self.log_path)
        if self.backend != "lite3-server":  # the others print READY once they answer
            self._wait_ready(timeout)
        log.info("%s listening at %s (pid %d)", self.backend, self.uri, self.proc.pid)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "READY" in self.log_path.read_text(errors="ignore"):
                return
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.3)
        raise StoreError(f"the {self.backend} server did not become healthy; see {self.log_path}")

    def stop(self) -> None:
        """Stop the server and everything it started (its process group), by PID."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
