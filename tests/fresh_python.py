"""Run a probe in a fresh interpreter and read back what it reports.

Import tests ask what a command loads (`sys.modules`), which only a new interpreter can answer.
A probe prints one line, `PROBE <json>`; `run_probe` runs it and returns that JSON with the
process's stdout and stderr added (`"stdout"`, `"stderr"`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def probe_env(*extra_path: Path) -> dict[str, str]:
    """This environment without a database choice (MMSEARCH_DB, MILVUS_URI), importing the
    repository first, then `extra_path`."""
    env = {k: v for k, v in os.environ.items() if k not in ("MMSEARCH_DB", "MILVUS_URI")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (REPO, *extra_path))
    return env


def run_probe(code: str, args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> dict[str, Any]:
    """`python -c CODE ARGS` in `cwd`; the JSON of its last `PROBE ` line, with stdout and stderr."""
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, f"no probe line; stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1].removeprefix("PROBE "))
    result["stdout"], result["stderr"] = proc.stdout, proc.stderr
    return result
