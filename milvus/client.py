"""One factory from a URI to a pymilvus client, shared per URI within a process."""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from pathlib import Path
from types import ModuleType
from urllib.parse import urlparse

from milvus.deferred_pandas import import_deferring_pandas
from milvus.errors import StoreError, StoreLockedError, first_line

log = logging.getLogger(__name__)

_clients: dict[str, object] = {}
_file_locks: dict[str, int] = {}  # Lite path → fd of our lock on it, held while the client lives
_lock = threading.Lock()
_import_lock = threading.Lock()
_verbose = False


def set_verbose(verbose: bool) -> None:
    """`-v`: let the backends' own logs through."""
    global _verbose
    _verbose = verbose
    quiet_backend_loggers(logging.DEBUG if verbose else logging.CRITICAL)


# Milvus Lite serves pymilvus from an in-process gRPC server that logs a traceback for
# RPCs it does not implement (AllocTimestamp, which pymilvus calls while waiting for an
# index and then does without), and pymilvus logs every RPC error it re-raises. We
# report errors ourselves, in one sentence; `-v` turns these loggers back on.
QUIET_LOGGERS = ("grpc._server", "pymilvus", "pymilvus.decorators", "milvus_lite")


def quiet_backend_loggers(level: int = logging.CRITICAL) -> None:
    """Silence the backends' own error logs (pymilvus resets its loggers on import, so
    this runs after importing it)."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)


def import_pymilvus() -> ModuleType:
    """pymilvus, imported with a MILVUS_URI that is not a URL hidden from it.

    pymilvus reads MILVUS_URI when it is imported and raises "Illegal uri" for a local path
    such as `./data/my.db`, which for mmsearch is a Milvus Lite database (see
    `milvus.store.default_uri`). So during its first import the variable is set to ""
    (set, not removed, so pymilvus's own reading of a `.env` file cannot put it back) and
    restored straight after. pandas, which pymilvus imports for DataFrames mmsearch never passes,
    is imported only if something uses it (`milvus.deferred_pandas`). Every import of pymilvus in
    this package goes through here."""
    with _import_lock:  # one thread imports; the others wait for the whole module
        if "pymilvus" in sys.modules:
            return sys.modules["pymilvus"]
        uri = os.environ.get("MILVUS_URI")
        hide = uri is not None and not _pymilvus_takes(uri)
        if hide:
            os.environ["MILVUS_URI"] = ""
        try:
            pymilvus = import_deferring_pandas("pymilvus")
        finally:
            if hide:
                os.environ["MILVUS_URI"] = uri
    if not _verbose:  # its import resets its loggers: quiet them after it
        quiet_backend_loggers()
    _scipy_check_when_imported()
    return pymilvus


def _scipy_check_when_imported() -> None:
    """Let pymilvus answer "is this a SciPy sparse matrix?" without importing SciPy.

    pymilvus asks it of the data of every search and insert, and to answer imports scipy.sparse
    on first use (~0.25 s, more than a Lite query). No SciPy sparse matrix can exist before
    scipy.sparse is imported, so until then the answer is no; once anything has imported it,
    pymilvus's own check runs as before. Applied where pymilvus has this helper; otherwise nothing."""
    utils = sys.modules.get("pymilvus.client.utils")
    helper = getattr(utils, "SciPyHelper", None)
    init = getattr(helper, "_init", None)
    if helper is None or init is None or getattr(helper, "_mmsearch_lazy", False) or not hasattr(helper, "_checked"):
        return
    original = init.__func__

    def _init(cls: type) -> None:
        if "scipy.sparse" in sys.modules:
            original(cls)

    helper._init = classmethod(_init)
    helper._mmsearch_lazy = True


def _import_milvus_lite() -> ModuleType | None:
    """milvus_lite, or None where it is not installed; milvus-lite 2.5.1 without its `__init__`.

    That `__init__` only sets `__version__`, reading it through pkg_resources, whose import
    scans every installed distribution (~0.25 s, more than a Lite query). For that version the
    package is set up here with the same `__version__` (from importlib.metadata) and its
    submodules (`server`, `server_manager`) import as usual; any other version imports itself."""
    if "milvus_lite" in sys.modules:
        return sys.modules["milvus_lite"]
    import importlib.metadata
    import importlib.util

    try:
        version, spec = importlib.metadata.version("milvus-lite"), importlib.util.find_spec("milvus_lite")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        version, spec = None, None
    if spec is None or version != "2.5.1" or not spec.submodule_search_locations:
        try:
            with warnings.catch_warnings():  # milvus-lite 2.5 imports the deprecated pkg_resources
                warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
                import milvus_lite
        except ImportError:
            return None
        return milvus_lite
    module = importlib.util.module_from_spec(spec)
    module.__version__ = version
    sys.modules["milvus_lite"] = module
    return module


def _pymilvus_takes(uri: str) -> bool:
    """Whether pymilvus's import accepts `uri` from MILVUS_URI: empty, or a URL with a host
    (its `Connections` rejects anything whose `urlparse` has no netloc)."""
    if not uri:
        return True
    try:
        return bool(urlparse(uri).netloc)
    except ValueError:
        return False


def is_lite(uri: str) -> bool:
    """A URI that is a local path ending in `.db` means Milvus Lite."""
    return not uri.startswith(("http://", "https://", "tcp://", "unix:")) and uri.endswith(".db")


def normalise_uri(uri: str) -> str:
    if is_lite(uri):
        return str(Path(uri).expanduser().resolve())
    return uri


def hold_lite_file(path: str) -> int:
    """Take this process's exclusive lock on a Lite `.db` (raises StoreLockedError if another
    process has it); returns the fd, which holds the lock until closed.

    Milvus Lite 2.5 locks the file too, but a process that fails to get its lock deletes the
    lock *file* on the way out, so a third process would then open the file beside the first.
    This lock file is never deleted, and is taken before Milvus Lite is asked."""
    import fcntl

    db = Path(path)
    fd = os.open(db.with_name(f".{db.name}.mmsearch-lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise StoreLockedError(str(db)) from exc
    return fd


def _release_lite_file(uri: str) -> None:
    fd = _file_locks.pop(uri, None)
    if fd is not None:
        os.close(fd)


_token: str = ""


def configure(token: str | None = None) -> None:
    """The token for Milvus servers that check one (the settings' MILVUS_TOKEN)."""
    global _token
    _token = token or ""


def connect(uri: str, token: str | None = None, timeout: float = 10.0):
    """A MilvusClient for `uri`; the same object for the same URI in this process
    (a Lite `.db` can be opened only once, even within one process)."""
    uri = normalise_uri(uri)
    with _lock:
        if uri in _clients:
            return _clients[uri]
        if is_lite(uri):
            if Path(uri).is_dir():
                raise StoreError(
                    f"{uri} is a folder, the format of Milvus Lite 3; mmsearch now uses Milvus Lite 2.5 "
                    "(a single file, much faster to search): re-index into a new .db path, or move the folder away"
                )
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            _file_locks[uri] = hold_lite_file(uri)
            if "pymilvus" not in sys.modules:
                _start_lite_server(uri)
        try:
            client = _open(uri, token, timeout)
        except BaseException:
            _release_lite_file(uri)
            raise
        _clients[uri] = client
        return client


def _quick_lite_start() -> None:
    """Let Milvus Lite's server start return as soon as it listens.

    milvus-lite 2.5.1's `Server.start` spawns its server process, then always sleeps 0.5 s (to see
    whether it dies at once) before pymilvus connects; the process listens on its socket after
    ~0.1 s. This start does the same (takes the file lock, spawns the same command with the same
    environment, fails the same way when the process dies first), but polls the socket and
    returns once it exists, waiting up to 60 s on a loaded machine. Applied to that version only; any other keeps its own start."""
    milvus_lite = _import_milvus_lite()
    if milvus_lite is None:
        return
    try:
        from milvus_lite import server
    except ImportError:
        return
    cls = server.Server
    if getattr(cls, "_mmsearch_quick", False) or getattr(milvus_lite, "__version__", None) != "2.5.1":
        return
    import fcntl
    import subprocess
    import time

    def start(self) -> bool:
        assert self._p is None, "Server already started"
        self._lock_fd = open(self._lock_path, "a")
        try:
            fcntl.lockf(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            server.logger.error("Open %s failed, the file has been opened by another program", self._db_file)
            return False
        env = {"LD_LIBRARY_PATH": str(self._bin_path) + ":" + os.environ.get("LD_LIBRARY_PATH", ""),
               "DYLD_LIBRARY_PATH": str(self._bin_path) + ":" + os.environ.get("LD_LIBRARY_PATH", "")}
        env.update({k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")})
        self._p = subprocess.Popen(args=self.args, env=env, cwd=str(self._work_dir))
        # A loaded machine may take seconds to get the socket up: wait while the process lives
        # (the original waits 0.5 s, then lets pymilvus fail to connect if it is not up yet).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._p.poll() is not None:
                server.logger.error("Start milvus-lite failed")
                return False
            if os.path.exists(self._uds_path):
                return True
            time.sleep(0.005)
        return self._p.poll() is None

    cls.start = start
    cls._mmsearch_quick = True


def _start_lite_server(uri: str) -> None:
    """Start Milvus Lite's server process for the file `uri` now, on a thread, so that it comes
    up (on the other core) while this one imports pymilvus; pymilvus's connect then finds it
    started (milvus_lite's server manager keeps one server per file, and makes a second caller
    wait for the first). A start that fails here is left to pymilvus's own, which fails the same
    way and says so."""
    if _import_milvus_lite() is None:
        return
    _quick_lite_start()

    def start() -> None:
        try:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.start_and_get_uri(uri)
        except Exception:  # pymilvus starts it again and reports the failure
            log.debug("starting Milvus Lite for %s early failed", uri, exc_info=True)

    threading.Thread(target=start, name="milvus-lite-start", daemon=True).start()


def _open(uri: str, token: str | None, timeout: float):
    pymilvus = import_pymilvus()
    if not _verbose:
        quiet_backend_loggers()
    if is_lite(uri):
        _quick_lite_start()
    MilvusClient, MilvusException = pymilvus.MilvusClient, pymilvus.exceptions.MilvusException
    try:
        with warnings.catch_warnings():  # milvus-lite 2.5 imports the deprecated pkg_resources
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            return MilvusClient(uri=uri, token=token or _token, timeout=timeout)
    except MilvusException as exc:
        text = str(exc)
        if is_lite(uri) and ("Open local milvus failed" in text or "Locked" in text):
            raise StoreLockedError(uri) from exc
        if not is_lite(uri):
            raise StoreError(f"cannot reach the Milvus server at {uri}; is it running? ({first_line(text)})") from exc
        raise StoreError(f"cannot open the Milvus database at {uri}: {first_line(text)}") from exc
    except Exception as exc:  # grpc/network failures come in many types
        raise StoreError(f"cannot reach the Milvus server at {uri}: {first_line(str(exc))}") from exc


def close(uri: str) -> None:
    """Close and forget the client for `uri` (frees a Lite file's lock)."""
    uri = normalise_uri(uri)
    with _lock:
        client = _clients.pop(uri, None)
    if client is not None:
        try:
            client.close()
        except Exception:  # closing twice or a dead server: nothing to keep
            log.debug("closing %s failed", uri, exc_info=True)
    if is_lite(uri):
        # Milvus Lite serves the file from a server process that outlives the client and
        # keeps the file's lock; stop it so another process can open the file.
        try:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri)
        except ImportError:
            pass
        _release_lite_file(uri)
