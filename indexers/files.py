"""Finding files and naming content by its hash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable


def discover(paths: Iterable[str | Path], extensions: frozenset[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files under `paths` (recursively) with one of `extensions`, sorted; plus missing paths."""
    found: list[Path] = []
    missing: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_file():
            found.append(p.resolve())
        elif p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(Path(root, n).resolve() for n in sorted(names) if Path(n).suffix.lower() in extensions)
        else:
            missing.append((str(raw), "no such file or folder"))
    return list(dict.fromkeys(found)), missing


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def item_id(content_digest: str, offset: str | float | int = 0) -> str:
    """Row id = hash of (content, item offset): the same bytes always give the same ids."""
    return hashlib.sha256(f"{content_digest}#{offset}".encode()).hexdigest()[:32]
