"""The Library page in Chromium, on a real `mmsearch serve`: upload photos, watch the job finish,
then find them on the Search page of the same server (one process, one database)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.server_process import mmsearch_server

pytestmark = [pytest.mark.ui, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def test_upload_on_the_library_page_then_find_them_on_search(tmp_path: Path, sample_photos: Path, browser):
    names = [n for n in sorted(os.listdir(sample_photos)) if "chelsea" in n or "coffee" in n or "rocket" in n]
    assert len(names) >= 2, names
    db = str(tmp_path / "lib.db")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with mmsearch_server(db, {"MMSEARCH_PROFILE": "offline", "MMSEARCH_LIBRARY_ROOTS": str(tmp_path)}) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(server.url + "/library", wait_until="networkidle")
            page.get_by_text("Index jobs", exact=True).wait_for(timeout=300_000)
            page.get_by_text("No index jobs yet").wait_for(timeout=300_000)  # the empty state says what to do
            assert "mmsearch" in page.title().lower()
            assert page.get_by_role("button", name="Deploy").count() == 0  # the toolbar is the viewer's
            page.locator("input[type='file']").first.wait_for(state="attached", timeout=300_000)
            page.locator("input[type='file']").first.set_input_files([str(sample_photos / n) for n in names])
            page.get_by_role("button", name="Index these files").click()
            page.get_by_text(f"Indexing {len(names)} file(s)").wait_for(timeout=300_000)
            # the job list refreshes itself: wait for the finished job's counts
            page.get_by_text(f"{len(names)} indexed").wait_for(timeout=600_000)
            page.screenshot(path=str(ARTIFACTS / "library.png"), full_page=True)

            page.goto(server.url + "/", wait_until="networkidle")
            page.get_by_label("Describe what you are looking for").fill("a cat")
            page.get_by_role("button", name="Search").click()
            page.get_by_text("Results for").wait_for(timeout=300_000)
            page.get_by_text("chelsea").first.wait_for(timeout=300_000)
        finally:
            page.close()
        status, jobs = server.request("GET", "/api/jobs")
        assert status == 200 and jobs[0]["state"] == "done" and jobs[0]["indexed"] == len(names)
