"""The Sounds page, through Streamlit's AppTest and through a real browser (screenshot in
tests/artifacts/audio.png), on freedesktop sounds indexed with the offline aiSFX encoder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import streamlit as st

from tests.conftest import apply_env
from tests.ui.conftest import ARTIFACTS, REPO, streamlit_server

AUDIO_PAGE = str(REPO / "app" / "views" / "audio.py")
SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
NAMES = ["bell", "complete", "service-login", "dialog-warning", "alarm-clock-elapsed", "trash-empty", "message"]
PHONE_AT = 32.0

pytestmark = [pytest.mark.ui, pytest.mark.slow]


@pytest.fixture(scope="module")
def sounds_db(tmp_path_factory) -> tuple[str, Path]:
    """A few freedesktop sounds plus a 40 s scene with a phone ringing at 32 s, indexed with aiSFX."""
    import soundfile as sf

    from encoders import get_encoder
    from indexers.audio import index_audio
    from indexers.audio_io import resample
    from milvus import VectorStore
    from milvus.client import close

    if not SOUNDS.is_dir():
        pytest.fail(f"{SOUNDS} is missing: run `make sysdeps` (apt-get install sound-theme-freedesktop)")
    root = tmp_path_factory.mktemp("ui_audio")
    folder = root / "sounds"
    folder.mkdir()
    for name in NAMES:
        shutil.copy(SOUNDS / f"{name}.oga", folder)
    rate = 48000
    scene = (np.random.default_rng(0).standard_normal(40 * rate) * 10 ** (-45 / 20)).astype(np.float32)
    phone, sr = sf.read(SOUNDS / "phone-incoming-call.oga", dtype="float32", always_2d=True)
    phone = resample(phone.mean(axis=1), sr, rate)
    scene[int(PHONE_AT * rate) : int(PHONE_AT * rate) + phone.size] += phone
    sf.write(folder / "street-scene.flac", scene, rate)
    uri = str(root / "ui.db")
    report = index_audio([folder], VectorStore(uri), [get_encoder("aisfx", "cpu")], progress=False)
    assert report.indexed == len(NAMES) + 1 and not report.failed
    close(uri)
    return uri, folder


@pytest.fixture()
def apptest(sounds_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    uri, _ = sounds_db
    monkeypatch.setenv("MMSEARCH_DB", uri)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    at = AppTest.from_file(AUDIO_PAGE, default_timeout=600)
    yield at
    st.cache_resource.clear()
    close(uri)


def test_upload_finds_the_same_sound_first(apptest):
    at = apptest.run()
    assert not at.exception
    at.file_uploader[0].upload("bell.oga", (SOUNDS / "bell.oga").read_bytes(), "audio/ogg")
    at.button[0].click().run()
    assert not at.error, [e.value for e in at.error]
    assert at.subheader[0].value == "Sounds like bell\\.oga"
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert titles[0] == "**bell**" and len(titles) == 8
    captions = [c.value for c in at.caption]
    assert any(c.startswith("score 1.000 · 0.0–0.1 s") for c in captions)
    assert len(at.get("audio")) == 1 + 8  # the query's player and one per hit


def test_noise_is_no_good_match_and_weaker_sounds_fold_away(apptest, sounds_db, tmp_path, monkeypatch):
    """With a good-match score on record for the collection (here set to 0.95: calibration
    itself is tested on the whole freedesktop set in tests/integration/test_audio_real.py),
    white noise is no good match and the weaker sounds are folded away, not dropped."""
    import io

    import soundfile as sf

    from indexers.calibration import save_for_collection

    apply_env(monkeypatch, MMSEARCH_CALIBRATION=str(tmp_path / "calibration.json"))
    save_for_collection(sounds_db[0], "audio__aisfx", "audio", 0.95)
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.random.default_rng(1).standard_normal(48000)).astype(np.float32), 48000, format="WAV")
    at = apptest.run()
    at.file_uploader[0].upload("noise.wav", buf.getvalue(), "audio/wav")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert any(i.value.startswith("No good match: the best score") for i in at.info), [i.value for i in at.info]
    (weak,) = at.expander
    assert weak.label == "8 weaker sounds (below 0.950)"
    assert len([m for m in weak.markdown if m.value.startswith("**")]) == 8  # still there, folded


def test_offline_profile_explains_there_is_no_text_search(apptest):
    at = apptest.run()
    assert at.text_input[0].disabled
    assert any("stores no tags" in c.value for c in at.sidebar.caption)


def test_a_file_that_is_not_audio_is_one_sentence(apptest):
    at = apptest.run()
    at.file_uploader[0].upload("notes.wav", b"these are not sounds" * 10, "audio/wav")
    at.button[0].click().run()
    assert not at.exception
    assert at.error and "cannot use that clip: not an audio file" in at.error[0].value.replace("\\", "")


def test_browser_search_plays_from_the_window_and_screenshot(sounds_db, browser):
    uri, _ = sounds_db
    with streamlit_server(uri, {"MMSEARCH_PROFILE": "offline"}) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(url, wait_until="networkidle")
        page.locator("[data-testid='stSidebarNav']").get_by_text("Sounds").click()
        page.get_by_text("Search your sounds").wait_for(timeout=300_000)
        page.locator("input[type='file']").set_input_files(str(SOUNDS / "phone-incoming-call.oga"))
        page.locator("[data-testid='stFileChip']").first.wait_for(timeout=300_000)
        page.get_by_role("button", name="Search").click()
        page.get_by_text("Sounds like").wait_for(timeout=300_000)
        page.get_by_text("street-scene").first.wait_for(timeout=300_000)
        page.wait_for_function(  # the query's player and the hits' (8), each with its media loaded
            "() => { const a = [...document.querySelectorAll('audio')]; return a.length >= 9 && a.every(x => x.readyState >= 1); }",
            timeout=300_000,
        )
        # the scene's best window holds the phone ring (30–40 s): its player starts there
        starts = page.evaluate("() => [...document.querySelectorAll('audio')].map(a => a.currentTime)")
        assert any(29.9 <= t <= 30.1 for t in starts), starts
        assert page.get_by_text("score ").count() >= 4
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "audio.png"), full_page=True)
        page.close()


@pytest.fixture(scope="module")
def sounds_and_docs_db(tmp_path_factory) -> str:
    """One sound (as AIFF, a format Chromium does not play) and one text document: documents
    must not turn the Sounds page's word box on."""
    import soundfile as sf

    from encoders import get_encoder
    from indexers.audio import index_audio
    from indexers.docs import index_docs
    from milvus import VectorStore
    from milvus.client import close

    root = tmp_path_factory.mktemp("ui_audio_docs")
    (root / "sounds").mkdir()
    (root / "docs").mkdir()
    x, rate = sf.read(SOUNDS / "bell.oga", dtype="float32")
    sf.write(root / "sounds" / "bell.aiff", x, rate, format="AIFF")
    (root / "docs" / "kettle.txt").write_text("Descale the kettle every month with citric acid.\n")
    uri = str(root / "ui.db")
    store = VectorStore(uri)
    assert index_audio([root / "sounds"], store, [get_encoder("aisfx", "cpu")], progress=False).indexed == 1
    assert index_docs([root / "docs"], store, get_encoder("sentence_transformers:all-MiniLM-L6-v2"), progress=False).indexed == 1
    close(uri)
    return uri


