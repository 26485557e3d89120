"""The Ask page: AppTest in-process, then a real browser against a running app whose
"language model" is the loopback stand-in in tests/fake_llm.py (it speaks Ollama's API and
streams canned pieces slowly, so the streaming shows). Screenshot: tests/artifacts/ask.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import streamlit as st

from tests.fake_llm import FakeLLM, FakeLLMServer
from tests.ui.conftest import ARTIFACTS, REPO, streamlit_server

ASK_PAGE = str(REPO / "app" / "views" / "ask.py")
LICENCES = Path("/usr/share/common-licenses")
VIDEO = "/videos/owl-talk.mp4"
# Whisper's output for the talk would land here with the video issue; the segments are given directly.
TALK = [
    (0.0, 14.5, "Welcome to this evening's talk about the birds of the farm."),
    (14.5, 23.0, "Barn owls lay their eggs in early spring, usually four to six of them."),
    (23.0, 31.0, "The chicks hatch about a month later."),
]

pytestmark = [pytest.mark.ui, pytest.mark.slow]


@pytest.fixture(scope="module")
def docs_db(tmp_path_factory) -> str:
    """BSD and CC0 licence texts plus a talk's transcript, indexed with MiniLM (client closed)."""
    from encoders import get_encoder
    from indexers.docs import index_docs, index_segments
    from milvus import VectorStore
    from milvus.client import close

    if not LICENCES.is_dir():
        pytest.skip("Debian's base-files licence texts are not installed")
    root = tmp_path_factory.mktemp("ask")
    folder = root / "docs"
    folder.mkdir()
    for name in ("BSD", "CC0-1.0"):
        shutil.copy(LICENCES / name, folder / name)
    uri = str(root / "ask.db")
    store = VectorStore(uri)
    enc = get_encoder("sentence_transformers:all-MiniLM-L6-v2")
    assert index_docs([folder], store, enc, progress=False).indexed == 2
    index_segments(store, VIDEO, TALK, encoder=enc)
    close(uri)
    return uri


def test_apptest_extractive_answer_cites_the_video_and_time(docs_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    monkeypatch.setenv("MMSEARCH_DB", docs_db)
    monkeypatch.setenv("MMSEARCH_LLM", "extractive")
    at = AppTest.from_file(ASK_PAGE, default_timeout=600)
    try:
        at.run()
        assert not at.exception
        at.chat_input[0].set_value("When do barn owls lay their eggs?").run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        answer = "\n".join(m.value for m in at.markdown)
        assert "Barn owls lay their eggs in early spring" in answer and "\\[1\\]" in answer  # shown as text, escaped
        captions = [c.value for c in at.caption]
        assert any("owl\\-talk" in c and "0\\:14–0\\:23" in c for c in captions), captions
        assert at.session_state["ask_messages"][-1]["citations"][0]["start_s"] == 14.5
        assert not at.warning  # a question the documents answer gets no warning

        # indexing calibrated the collection: a question it cannot answer is flagged first
        at.chat_input[0].set_value("What is the capital of France?").run()
        assert not at.exception and not at.error
        (warning,) = at.warning
        assert warning.value.startswith("The closest passage matches this question only weakly")
        assert "the answer may not be in your documents" in warning.value
        assert at.session_state["ask_messages"][-1]["weak"]
    finally:
        st.cache_resource.clear()
        close(docs_db)


def test_browser_chat_streams_an_llm_answer_with_citations(docs_db, browser):
    pieces = ["Yes: ", "redistribution ", "in binary form ", "is permitted ", "if the copyright notice ", "is reproduced [1]."]
    # The stand-in holds the last piece until the test has seen the first ones: streaming is
    # checked at a signalled point, not by racing a delay.
    with FakeLLMServer(FakeLLM(pieces=pieces, hold_before=len(pieces) - 1)) as llm:
        env = {"MMSEARCH_LLM": "ollama:fake-llm:1b", "OLLAMA_HOST": llm.url}
        with streamlit_server(docs_db, env) as url:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(url, wait_until="networkidle")
            page.get_by_role("link", name="Ask your documents").click()  # the page is in the app's navigation
            page.get_by_role("heading", name="Ask your documents").wait_for(timeout=300_000)
            box = page.get_by_placeholder("Ask a question about your documents")
            box.fill("May I redistribute the software in binary form?")
            box.press("Enter")
            # streaming: the first pieces show while the stand-in server is still sending the rest
            page.get_by_text("redistribution", exact=False).first.wait_for(timeout=300_000)
            assert page.get_by_text("is reproduced").count() == 0
            llm.release.set()
            page.get_by_text("Sources", exact=True).wait_for(timeout=300_000)
            page.get_by_text("is reproduced [1].", exact=False).first.wait_for(timeout=300_000)
            captions = page.locator("[data-testid='stCaptionContainer']").all_inner_texts()
            assert any(c.startswith("[1] BSD") and "/BSD" in c and "score" in c for c in captions), captions
            page.get_by_text("May I redistribute the software").first.scroll_into_view_if_needed()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "ask.png"), full_page=True)
            page.get_by_text("Passage [1]").first.click()  # the cited text, shown as plain text
            page.get_by_text("Redistribution and use in source and binary forms", exact=False).first.wait_for(timeout=300_000)
            page.close()
    chats = [r for r in llm.requests if r["path"] == "/api/chat"]
    assert len(chats) == 1 and chats[0]["body"]["model"] == "fake-llm:1b"
    assert "Redistribution and use in source and binary forms" in chats[0]["body"]["messages"][1]["content"]


def test_apptest_empty_database_says_what_to_do(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    uri = str(tmp_path / "empty.db")
    monkeypatch.setenv("MMSEARCH_DB", uri)
    monkeypatch.setenv("MMSEARCH_LLM", "extractive")
    at = AppTest.from_file(ASK_PAGE, default_timeout=600)
    try:
        at.run()
        assert not at.exception and not at.error
        assert "Add documents on the Library page, or run `mmsearch index docs PATH_OR_URL`" in at.info[0].value
        assert not at.chat_input  # no question box that can only fail
    finally:
        st.cache_resource.clear()
        close(uri)


def test_apptest_unreachable_language_model_is_a_friendly_sentence(docs_db, monkeypatch):
    """Nothing listens on the Ollama port: the answer is extractive and says why in words."""
    from streamlit.testing.v1 import AppTest

    from milvus.client import close
    from tests.ui.conftest import free_port

    monkeypatch.setenv("MMSEARCH_DB", docs_db)
    monkeypatch.setenv("MMSEARCH_LLM", "auto")
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{free_port()}")
    at = AppTest.from_file(ASK_PAGE, default_timeout=600)
    try:
        at.run()
        at.chat_input[0].set_value("When do barn owls lay their eggs?").run()
        assert not at.exception and not at.error
        note = next(c.value for c in at.caption if c.value.startswith("Answered by"))
        assert "nothing is listening there" in note and "Errno" not in note, note
    finally:
        st.cache_resource.clear()
        close(docs_db)
