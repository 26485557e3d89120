"""After indexing, search knows what a good match is and says "no good match" honestly."""

from __future__ import annotations

import json

import pytest

from app.cli.main import main
from indexers.calibration import threshold_for

pytestmark = pytest.mark.slow
BRIDGE = "label_bridge:efficientnet_lite0+all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    from app.demo.photos import prepare_photos
    from encoders import get_encoder
    from encoders.profiles import PROFILES
    from indexers.images import index_images
    from milvus import VectorStore
    from milvus.client import close

    root = tmp_path_factory.mktemp("calib")
    uri = str(root / "c.db")
    report = index_images([prepare_photos(root / "photos")], VectorStore(uri), [get_encoder(e) for e in PROFILES["offline"].image_encoders], progress=False)
    assert report.indexed > 20
    close(uri)
    return uri


def test_thresholds_recorded_after_indexing(indexed):
    text = threshold_for(BRIDGE, "image", "text", indexed)
    image = threshold_for("timm:efficientnet_lite0", "image", "image", indexed)
    assert text is not None and 0.2 < text < 0.8
    assert image is not None and 0.1 < image < 0.9


def test_meaningful_query_kept_meaningless_refused(indexed, capsys):
    assert main(["search", "text", "a cat", "--db", indexed, "--profile", "offline", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and hits[0]["title"] == "chelsea"
    assert all(h["score"] >= threshold_for(BRIDGE, "image", "text", indexed) for h in hits)

    assert main(["search", "text", "an astronaut", "--db", indexed, "--profile", "offline", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "no good match" in captured.err

    assert main(["search", "text", "an astronaut", "--db", indexed, "--profile", "offline", "--json", "--min-score", "none", "-k", "3"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_doctor_and_status_page_show_each_collections_cut_off(indexed, capsys, monkeypatch):
    from pathlib import Path

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    words = f"words ≥ {threshold_for(BRIDGE, 'image', 'text', indexed):.3f}"
    photo = f"photo ≥ {threshold_for('timm:efficientnet_lite0', 'image', 'image', indexed):.3f}"
    try:
        assert main(["doctor", "--db", indexed]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert next(ln for ln in lines if "image__label_bridge" in ln).endswith(f"good match: {words}")
        assert next(ln for ln in lines if "image__timm_efficientnet_lite0" in ln).endswith(f"good match: {photo}")

        monkeypatch.setenv("MMSEARCH_DB", indexed)
        monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
        page = Path(__file__).resolve().parents[2] / "app" / "views" / "status.py"
        at = AppTest.from_file(str(page), default_timeout=600).run()
        assert not at.exception
        table = at.dataframe[0].value.set_index("model")["good match"]  # a row per collection, named by its model
        assert table["timm:efficientnet_lite0"] == photo
        assert table[BRIDGE] == words
    finally:
        st.cache_resource.clear()
        close(indexed)