def test_documents_do_not_turn_the_word_box_on(sounds_and_docs_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    monkeypatch.setenv("MMSEARCH_DB", sounds_and_docs_db)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    try:
        at = AppTest.from_file(AUDIO_PAGE, default_timeout=600).run()
        assert not at.exception and not at.error
        assert at.text_input[0].disabled
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()
        close(sounds_and_docs_db)


def test_browser_an_aiff_sound_plays_from_its_window(sounds_and_docs_db, browser):
    """AIFF is converted once (AAC in M4A, cached beside the thumbnails) and plays."""
    with streamlit_server(sounds_and_docs_db, {"MMSEARCH_PROFILE": "offline"}) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="networkidle")
        page.locator("[data-testid='stSidebarNav']").get_by_text("Sounds").click()
        page.get_by_text("Search your sounds").wait_for(timeout=300_000)
        page.locator("input[type='file']").set_input_files(str(SOUNDS / "bell.oga"))
        page.locator("[data-testid='stFileChip']").first.wait_for(timeout=300_000)
        page.get_by_role("button", name="Search").click()
        page.get_by_text("Sounds like").wait_for(timeout=300_000)
        page.wait_for_function(  # the query's player and the hit's, both able to play
            "() => { const a = [...document.querySelectorAll('audio')]; return a.length >= 2 && a.every(x => x.readyState >= 2 && !x.error); }",
            timeout=300_000,
        )
        assert page.get_by_text("cannot be played").count() == 0
        page.close()


@pytest.fixture(scope="module")
def spoken_db(tmp_path_factory) -> str:
    """A LibriVox clip indexed as a sound with its speech transcribed (`index audio --speech`)."""
    from encoders import get_encoder
    from encoders.transcribe import get_transcriber
    from indexers.audio import index_audio
    from indexers.audio_io import audio_extensions
    from indexers.speech import index_speech
    from milvus import VectorStore
    from milvus.client import close
    from tests.video_samples import CLIP_0880

    if not CLIP_0880.exists():
        pytest.skip("needs Debian pocketsphinx-testdata")
    root = tmp_path_factory.mktemp("ui_audio_speech")
    (root / "sounds").mkdir()
    shutil.copy(CLIP_0880, root / "sounds" / "reading.wav")
    uri = str(root / "ui.db")
    store = VectorStore(uri)
    assert index_audio([root / "sounds"], store, [get_encoder("aisfx", "cpu")], progress=False).indexed == 1
    report = index_speech([root / "sounds"], store, get_transcriber(device="cpu"), audio_extensions(), progress=False)
    assert report.indexed == 1
    close(uri)
    return uri


def test_words_over_transcripts_are_labelled_as_uncalibrated(spoken_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    monkeypatch.setenv("MMSEARCH_DB", spoken_db)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    try:
        at = AppTest.from_file(AUDIO_PAGE, default_timeout=600).run()
        assert not at.text_input[0].disabled  # transcripts of sounds: words can find them
        at.text_input[0].input("ill disposed young man")
        at.button[0].click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any("not calibrated, so even the first ones may be weak matches" in w.value for w in at.warning)
        assert any("reading" in m.value for m in at.markdown if m.value.startswith("**"))
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()
        close(spoken_db)
