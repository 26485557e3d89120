"""Finding files and naming content by its hash."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

if TYPE_CHECKING:
    from indexers.report import IndexReport


def iter_files(
    paths: Iterable[str | Path],
    extensions: frozenset[str] | None = None,
    accept: Callable[[Path], bool] | None = None,
    on_missing: Callable[[str, str], None] | None = None,
) -> Iterator[Path]:
    """Stream the files under `paths` (resolved, each once) in `discover`'s order.

    Memory is one folder's listing plus a set per input, never the whole file list: a file is
    dropped when an earlier input (or a link already followed) yields it, judged by where it
    lives rather than by remembering every path. `on_missing(path, reason)` hears of inputs that
    do not exist."""
    named: set[Path] = set()  # files named directly or reached through a link, already yielded
    walked: list[Path] = []  # resolved folders walked (the current one last)

    def passes(f: Path) -> bool:
        return (extensions is None or f.suffix.lower() in extensions) and (accept is None or accept(f))

    def walk_yields(f: Path, roots: list[Path]) -> bool:
        """Whether a walk of `roots` yields the resolved file `f` as itself (not through a link)."""
        return _covered(f.parent, roots) and passes(f)

    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_file():
            r = p.resolve()
            if r not in named and not walk_yields(r, walked):
                named.add(r)
                yield r
        elif p.is_dir():
            top = p.resolve()
            if _covered(top, walked):
                continue
            earlier = list(walked)
            walked.append(top)
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                here = Path(root).resolve()
                if _covered(here, earlier):  # an earlier input walked this folder and all below it
                    dirs[:] = []
                    continue
                for n in sorted(names):
                    f = Path(root, n)
                    if not passes(f):
                        continue
                    r = f.resolve()
                    if r in named:
                        continue
                    if r != here / n:  # a link: skip it when a walk yields its target anyway
                        if walk_yields(r, walked):
                            continue
                        named.add(r)
                    yield r
        elif on_missing is not None:
            on_missing(str(raw), "no such file or folder")


def _covered(folder: Path, roots: list[Path]) -> bool:
    """Whether walking any of `roots` (resolved) visits the resolved `folder`: it lies below
    one of them with no hidden folder between (a resolved path holds no links, so the walk
    reaches it)."""
    for root in roots:
        try:
            rel = folder.relative_to(root)
        except ValueError:
            continue
        if not any(part.startswith(".") for part in rel.parts):
            return True
    return False


def count_files(
    paths: Iterable[str | Path],
    extensions: frozenset[str] | None = None,
    accept: Callable[[Path], bool] | None = None,
    on_missing: Callable[[str, str], None] | None = None,
) -> int:
    """How many files `iter_files` yields for these arguments (a walk, nothing kept)."""
    return sum(1 for _ in iter_files(paths, extensions, accept, on_missing))


def discover(
    paths: Iterable[str | Path],
    extensions: frozenset[str] | None = None,
    accept: Callable[[Path], bool] | None = None,
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files under `paths` (recursively, hidden folders skipped), sorted; plus missing paths.

    Inside folders a file is kept when its suffix is in `extensions` (if given) and
    `accept(path)` is true (if given); files named directly are always kept."""
    missing: list[tuple[str, str]] = []
    found = iter_files(paths, extensions, accept, on_missing=lambda path, reason: missing.append((path, reason)))
    return list(dict.fromkeys(found)), missing


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def digest_files(files: Iterable[Path], report: "IndexReport", workers: int, pool: Executor | None = None) -> dict[Path, str]:
    """SHA-256 of each file, hashed in parallel (on `pool` if given, else `workers` threads);
    a file that cannot be read is skipped on `report`."""
    if pool is None:
        with ThreadPoolExecutor(workers) as own:
            return digest_files(files, report, workers, own)
    digests: dict[Path, str] = {}
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
