"""Finding files and naming content by its hash."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from indexers.report import IndexReport


def discover(
    paths: Iterable[str | Path],
    extensions: frozenset[str] | None = None,
    accept: Callable[[Path], bool] | None = None,
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files under `paths` (recursively, hidden folders skipped), sorted; plus missing paths.

    Inside folders a file is kept when its suffix is in `extensions` (if given) and
    `accept(path)` is true (if given); files named directly are always kept."""
    found: list[Path] = []
    missing: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_file():
            found.append(p.resolve())
        elif p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for n in sorted(names):
                    f = Path(root, n)
                    if (extensions is None or f.suffix.lower() in extensions) and (accept is None or accept(f)):
                        found.append(f.resolve())
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


def digest_files(files: Iterable[Path], report: "IndexReport", workers: int) -> dict[Path, str]:
    """SHA-256 of each file, hashed in parallel; a file that cannot be read is skipped on `report`."""
    digests: dict[Path, str] = {}
    with ThreadPoolExecutor(workers) as pool:
        futures = {p: pool.submit(file_digest, p) for p in files}
        for p, fut in futures.items():
            try:
                digests[p] = fut.result()
            except OSError as exc:
                report.skip(str(p), f"cannot read file ({exc.strerror or exc})")
    return digests


def item_id(content_digest: str, offset: str | float | int = 0) -> str:
    """Row id = hash of (content, item offset): the same bytes always give the same ids."""
    return hashlib.sha256(f"{content_digest}#{offset}".encode()).hexdigest()[:32]
