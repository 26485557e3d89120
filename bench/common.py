"""Shared benchmark plumbing: machine facts, timing, Markdown tables in bench/results/."""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

RESULTS = Path(__file__).parent / "results"
log = logging.getLogger("bench")


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {gpu}, Python {platform.python_version()}"
    )


def versions(*packages: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for p in packages:
        try:
            out.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            out.append(f"{p} (not installed)")
    return ", ".join(out)


@contextmanager
def timer() -> Iterator[list[float]]:
    box: list[float] = []
    t0 = time.perf_counter()
    yield box
    box.append(time.perf_counter() - t0)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_result(name: str, title: str, params: str, table: str, notes: str = "", pkgs: Sequence[str] = (), quiet: bool = False) -> Path:
    """Print the table (unless `quiet`: a partial result) and save it as bench/results/NAME.md
    with machine, date and versions."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = (
        f"# {title}\n\n"
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}\n"
        f"- machine: {machine()}\n"
        f"- versions: {versions('mmsearch', 'pymilvus', 'milvus-lite', *pkgs)}\n"
        f"- parameters: {params}\n\n{table}\n"
        + (f"\n{notes}\n" if notes else "")
    )
    path = RESULTS / f"{name}.md"
    path.write_text(text)
    if not quiet:
        print(text)  # a benchmark's table is its output
    return path


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
