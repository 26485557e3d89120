"""`mmsearch eval` on the shipped sound and speech sets, through the real CLI and the real
offline models: aiSFX on freedesktop near-duplicates, faster-whisper on LibriVox."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.eval.audio import FREEDESKTOP_SOUNDS
from app.eval.speech import LIBRIVOX_DIR

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _eval(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`mmsearch eval ARGS` with its own MMSEARCH_HOME (Whisper base is joined there, not in the session's)."""
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "eval", *args, "--profile", "offline", "--device", "cpu"],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, "MMSEARCH_HOME": str(home)}, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _rows(stdout: str) -> tuple[list[str], list[list[str]]]:
    """The markdown table's header and rows."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("|")]
    split = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    return split[0], split[2:]


def test_freedesktop_sounds_near_duplicates_with_aisfx(tmp_path):
    if not FREEDESKTOP_SOUNDS.is_dir():
        pytest.fail(f"{FREEDESKTOP_SOUNDS} is missing: apt-get install sound-theme-freedesktop")
    proc = _eval(tmp_path, "--dataset", "freedesktop-sounds", "--limit", "8", "--save")
    out = proc.stdout
    header, rows = _rows(out)
    assert header[:9] == ["encoder", "task", "queries", "R@1", "R@5", "R@10", "mAP@10", "nDCG@10", "ms/item"]
    assert len(rows) == 1
    row = dict(zip(header, rows[0]))
    assert row["encoder"] == "aisfx" and row["task"] == "audio→audio"
    assert int(row["queries"]) == 8 * 5  # 8 sounds, each with 4 variants
    r1, r5, r10, map10, ndcg = (float(row[k]) for k in ("R@1", "R@5", "R@10", "mAP@10", "nDCG@10"))
    assert 0.5 <= r1 <= r5 <= r10 <= 1.0 and r10 >= 0.8
    assert 0.4 <= map10 <= 1.0 and 0.5 <= ndcg <= 1.0
    assert float(row["ms/item"]) > 0 and 1 <= float(row["model MB"]) < 200  # aiSFX: ~18 MB of parameters
    thr = float(row["good match ≥ (F1)"].split()[0])
    assert 0.0 < thr < 1.0
    # --save: sound search now cuts off at the threshold the eval found
    saved = json.loads((tmp_path / "calibration.json").read_text())
    assert saved["aisfx|audio|audio"] == {"threshold": pytest.approx(thr, abs=1e-3), "basis": "eval"}
    assert "thresholds saved" in proc.stderr
    # the unchanged sound finds its variants first: a near-duplicate test that means something
    by_variant = dict(re.findall(r"([\w%-]+) (\d\.\d\d)", out.split("R@1 by query variant:")[1].splitlines()[0]))
    assert float(by_variant["original"]) >= 0.9
    assert set(by_variant) == {"original", "noise-20dB", "quieter-shifted", "band-limited", "first-70%"}


def test_librivox_wer_per_transcriber(tmp_path):
    if not LIBRIVOX_DIR.is_dir():
        pytest.fail(f"{LIBRIVOX_DIR} is missing: apt-get install pocketsphinx-testdata")
    proc = _eval(tmp_path, "--dataset", "librivox-wer")
    header, rows = _rows(proc.stdout)
    assert header == ["transcriber", "task", "clips", "audio s", "WER", "wall s", "RTF", "memory MB", "weights"]
    table = {r[0]: dict(zip(header, r)) for r in rows}
    assert list(table) == ["faster-whisper:tiny.en", "faster-whisper:base", "openai-whisper:tiny.en"]
    for tid in ("faster-whisper:tiny.en", "faster-whisper:base"):
        row = table[tid]
        assert int(row["clips"]) == 5 and 20.0 < float(row["audio s"]) < 30.0  # the five clips: 24.7 s
        assert float(row["WER"]) <= 0.2
        assert float(row["RTF"]) == pytest.approx(float(row["wall s"]) / float(row["audio s"]), abs=0.01)
        assert 0.0 < float(row["RTF"]) < 3.0 and 10 <= float(row["memory MB"]) < 2000
    assert "packaged" in table["faster-whisper:tiny.en"]["weights"]
    assert "joined into" in table["faster-whisper:base"]["weights"]  # the packaged halves, no download
    missing = table["openai-whisper:tiny.en"]
    assert missing["WER"] == "–" and "weights for openai-whisper:tiny.en not found" in missing["weights"]
    assert "Traceback" not in proc.stderr
