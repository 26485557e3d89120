"""The Status page on the indexed sample photos: files and items per collection, every active
model (sounds and transcription too), through AppTest and Chromium (tests/artifacts/status.png)."""

from __future__ import annotations

import pytest
import streamlit as st

from tests.ui.conftest import ARTIFACTS, REPO, streamlit_server

STATUS_PAGE = str(REPO / "app" / "views" / "status.py")

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def test_apptest_collections_and_models(indexed_photos_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    monkeypatch.setenv("MMSEARCH_DB", indexed_photos_db)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    at = AppTest.from_file(STATUS_PAGE, default_timeout=600)
    try:
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        collections, models = (df.value for df in at.dataframe)
        assert {"holds", "files", "items", "model", "good match"} <= set(collections.columns)
        photos = collections[collections["holds"] == "photos"].iloc[0]
        assert int(photos["files"]) > 10 and photos["items"].endswith("photos")
        used_for = " | ".join(models["used for"])
        assert "sounds" in used_for and "speech → text" in used_for and "documents" in used_for
        assert "loaded from" not in models.columns  # long paths go below the table, not in a cut-off column
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()
        close(indexed_photos_db)


def test_browser_status_screenshot(indexed_photos_db, browser):
    with streamlit_server(indexed_photos_db, {"MMSEARCH_PROFILE": "offline"}) as url:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(url, wait_until="networkidle")
        page.locator("[data-testid='stSidebarNav']").get_by_text("Status", exact=True).click()
        page.get_by_text("Weights loaded from").wait_for(timeout=300_000)
        page.locator("[data-testid='stDataFrame']").nth(1).wait_for(timeout=300_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "status.png"), full_page=True)
        page.close()
