"""Store errors whose messages are meant for users, and the one place backend errors become them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# Where the backends' exception types live (pymilvus's own, gRPC's, Milvus Lite's).
BACKEND_MODULES = ("pymilvus", "grpc", "milvus_lite")


class StoreError(RuntimeError):
    """A vector-store problem, stated in one sentence."""


class StoreLockedError(StoreError):
    """A Milvus Lite file is open in another process."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the database {path} is in use by another process; "
            "start `mmsearch db serve` or use a server URI (--db http://host:19530)"
        )


class CollectionMismatchError(StoreError):
    """A collection was opened with an encoder other than the one that filled it."""


def is_backend_error(exc: BaseException) -> bool:
    """True for an exception raised by pymilvus, gRPC or Milvus Lite (not by our own code:
    a TypeError or KeyError of ours stays a bug, with its traceback)."""
    return type(exc).__module__.split(".")[0] in BACKEND_MODULES


def first_line(text: str) -> str:
    return (text.strip().splitlines() or ["unknown error"])[0][:300]


def backend_message(exc: BaseException) -> str:
    """The first line of what the server said: a MilvusException's message without its
    `<MilvusException: (code=…, message=…)>` wrapping, a gRPC error's details."""
    message = getattr(exc, "message", None)
    if not isinstance(message, str) or not message.strip():
        details = getattr(exc, "details", None)
        message = details() if callable(details) else None
    if not isinstance(message, str) or not message.strip():
        message = str(exc) or type(exc).__name__
    return first_line(message)


@contextmanager
def translate(action: str) -> Iterator[None]:
    """Turn a backend error raised inside the block into `StoreError("{action} failed: …")`,
    e.g. `with translate(f"search in {name}")`; the original stays as `__cause__` (so
    `app.errors.no_room_message` still finds a full disk behind it). StoreErrors and errors
    of our own code pass through unchanged."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        if not is_backend_error(exc):
            raise
        raise StoreError(f"{action} failed: {backend_message(exc)}") from exc
