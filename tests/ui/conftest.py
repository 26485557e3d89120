"""UI fixtures: an indexed sample database, a Streamlit server on loopback, headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.server_process import free_port

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = os.environ.get("MMSEARCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def streamlit_server(db_uri: str, env_extra: dict[str, str] | None = None, timeout: float = 600.0) -> Iterator[str]:
    """Run `streamlit run app/streamlit_app.py` on 127.0.0.1 and yield its URL.

    The caller must have closed its own client of a Lite `.db`: the file is one process's.
    """
    port = free_port()
    env = dict(os.environ, MMSEARCH_DB=db_uri, **(env_extra or {}))
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "streamlit_app.py"),
        "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--server.maxUploadSize", "20",
    ]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / f"streamlit-{port}.log", "w")
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("streamlit did not become healthy in time")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (Playwright's own browser download is not used)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make sysdeps` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def indexed_photos_db(tmp_path_factory) -> str:
    """The sample photos indexed with the offline profile into a fresh Lite `.db` (client closed)."""
    from app.demo.photos import prepare_photos
    from encoders import get_encoder
    from encoders.profiles import PROFILES
    from indexers.images import index_images
    from milvus import VectorStore
    from milvus.client import close

    root = tmp_path_factory.mktemp("ui")
    photos = prepare_photos(root / "photos")
    uri = str(root / "ui.db")
    store = VectorStore(uri)
    encoders = [get_encoder(e) for e in PROFILES["offline"].image_encoders]
    report = index_images([photos], store, encoders, progress=False)
    assert report.indexed > 10 and not report.failed
    close(uri)
    return uri
