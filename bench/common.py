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
from typing import Any, Iterator, Sequence

RESULTS = Path(__file__).parent / "results"
log = logging.getLogger("bench")


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu_model() or platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {gpu}, Python {platform.python_version()}"
    )


def cpu_model() -> str | None:
    """The CPU's name and its vector extensions that matter to a forward pass (from /proc/cpuinfo):
    a shared host may change between runs, and the figures with it."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    name = fields.get("model name")
    if not name:
        return None
    flags = set(fields.get("flags", "").split())
    extensions = [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile") if f in flags]
    return f"{name} ({', '.join(extensions) or 'no AVX2'})"


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


def warmed_encoder(encoder_id: str, device: str, sample: list[Any], expected: int) -> Any:
    """The encoder as a run of `expected` photos has it before its timed part: loaded, its first
    forward done, told how many photos are coming (a CNN's forward freezes from `FREEZE_AT`),
    and run once more, so any freezing happens here, untimed. `sample`: decoded photos (≥ 1)."""
    from encoders import get_encoder

    enc = get_encoder(encoder_id, device, None)
    enc.embed_documents([im.copy() for im in sample[:4]])
    enc.expect_documents(expected)
    enc.embed_documents([im.copy() for im in sample[:4]])
    return enc


def index_images_timed(images: Path, enc, db: Path, expected: int) -> float:
    """Seconds for one `mmsearch index` of the photos in `images` with `enc`, as a new process
    runs it: into a fresh Milvus Lite database at `db`, the encoder's measured batch size
    forgotten; torch's threads are restored afterwards (the indexer's thread plan changes them)."""
    import torch

    from indexers.images import index_images
    from milvus import VectorStore
    from milvus.client import close

    cores = torch.get_num_threads()
    store = VectorStore(str(fresh_dir(db.parent) / db.name))
    if enc.batch_plan is not None:
        enc.batch_plan.forget()
    t0 = time.perf_counter()
    report = index_images([images], store, [enc], progress=False)
    seconds = time.perf_counter() - t0
    close(store.uri)
    torch.set_num_threads(cores)
    if report.indexed != expected:
        raise RuntimeError(f"indexed {report.indexed} of {expected} photos: {report.summary()}")
    return seconds
