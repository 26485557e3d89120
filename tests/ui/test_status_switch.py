"""The Status page switches a kind's model through the server's job runner (AppTest): the page
runs as under `mmsearch serve`, with the context and job runner installed in `app.server.runtime`;
models are the fake encoders (`fake:16` → `fake:32`), the store a real Milvus Lite file."""

from __future__ import annotations

import pytest
import streamlit as st

from tests.ui.conftest import REPO

STATUS_PAGE = str(REPO / "app" / "views" / "status.py")

pytestmark = [pytest.mark.ui]


def test_status_page_switches_photos_model(fake_profile, make_images, tmp_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from app.context import Context
    from app.server import runtime
    from app.settings import Settings
    from encoders import get_encoder
    from indexers.images import index_images

    monkeypatch.setenv("MMSEARCH_DB", tmp_db)
    ctx = Context(Settings.load())
    index_images([make_images(4)], ctx.store, [get_encoder("fake:16", "cpu")], progress=False)
    jobs = runtime.make_jobs(ctx)
    runtime.install(ctx, jobs)
    at = AppTest.from_file(STATUS_PAGE, default_timeout=600)
    try:
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        per_kind = at.table[0].value
        assert per_kind.loc["photos", "model"] == "fake:16"

        at.selectbox(key="switch_kind").set_value("photos")
        at.text_input(key="switch_other").set_value("fake:32")
        at.button(key="switch_button").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert "Switching photos to fake:32" in " ".join(s.value for s in at.success).replace("\\", "")  # Markdown-escaped
        job = next(j for j in jobs.list() if j.kind == "models")
        job = jobs.wait(job.id, timeout=600)
        assert job is not None and job.state == "done", job and job.error
        assert job.indexed == 4

        at.text_input(key="switch_other").set_value("")
        at.run()
        per_kind = at.table[0].value
        assert per_kind.loc["photos", "model"] == per_kind.loc["photos-text", "model"] == "fake:32"
        assert per_kind.loc["catalogue", "model"] == per_kind.loc["videos", "model"] == "fake:32"  # they follow photos
        assert "Last switch: photos → fake:32 — done" in " ".join(c.value for c in at.caption).replace("\\", "")
        hits = ctx.engine.search_text("anything", k=2)  # the server's engine switched in place
        assert {h.collection for h in hits} == {"image__fake_32"}

        # the catalogue gets a model of its own; photos keep theirs
        at.selectbox(key="switch_kind").set_value("catalogue")
        at.text_input(key="switch_other").set_value("fake:24")
        at.button(key="switch_button").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        job = jobs.wait(next(j for j in jobs.list() if j.kind == "models" and "catalogue" in j.label).id, timeout=600)
        assert job is not None and job.state == "done", job and job.error
        at.text_input(key="switch_other").set_value("")
        at.run()
        per_kind = at.table[0].value
        assert (per_kind.loc["catalogue", "model"], per_kind.loc["photos", "model"], per_kind.loc["videos", "model"]) == ("fake:24", "fake:32", "fake:32")
    finally:
        jobs.shutdown()
        runtime.uninstall()
        st.cache_resource.clear()
        st.cache_data.clear()
