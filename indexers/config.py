"""Limits and places the indexers use. The app sets them once per process from its settings
(`app.context.apply_settings`); library users may call `configure`; tests use `configured`.
Nothing here reads the environment."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

DEFAULT_MAX_PIXELS = 100_000_000  # 10 000 × 10 000
DEFAULT_MAX_AUDIO_SECONDS = 3600.0  # sound files are cut at one hour


@dataclass(frozen=True)
class IndexerConfig:
    """What bounds and where the indexers write."""

    max_pixels: int = DEFAULT_MAX_PIXELS  # images above this are refused before decoding
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS
    thumbs_dir: Path | None = None  # None: beside a Lite `.db`, else under the mmsearch home
    calibration_path: Path | None = None  # None: calibration.json in the mmsearch home
    failpoint: str | None = None  # a test seam: see indexers.failpoints


_current = IndexerConfig()


def current() -> IndexerConfig:
    """The configuration in force."""
    return _current


def configure(**changes: Any) -> IndexerConfig:
    """Change some fields for the rest of the process; returns the new configuration."""
    global _current
    _current = dataclasses.replace(_current, **changes)
    return _current


@contextmanager
def configured(**changes: Any) -> Iterator[IndexerConfig]:
    """`configure` for the duration of a `with` block (tests)."""
    global _current
    before = _current
    try:
        yield configure(**changes)
    finally:
        _current = before
