"""Cold CLI text queries: wall time, CPU time and peak RSS of one `mmsearch` process per query.

    python -m bench.cold_cli [--rounds 3] [--lib DIR]

Builds (or reuses, `--lib`) a small offline library: six licence texts from
/usr/share/common-licenses (`index docs`) and the demo photos (`index images`, profile offline:
EfficientNet-Lite0 + the label bridge). Then, in interleaved rounds (each round runs every row
once, so every row sees the same noise), each in a fresh interpreter:

- baselines: `python -c pass`, `python -c "import numpy"`, `python -c "import pymilvus"` (which
  imports pandas, grpc and protobuf), and pymilvus as mmsearch imports it (pandas deferred until
  used, `milvus.deferred_pandas`: the floor of a query that opens the database itself);
- `search text --kind doc`, `ask` (extractive answer) and `search text "a butterfly"` (photos,
  label bridge): as shipped (MiniLM's numpy path), and with the numpy path switched off
  (`encoders.minilm_fast.configure(enabled=False)`: the sentence-transformers path, as before);
- `search text` (doc and photo) and `ask` through a running `mmsearch serve` on the same database.

Each figure is the median over rounds; CPU = user + sys of the process and the children it
waited for (the Milvus Lite server), peak RSS = the largest of them (`/usr/bin/time`'s %M).
Python's bytecode cache is warmed first (PYTHONPYCACHEPREFIX in the library folder): this
machine sets PYTHONDONTWRITEBYTECODE, which would otherwise recompile mmsearch on every call.
Writes bench/results/cold_cli.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import markdown_table, write_result

LICENCES = ("Apache-2.0", "Artistic", "BSD", "CC0-1.0", "LGPL-3", "MPL-2.0")
DOC_QUERY = "may I redistribute the software in binary form?"
ASK_QUERY = "What must I do with the NOTICE text file when I redistribute the work?"
PHOTO_QUERY = "a butterfly"
OFF = "import sys; from encoders import minilm_fast; minilm_fast.configure(enabled=False); from app.cli.main import main; sys.argv[0] = 'mmsearch'; sys.exit(main())"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(lib: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "MMSEARCH_DB", "MILVUS_URI")}
    env.update(
        PYTHONPYCACHEPREFIX=str(lib / "pycache"), MMSEARCH_PROFILE="offline", MMSEARCH_HOME=str(lib / "home"),
        MMSEARCH_LLM="extractive", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
    )
    return env


def build_library(lib: Path, env: dict[str, str]) -> Path:
    """The docs and photos, indexed once (reused when `lib` already has them)."""
    db = lib / "lib.db"
    if (lib / "built").exists():
        return db
    lib.mkdir(parents=True, exist_ok=True)
    docs = lib / "docs"
    docs.mkdir(exist_ok=True)
    for name in LICENCES:
        src = Path("/usr/share/common-licenses") / name
        if src.exists():
            shutil.copy(src, docs / f"{name}.txt")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app.demo.photos import prepare_photos

    photos = prepare_photos(lib / "photos")
    for what, path in (("docs", docs), ("images", photos)):
        subprocess.run([sys.executable, "-m", "app.cli", "index", what, str(path), "--db", str(db), "-q"], env=env, check=True)
    (lib / "built").write_text("ok")
    return db


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one run of `cmd` under /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-o", t.name, "-f", "%U %S %M", *cmd], env=env, cwd=cwd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        user, sys_, rss_kb = t.read().split()[-3:]
    return wall, float(user) + float(sys_), int(rss_kb) / 1024


class Serve:
    """`mmsearch serve` on the library, ready once it prints its serving line."""

    def __init__(self, db: Path, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--db", str(db), "--port", str(free_port())],
            env=dict(env, PYTHONUNBUFFERED="1"), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(600) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("mmsearch serve did not start")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if "mmsearch: serving" in line:
                self.ready.set()
        self.ready.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def throughput(lib: Path, n: int, rounds: int) -> str:
    """Documents per second of MiniLM through numpy and through sentence-transformers (CPU),
    on `n` ~180-word chunks of the licence texts, interleaved; a Markdown table."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from encoders.minilm_fast import load_bert
    from encoders.sentence_transformers_encoder import packaged_minilm_path

    texts: list[str] = []
    for f in sorted((lib / "docs").glob("*.txt")):
        words = f.read_text(errors="ignore").split()
        texts += [" ".join(words[i : i + 180]) for i in range(0, len(words), 180)]
    texts = texts[:n]
    folder = packaged_minilm_path()
    ours, st = load_bert(folder), SentenceTransformer(str(folder), device="cpu")
    runs: dict[str, list[tuple[float, float]]] = {"numpy (encoders.minilm_fast)": [], f"sentence-transformers (torch, {torch.get_num_threads()} threads)": []}
    fns = [lambda: ours.encode(texts), lambda: st.encode(texts, batch_size=32, convert_to_numpy=True)]
    a, b = fns[0](), fns[1]()
    cos = float(np.min((a / np.linalg.norm(a, axis=1, keepdims=True) * b / np.linalg.norm(b, axis=1, keepdims=True)).sum(axis=1)))
    for _ in range(rounds):
        for name, fn in zip(runs, fns):
            t, c = time.perf_counter(), time.process_time()
            fn()
            runs[name].append((time.perf_counter() - t, time.process_time() - c))
    rows = [
        (name, f"{len(texts) / statistics.median(r[0] for r in rs):.1f}", f"{1000 * statistics.median(r[1] for r in rs) / len(texts):.0f}")
        for name, rs in runs.items()
    ]
    return (
        f"Batched document throughput, {len(texts)} chunks of ~180 words (≤ 256 tokens), median of {rounds} interleaved rounds "
        f"(lowest cosine between the two: {cos:.6f}):\n\n"
        + markdown_table(("MiniLM path", "texts/s (wall)", "CPU ms per text"), rows)
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lib", default=None, help="library folder to build or reuse (default: a temporary one)")
    ap.add_argument("--throughput", type=int, default=32, help="chunks for the batched-throughput table (0: skip it)")
    args = ap.parse_args(argv)
    lib = Path(args.lib or tempfile.mkdtemp(prefix="mmsearch-cold-")).resolve()
    env = environment(lib)
    db = build_library(lib, env)
    py, cli = sys.executable, [sys.executable, "-m", "app.cli"]
    dbarg = ["--db", str(db)]
    queries = {
        "search text --kind doc": ["search", "text", DOC_QUERY, "--kind", "doc", *dbarg],
        "ask (extractive)": ["ask", ASK_QUERY, "--llm", "extractive", *dbarg],
        'search text "a butterfly" (photos)': ["search", "text", PHOTO_QUERY, *dbarg],
    }
    direct: dict[str, list[str]] = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import numpy'": [py, "-c", "import numpy"],
        "python -c 'import pymilvus'": [py, "-c", "import pymilvus"],
        "pymilvus as mmsearch imports it (pandas deferred)": [py, "-c", "from milvus.client import import_pymilvus; import_pymilvus()"],
    }
    for name, q in queries.items():
        direct[f"{name} — numpy MiniLM (now)"] = [*cli, *q]
        direct[f"{name} — sentence-transformers path (numpy path off)"] = [py, "-c", OFF, *q]
    served = {f"{name} — through `mmsearch serve`": [*cli, *q] for name, q in queries.items()}

    load_before = os.getloadavg()
    for cmd in [*direct.values()]:  # warm the bytecode and page caches
        measure(cmd, env, lib)
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in [*direct, *served]}
    server = Serve(db, env, lib)
    try:
        for cmd in served.values():
            measure(cmd, env, lib)
        for _ in range(args.rounds):
            for name, cmd in served.items():
                results[name].append(measure(cmd, env, lib))
    finally:
        server.stop()
    for _ in range(args.rounds):
        for name, cmd in direct.items():
            results[name].append(measure(cmd, env, lib))
    load_after = os.getloadavg()
    batched = throughput(lib, args.throughput, args.rounds) if args.throughput else ""

    rows = []
    for name, runs in results.items():
        wall, cpu, rss = (statistics.median(r[i] for r in runs) for i in range(3))
        rows.append((name, f"{wall:.2f}", f"{cpu:.2f}", f"{rss:.0f}"))
    table = markdown_table(("command", "wall s (median)", "CPU s (user+sys)", "peak RSS MB"), rows)
    chunks = json.dumps(LICENCES)
    notes = (
        f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.1f}' for x in load_before)}; after: "
        f"{', '.join(f'{x:.1f}' for x in load_after)} — the machine ({os.cpu_count()} cores) was shared with other "
        "jobs while this ran, so wall times carry their waits; CPU time is the steadier figure.\n"
        "Through the server, `search text` and `ask` build no context (no numpy, pymilvus or models in the CLI; "
        "tested in tests/unit/app/cli/test_cli_through_server_imports.py); the settings are read with the standard "
        "library. `ask`'s wall time through the server is mostly the server composing the answer.\n"
        f"Command: `python -m bench.cold_cli --rounds {args.rounds}{'' if args.throughput else ' --throughput 0'}`. Library: licence texts {chunks} and the demo photos."
        + (f"\n\n{batched}" if batched else "")
    )
    write_result("cold_cli", "Cold CLI text queries", f"rounds={args.rounds} (interleaved), profile offline, library {lib}", table, notes, pkgs=("numpy", "tokenizers", "sentence-transformers", "torch"))


if __name__ == "__main__":
    main()
