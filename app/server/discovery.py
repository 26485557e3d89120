"""How a CLI finds the server that owns its database: `mmsearch serve` writes a small file beside
the database (readable by its user only) with its URL, process id and a local token."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from app.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerInfo:
    """A running server: where it answers and the token that proves the caller is its user."""

    url: str
    pid: int
    token: str
    db: str


def state_path(settings: Settings, suffix: str) -> Path:
    """`<db>.<suffix>` beside a Lite `.db`; HOME/servers/<hash>.<suffix> for a server URI."""
    if not settings.db_is_server:
        db = Path(settings.db).expanduser().resolve()
        return db.with_name(db.name + "." + suffix)
    digest = hashlib.sha256(settings.db.encode()).hexdigest()[:16]
    return settings.home / "servers" / f"{digest}.{suffix}"


def server_file(settings: Settings) -> Path:
    """Where a server on this database announces itself."""
    return state_path(settings, "server.json")


def announce(settings: Settings, url: str, token: str) -> Path:
    """Write the server file (mode 0600: the token lets its user index any path)."""
    path = server_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "pid": os.getpid(), "token": token, "db": settings.db}, f)
    tmp.replace(path)
    return path


def withdraw(settings: Settings) -> None:
    """Remove the server file if it is this process's."""
    path = server_file(settings)
    info = read(path)
    if info is not None and info.pid == os.getpid():
        path.unlink(missing_ok=True)


def read(path: Path) -> ServerInfo | None:
    """The server file's contents, or None when absent or unreadable."""
    try:
        data = json.loads(path.read_text())
        return ServerInfo(str(data["url"]), int(data["pid"]), str(data["token"]), str(data.get("db", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_running(settings: Settings) -> ServerInfo | None:
    """The server that owns this database, if its process is alive (a stale file is ignored)."""
    info = read(server_file(settings))
    if info is None:
        return None
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        log.debug("ignoring a stale server file for pid %s", info.pid)
        return None
    except PermissionError:
        return None  # another user's server: its token file would not be readable either
    return info
