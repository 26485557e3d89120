"""The search page, through Streamlit's AppTest and through a real browser."""

from __future__ import annotations

import pytest
import streamlit as st

from tests.ui.conftest import ARTIFACTS, REPO, streamlit_server

SEARCH_PAGE = str(REPO / "app" / "views" / "search.py")

pytestmark = [pytest.mark.ui, pytest.mark.slow]


@pytest.fixture()
def apptest(indexed_photos_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    monkeypatch.setenv("MMSEARCH_DB", indexed_photos_db)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    at = AppTest.from_file(SEARCH_PAGE, default_timeout=120)
    yield at
    # AppTest runs in this process: drop the cached store, then release the Lite file
    st.cache_resource.clear()
    close(indexed_photos_db)


def test_text_search_shows_cat_first(apptest):
    at = apptest.run()
    assert not at.exception
    at.text_input[0].input("a cat")
    at.button[0].click().run()
    assert not at.error, [e.value for e in at.error]
    assert at.subheader[0].value.startswith("Results for")
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert titles[0] == "**chelsea**"
    assert any(c.value.startswith("score ") for c in at.caption)


def test_more_like_this_excludes_the_item(apptest):
    at = apptest.run()
    at.text_input[0].input("a rocket")
    at.button[0].click().run()
    assert not at.error, [e.value for e in at.error]
    first = [m.value for m in at.markdown if m.value.startswith("**")][0]
    assert first == "**rocket**"
    more = [b for b in at.button if b.label == "More like this"]
    more[0].click().run()
    assert at.subheader[0].value == "More like rocket"
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert "**rocket**" not in titles and len(titles) >= 5


def test_empty_query_is_refused_kindly(apptest):
    at = apptest.run()
    at.button[0].click().run()
    assert not at.exception
    assert any("Type a few words" in i.value for i in at.info)


def test_empty_index_is_a_friendly_message(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    uri = str(tmp_path / "empty.db")
    monkeypatch.setenv("MMSEARCH_DB", uri)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    at = AppTest.from_file(SEARCH_PAGE, default_timeout=120).run()
    at.text_input[0].input("a cat")
    at.button[0].click().run()
    st.cache_resource.clear()
    close(uri)
    assert not at.exception
    assert at.error and "nothing is indexed yet" in at.error[0].value


def test_browser_search_and_screenshot(indexed_photos_db, browser):
    with streamlit_server(indexed_photos_db, {"MMSEARCH_PROFILE": "offline"}) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="networkidle")
        page.get_by_label("Describe what you are looking for").fill("a cat")
        page.get_by_role("button", name="Search").click()
        page.get_by_text("Results for").wait_for(timeout=120_000)
        page.get_by_text("chelsea").first.wait_for(timeout=30_000)
        # the first card is the cat photo, with its score and a thumbnail
        images = page.locator("[data-testid='stImage'] img")
        images.first.wait_for(timeout=30_000)
        assert images.count() >= 4
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
        assert page.get_by_text("score ").count() >= 4
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)
        page.close()
