"""An indexer killed with SIGKILL part-way and run again ends with exactly a clean run's rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from indexers.failpoints import BATCH_STORED

pytestmark = pytest.mark.slow


def _mmsearch(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_line(proc: subprocess.Popen, needle: str) -> bool:
    """Read the process's stderr until a line holds `needle` (True) or the stream ends (False).

    The pytest timeout bounds the wait; the process blocks at the failpoint, so the line comes."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if needle in line:
            return True
    return False


def _ids(db: str) -> list[str]:
    from milvus import VectorStore
    from milvus.client import close

    store = VectorStore(db)
    try:
        out = []
        for info in store.list_collections():
            coll = store.find(info.kind, info.encoder)
            rows = coll.query(limit=16384)
            out += [f"{info.name}/{r['id']}" for r in rows]
        return sorted(out)
    finally:
        close(db)


def test_sigkill_then_rerun_equals_clean_run(tmp_path: Path, photos_dir: Path):
    env = dict(os.environ, MMSEARCH_PROFILE="offline", PYTHONUNBUFFERED="1")
    clean_db, crash_db = str(tmp_path / "clean.db"), str(tmp_path / "crash.db")

    clean = _mmsearch("index", "images", str(photos_dir), "--db", clean_db, "--json", "-q", env=env)
    out, err = clean.communicate(timeout=600)
    assert clean.returncode == 0, err
    n_clean = json.loads(out)["indexed"]
    assert n_clean >= 20

    # Kill at a signalled point: the run says on stderr that its first batch is stored, then
    # waits (MMSEARCH_FAILPOINT); no sleep, so a fast machine cannot finish before the kill.
    crash_env = dict(env, MMSEARCH_FAILPOINT=BATCH_STORED)
    proc = _mmsearch("index", "images", str(photos_dir), "--db", crash_db, "-q", env=crash_env)
    seen = _wait_for_line(proc, f"failpoint {BATCH_STORED} reached")
    assert seen, "the indexer ended without reaching its first stored batch"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL

    partial = _ids(crash_db)
    assert 0 < len(partial) < len(_ids(clean_db))  # killed part-way: some rows stored, not all
    rerun = _mmsearch("index", "images", str(photos_dir), "--db", crash_db, "--json", "-q", env=env)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    report = json.loads(out)

    assert _ids(crash_db) == _ids(clean_db)  # same rows in every collection: none missing, none twice
    # Every photo is either already there (resumed) or indexed now; nothing is done twice.
    assert report["indexed"] + report["unchanged"] == n_clean
    # Photos whose rows reached every collection before the kill were not redone.
    per_photo: dict[str, int] = {}
    for key in partial:
        per_photo[key.split("/")[1]] = per_photo.get(key.split("/")[1], 0) + 1
    n_collections = len({key.split("/")[0] for key in _ids(clean_db)})
    assert report["unchanged"] == sum(1 for c in per_photo.values() if c == n_collections)
