"""Every page on a database where nothing is indexed: it says what to do (the Library page or
the CLI line, shown as a command, not as Markdown source) and shows no error. Through AppTest
and through Chromium (a screenshot per page in tests/artifacts/empty-*.png)."""

from __future__ import annotations

import pytest
import streamlit as st

from tests.ui.conftest import ARTIFACTS, REPO, streamlit_server

pytestmark = [pytest.mark.ui]

# page file, navigation title, what the page says to run
PAGES = [
    ("search.py", "Search", "mmsearch index images PATH", "photos"),
    ("catalogue.py", "Catalogue", "mmsearch index catalogue FILE", "catalogue items"),
    ("audio.py", "Sounds", "mmsearch index audio PATH", "sounds"),
    ("video.py", "Video moments", "mmsearch index video PATH", "videos"),
    ("ask.py", "Ask your documents", "mmsearch index docs PATH_OR_URL", "documents"),
]


@pytest.fixture()
def empty_db(tmp_path, monkeypatch):
    from milvus.client import close

    uri = str(tmp_path / "empty.db")
    monkeypatch.setenv("MMSEARCH_DB", uri)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    monkeypatch.setenv("MMSEARCH_CALIBRATION", str(tmp_path / "calibration.json"))
    yield uri
    st.cache_resource.clear()
    st.cache_data.clear()
    close(uri)


@pytest.mark.parametrize("page,title,command,what", PAGES)
def test_apptest_empty_page_says_what_to_do(empty_db, page, title, command, what):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app" / "views" / page), default_timeout=600).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    infos = [i.value for i in at.info]
    expected = f"No {what} are indexed yet\\. Add {what} on the Library page, or run `{command}`\\."
    assert any(i.startswith(expected) for i in infos), infos
    assert not at.button and not at.text_input  # no form that can only fail


def test_apptest_status_page_when_empty(empty_db):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app" / "views" / "status.py"), default_timeout=600).run()
    assert not at.exception and not at.error
    assert any("Library page" in i.value and "`mmsearch index images PATH`" in i.value for i in at.info)


def test_browser_every_page_shows_its_empty_state(tmp_path, browser):
    uri = str(tmp_path / "empty.db")
    with streamlit_server(uri, {"MMSEARCH_PROFILE": "offline", "MMSEARCH_CALIBRATION": str(tmp_path / "c.json")}) as url:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(url, wait_until="networkidle")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for file, title, command, what in PAGES:
            page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
            alert = page.locator("[data-testid='stAlertContentInfo']").filter(has_text=f"Add {what} on the Library page")
            alert.wait_for(timeout=300_000)
            assert alert.locator("code").first.inner_text() == command  # a command, not `backticks`
            assert "`" not in alert.inner_text()
            assert page.locator("[data-testid='stAlertContentError'], [data-testid='stException']").count() == 0
            page.screenshot(path=str(ARTIFACTS / f"empty-{file.removesuffix('.py')}.png"), full_page=True)
        page.locator("[data-testid='stSidebarNav']").get_by_text("Status", exact=True).click()
        page.get_by_text("Nothing is indexed yet").wait_for(timeout=300_000)
        page.screenshot(path=str(ARTIFACTS / "empty-status.png"), full_page=True)
        # the empty state's link leads to the Library page, where content is added
        page.locator("[data-testid='stMain'] [data-testid='stPageLink'] a").first.click()
        page.wait_for_url("**/library", timeout=300_000)
        page.get_by_role("heading", name="Library").first.wait_for(timeout=300_000)
        page.close()
