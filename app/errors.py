"""The errors a user may see, and turning any exception into one sentence they can act on
(CLI, app and API alike). A leaf of `app/`: every layer may import it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

NO_ROOM = "the disk is full or a file size limit was hit"
# How "no room to write" reads when it crossed a process or RPC boundary and lost its errno.
_NO_ROOM_TEXTS = ("No space left on device", "File too large", "Disk quota exceeded")
_STORE_MODULES = ("milvus", "pymilvus", "milvus_lite", "grpc")


class QueryError(ValueError):
    """A query that cannot be run, stated as a sentence for the user."""


class CliError(Exception):
    """A command-line failure to report in one sentence (exit 1)."""


def user_message(exc: BaseException, db: str | None = None) -> str:
    """The expected errors say what happened; anything else gets its type and first line.
    `db`: the database the command used, to say where a write failed."""
    from encoders.base import EncoderError
    from indexers.image_io import ImageDecodeError
    from milvus.errors import StoreError

    no_room = no_room_message(exc, db)
    if no_room:
        return no_room
    known = (EncoderError, StoreError, QueryError, CliError, ImageDecodeError)
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, known) or getattr(exc, "user_facing", False):  # e.g. app.settings.SettingsError
        return text
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename or text}"
    first = text.splitlines()[0][:300]
    return f"unexpected {type(exc).__name__}: {first} (run with -v for details)"


def no_room_message(exc: BaseException, db: str | None = None) -> str | None:
    """One sentence when `exc` means there was no room to write (disk full, quota, `ulimit -f`),
    else None. A Milvus Lite server process killed by SIGXFSZ leaves no errno behind: a store
    error counts when the database's disk is full or one of its files reached the limit."""
    from indexers.report import is_out_of_room

    where = f"to the Milvus database at {db}" if db else "to the Milvus database"
    for e in _chain(exc):
        if is_out_of_room(e):
            name = e.filename if isinstance(e.filename, str) else None
            if name and db and _inside(Path(name), Path(db)):
                return f"could not write {where}: {NO_ROOM}"
            return f"could not write {name or 'a file'}: {NO_ROOM}"
    store_error = any(type(e).__module__.split(".")[0] in _STORE_MODULES for e in _chain(exc))
    if not store_error:
        return None
    if any(t in str(e) for e in _chain(exc) for t in _NO_ROOM_TEXTS) or (db and lite_out_of_room(db)):
        return f"could not write {where}: {NO_ROOM}"
    return None


def lite_out_of_room(db: str) -> bool:
    """Whether a Milvus Lite database (a `.db` file or folder, and its siblings such as the
    journal) sits on a full disk or has a file as large as this process may write."""
    import shutil

    from milvus.client import is_lite

    if not is_lite(db):
        return False
    path = Path(db).expanduser()
    try:
        if shutil.disk_usage(path.parent).free < 1 << 20:
            return True
        limit = _file_size_limit()
        if limit is None:
            return False
        files = [f for f in path.parent.glob(f"{path.name}*") if f.is_file()]
        if path.is_dir():
            files += [f for f in path.rglob("*") if f.is_file()]
        return any(f.stat().st_size >= limit for f in files)
    except OSError:
        return False


def _file_size_limit() -> int | None:
    """This process's largest file in bytes (`ulimit -f`), None when unlimited or unknown."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if limit in (resource.RLIM_INFINITY, -1) else limit


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or during."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _inside(path: Path, db: Path) -> bool:
    """`path` is the database, a file in its folder, or a sibling such as `X.db-journal`."""
    try:
        p, d = path.resolve(), db.resolve()
    except (OSError, ValueError):
        return False
    return p.is_relative_to(d) or (p.parent == d.parent and p.name.startswith(d.name))
