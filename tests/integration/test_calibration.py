"""After indexing, search knows what a good match is and says "no good match" honestly."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from indexers.calibration import threshold_for

pytestmark = pytest.mark.slow
BRIDGE = "label_bridge:efficientnet_lite0+all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    from app.demo_data import prepare_photos
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
