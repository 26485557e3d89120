"""Turning exceptions into one sentence a user can act on (CLI and UI alike)."""

from __future__ import annotations


def user_message(exc: BaseException) -> str:
    """The expected errors say what happened; anything else gets its type and first line."""
    from encoders.base import EncoderError
    from milvus.errors import StoreError

    from app.search import QueryError
    from indexers.image_io import ImageDecodeError

    known = (EncoderError, StoreError, QueryError, ImageDecodeError)
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, known) or type(exc).__name__ == "CliError":
        return text
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename or text}"
    first = text.splitlines()[0][:300]
    return f"unexpected {type(exc).__name__}: {first} (run with -v for details)"
