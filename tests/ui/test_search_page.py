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
    at = AppTest.from_file(SEARCH_PAGE, default_timeout=600)
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


def test_empty_index_says_what_to_do(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    uri = str(tmp_path / "empty.db")
    monkeypatch.setenv("MMSEARCH_DB", uri)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    at = AppTest.from_file(SEARCH_PAGE, default_timeout=600).run()
    st.cache_resource.clear()
    close(uri)
    assert not at.exception and not at.error
    assert "Add photos on the Library page, or run `mmsearch index images PATH`" in at.info[0].value


def test_captions_are_the_top_label_without_probabilities(apptest):
    at = apptest.run()
    at.text_input[0].input("a cat")
    at.button[0].click().run()
    captions = [c.value for c in at.caption if c.value.startswith("score ")]
    assert captions and all("(0" not in c and ";" not in c for c in captions), captions
    assert "cat" in captions[0]  # chelsea: "tabby cat" or another cat


def test_words_with_a_photo_say_they_are_not_used_without_a_shared_space(apptest, sample_photos):
    photo = next(p for p in sorted(sample_photos.rglob("*")) if p.suffix.lower() in (".jpg", ".png"))
    at = apptest.run()
    at.text_input[0].input("but red")
    at.file_uploader[0].upload(photo.name, photo.read_bytes(), "image/png")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert any(i.value.startswith("Your words were not used: profile offline has no shared space") for i in at.info)
    assert at.subheader[0].value == "Photos like yours"


def test_browser_search_and_screenshot(indexed_photos_db, browser):
    with streamlit_server(indexed_photos_db, {"MMSEARCH_PROFILE": "offline"}) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="networkidle")
        page.get_by_label("Describe what you are looking for").fill("a cat")
        page.get_by_role("button", name="Search").click()
        page.get_by_text("Results for").wait_for(timeout=300_000)
        page.get_by_text("chelsea").first.wait_for(timeout=300_000)
        # the first card is the cat photo, with its score and a thumbnail
        images = page.locator("[data-testid='stImage'] img")
        images.first.wait_for(timeout=300_000)
        assert images.count() >= 4
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=300_000)
        assert page.get_by_text("score ").count() >= 4
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)
        # the viewer: the full photo, its path, size and date, and "more like this"
        page.get_by_role("button", name="View").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("path: ").wait_for(timeout=300_000)
        assert "chelsea" in dialog.get_by_text("path: ").inner_text()
        assert "pixels" in dialog.get_by_text("size: ").inner_text()
        dialog.get_by_text("date: ").wait_for(timeout=300_000)
        dialog.locator("img").first.wait_for(timeout=300_000)
        page.screenshot(path=str(ARTIFACTS / "search-viewer.png"))
        dialog.get_by_role("button", name="More like this").click()
        page.get_by_text("More like chelsea").wait_for(timeout=300_000)
        page.close()


def test_words_and_a_photo_make_one_query_in_a_shared_space(fake_profile, make_images, tmp_path, monkeypatch):
    """With a profile whose words and pictures share a space (the fake encoder, as profile
    full), a photo plus words is searched as one composed query."""
    from streamlit.testing.v1 import AppTest

    from encoders import get_encoder
    from indexers.images import index_images
    from milvus import VectorStore
    from milvus.client import close

    folder = make_images(6)
    uri = str(tmp_path / "fake.db")
    assert index_images([folder], VectorStore(uri), [get_encoder("fake:16")], progress=False).indexed == 6
    close(uri)
    monkeypatch.setenv("MMSEARCH_DB", uri)
    monkeypatch.setenv("MMSEARCH_PROFILE", "full")
    st.cache_resource.clear()
    photo = min(folder.iterdir())
    at = AppTest.from_file(SEARCH_PAGE, default_timeout=600)
    try:
        at.run()
        at.text_input[0].input("but red")
        at.file_uploader[0].upload(photo.name, photo.read_bytes(), "image/png")
        at.button[0].click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert at.subheader[0].value == "Like your photo, but “but red”"
        assert not any("were not used" in i.value for i in at.info)
        assert len([m for m in at.markdown if m.value.startswith("**")]) >= 3
    finally:
        st.cache_resource.clear()
        close(uri)
