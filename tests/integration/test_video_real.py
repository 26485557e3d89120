"""Real offline models end to end: a video made of opencv-doc's vtest.avi with LibriVox speech
at known offsets is found by a phrase from its speech, at the right time; a video without an
audio stream is indexed by its frames alone."""

from __future__ import annotations

import json

import pytest

from tests.video_samples import CLIP_0880, CLIP_0920, VTEST, make_video

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VTEST.exists() or not CLIP_0880.exists(), reason="needs Debian opencv-doc and pocketsphinx-testdata"),
]

SPEECH_AT = {"he was not an ill disposed young man": 6.0, "had he married a more amiable woman": 12.0}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    from milvus.client import close

    d = tmp_path_factory.mktemp("real_videos")
    make_video(d / "street.mp4", seconds=18, speech=[(6.0, CLIP_0880), (12.0, CLIP_0920)], fps=10, size=(320, 240))
    make_video(d / "mute.mkv", seconds=5, fps=10, size=(320, 240))
    db = str(d / "v.db")
    yield d, db
    close(db)


def test_index_and_find_moment_by_speech(indexed, capsys):
    from app.cli.main import main

    d, db = indexed
    assert main(["index", "video", str(d), "--db", db, "--profile", "offline", "-q", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indexed"] == 2 and report["skipped"] == []
    for phrase, truth in SPEECH_AT.items():
        assert main(["search", "text", phrase, "--kind", "video", "--db", db, "--profile", "offline", "--json", "-k", "3"]) == 0
        hits = json.loads(capsys.readouterr().out)
        top = hits[0]
        assert top["source"].endswith("street.mp4") and top["kind"] == "video"
        assert abs(top["start_s"] - truth) <= 2.0, (phrase, top)
        assert top["text"] and set(phrase.split()[:3]) <= set(top["text"].lower().replace(",", "").split())


def test_no_audio_video_by_frames_alone(indexed):
    from encoders.profiles import PROFILES
    from indexers.docs import DOC_KIND
    from milvus import Filter, VectorStore

    d, db = indexed
    store = VectorStore(db)
    enc_id = PROFILES["offline"].text_to_image
    frames = store.find("video", enc_id).query(Filter.eq("source", str((d / "mute.mkv").resolve())), limit=100)
    assert sorted(round(r["start_s"]) for r in frames) == [0, 1, 2, 3, 4]
    assert all(r["meta"]["has_audio"] is False for r in frames)
    segs = [c for c in store.list_collections() if c.kind == DOC_KIND]
    assert segs  # street.mp4's transcript; none comes from mute.mkv
    coll = store.find(DOC_KIND, segs[0].encoder)
    assert not coll.query(Filter.eq("source", str((d / "mute.mkv").resolve())), limit=10)
