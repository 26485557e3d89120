"""The Video moments page, through Streamlit's AppTest and a real browser (screenshot in
tests/artifacts/video.png), on a vtest.avi + LibriVox video indexed with the offline profile."""

from __future__ import annotations

import pytest
import streamlit as st

from tests.ui.conftest import ARTIFACTS, REPO, streamlit_server
from tests.video_samples import CLIP_0880, VTEST, make_video

VIDEO_PAGE = str(REPO / "app" / "views" / "video.py")
SPEECH_AT = 6.0
PHRASE = "he was not an ill disposed young man"

pytestmark = [
    pytest.mark.ui,
    pytest.mark.slow,
    pytest.mark.skipif(not VTEST.exists() or not CLIP_0880.exists(), reason="needs Debian opencv-doc and pocketsphinx-testdata"),
]


@pytest.fixture(scope="module")
def video_db(tmp_path_factory) -> str:
    from encoders import get_encoder
    from encoders.profiles import PROFILES
    from encoders.transcribe import get_transcriber
    from indexers.video import index_video
    from milvus import VectorStore
    from milvus.client import close

    root = tmp_path_factory.mktemp("ui_video")
    make_video(root / "videos" / "street.mp4", seconds=12, speech=[(SPEECH_AT, CLIP_0880)], fps=10, size=(320, 240))
    uri = str(root / "ui.db")
    encoders = [get_encoder(e, "cpu") for e in PROFILES["offline"].image_encoders]
    report = index_video([root / "videos"], VectorStore(uri), encoders, transcriber=get_transcriber(device="cpu"), progress=False)
    assert report.indexed == 1 and not report.failed
    close(uri)
    return uri


@pytest.fixture()
def apptest(video_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    monkeypatch.setenv("MMSEARCH_DB", video_db)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    at = AppTest.from_file(VIDEO_PAGE, default_timeout=600)
    yield at
    st.cache_resource.clear()
    close(video_db)


def test_apptest_moment_with_transcript_line(apptest):
    at = apptest.run()
    assert not at.exception
    at.text_input[0].input(PHRASE)
    at.button[0].click().run()
    assert not at.error, [e.value for e in at.error]
    titles = [m.value for m in at.markdown if m.value.startswith("**1.")]
    assert titles and "street" in titles[0]
    assert any("young man" in m.value for m in at.markdown if m.value.startswith(">"))
    assert any("video-timeline" in m.value for m in at.markdown)
    assert len(at.get("video")) >= 1


def test_browser_player_starts_at_the_moment_and_screenshot(video_db, browser):
    with streamlit_server(video_db, {"MMSEARCH_PROFILE": "offline"}) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(url, wait_until="networkidle")
        page.locator("[data-testid='stSidebarNav']").get_by_text("Video moments").click()
        page.get_by_text("Find moments in your videos").wait_for(timeout=300_000)
        page.get_by_label("Describe a moment, or quote what is said").fill(PHRASE)
        page.get_by_role("button", name="Search").click()
        page.get_by_text("Moments for").wait_for(timeout=300_000)
        page.locator(".video-timeline").first.wait_for(timeout=300_000)
        page.wait_for_function(
            "() => { const v = [...document.querySelectorAll('video')]; return v.length >= 1 && v.every(x => x.readyState >= 1); }",
            timeout=300_000,
        )
        starts = page.evaluate("() => [...document.querySelectorAll('video')].map(v => v.currentTime)")
        assert abs(starts[0] - SPEECH_AT) <= 2.0, starts
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "video.png"), full_page=True)
        page.close()


@pytest.fixture(scope="module")
def vtest_db(tmp_path_factory) -> str:
    """opencv-doc's vtest.avi as it is (MPEG-4 Part 2 in AVI, no sound track: Chromium plays
    neither), frames only, indexed with the offline profile."""
    import shutil

    from encoders import get_encoder
    from encoders.profiles import PROFILES
    from indexers.video import index_video
    from milvus import VectorStore
    from milvus.client import close

    root = tmp_path_factory.mktemp("ui_vtest")
    (root / "videos").mkdir()
    shutil.copy(VTEST, root / "videos" / "vtest.avi")
    uri = str(root / "ui.db")
    encoders = [get_encoder(e, "cpu") for e in PROFILES["offline"].image_encoders]
    report = index_video([root / "videos"], VectorStore(uri), encoders, progress=False)
    assert report.indexed == 1 and not report.failed
    close(uri)
    return uri


def test_browser_an_avi_hit_plays_from_its_moment(vtest_db, browser, tmp_path):
    """The AVI is converted once (H.264 in MP4, beside the thumbnails) and plays from the
    moment; the timeline names no speech for a video without a sound track."""
    with streamlit_server(vtest_db, {"MMSEARCH_PROFILE": "offline", "MMSEARCH_CALIBRATION": str(tmp_path / "c.json")}) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(url, wait_until="networkidle")
        page.locator("[data-testid='stSidebarNav']").get_by_text("Video moments").click()
        page.get_by_label("Describe a moment, or quote what is said").fill("people walking")
        page.get_by_label("Moments", exact=True).fill("3")
        page.get_by_role("button", name="Search").click()
        page.get_by_text("Moments for").wait_for(timeout=300_000)
        timeline = page.locator(".video-timeline").first
        timeline.wait_for(timeout=300_000)
        assert "no sound track" in timeline.inner_text() and "speech" not in timeline.inner_text()
        title = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="1. vtest.avi").first
        start = float(title.inner_text().rsplit(" at ", 1)[1].removesuffix(" s").strip())
        page.wait_for_function(
            "() => { const v = document.querySelector('video'); return v && v.readyState >= 2 && !v.error; }",
            timeout=300_000,
        )
        state = page.evaluate("() => { const v = document.querySelector('video'); return [v.readyState, v.currentTime, v.error]; }")
        assert state[0] >= 2 and state[2] is None and abs(state[1] - start) <= 1.0, (state, start)
        assert page.get_by_text("cannot be played").count() == 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "video-avi.png"), full_page=True)
        page.close()
