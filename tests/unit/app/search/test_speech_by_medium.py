"""Transcript segments are chosen by medium and by the caller's filter inside the database query,
before the top-k cut: audio lines never crowd out video evidence (and the reverse), and a video
search restricted to one video gets speech evidence of that video only.

Rows are written straight into the `fake:16` text collection with chosen vectors, so the
rankings are fixed: the query's own vector scores 1.0, the line we look for a bit less.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.search.scope import SearchScope
from encoders import get_encoder
from encoders.profiles import Profile
from milvus import Filter

QUERY = "marmots hibernate"
PROFILE = Profile("t", image_encoders=("fake:16",), text_to_image="fake:16", image_to_image="fake:16", text="fake:16", audio="fake:16")


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture
def scope(store):
    """A factory: `make(n_audio, n_video)` stores that many best-matching audio and video lines
    (score 1.0), plus one weaker line (~0.85) of /videos/a.mp4 and one of /sounds/b.wav."""
    from indexers.docs import SEGMENT_KIND, text_collection

    enc = get_encoder("fake:16")
    coll = text_collection(store, enc)
    q = _unit(enc.embed_queries([QUERY])[0])
    off = _unit(q + 0.6 * _unit(np.random.default_rng(1).standard_normal(16)))

    def seg(i: str, source: str, media: str, vec: np.ndarray, text: str) -> dict:
        return {"id": i, "vector": vec, "source": source, "kind": SEGMENT_KIND, "title": source.rsplit("/", 1)[-1],
                "text": text, "start_s": 1.0, "end_s": 3.0, "meta": {"media": media}}

    def make(n_audio: int, n_video: int) -> SearchScope:
        rows = [seg(f"a{n}", f"/sounds/talk{n}.wav", "audio", q, QUERY) for n in range(n_audio)]
        rows += [seg(f"v{n}", f"/videos/crowd{n}.mp4", "video", q, QUERY) for n in range(n_video)]
        rows.append(seg("vA", "/videos/a.mp4", "video", off, f"well {QUERY} in winter, they say, mostly"))
        rows.append(seg("aB", "/sounds/b.wav", "audio", off, f"well {QUERY} in winter, they say, mostly"))
        coll.upsert(rows)
        coll.flush()
        return SearchScope(store, PROFILE, "cpu")

    return make


def test_video_speech_is_chosen_by_medium_before_the_cut(scope):
    from app.search.video import speech_evidence

    ev = speech_evidence(scope(60, 3), QUERY, limit=20)
    assert ev and all(e.source.endswith(".mp4") for e in ev)
    assert "/videos/a.mp4" in {e.source for e in ev}  # 60 audio lines rank above it, but are no candidates


def test_video_search_applies_the_callers_filter_to_speech(scope):
    from app.search.video import search_text_video

    hits = search_text_video(scope(3, 3), QUERY, k=5, filter=Filter.eq("source", "/videos/a.mp4"))
    assert [h.source for h in hits] == ["/videos/a.mp4"]
    assert hits[0].meta["matched"] == ["speech"]


def test_audio_speech_is_chosen_by_medium_before_the_cut(scope):
    from app.search.audio import speech_hits

    eng = scope(3, 60)
    hits = speech_hits(eng, QUERY, k=10)
    assert hits and all((h.meta or {}).get("media") == "audio" for h in hits)
    assert "/sounds/b.wav" in {h.source for h in hits}  # 60 video lines rank above it, but are no candidates
    only_b = speech_hits(eng, QUERY, k=5, filter=Filter.eq("source", "/sounds/b.wav"))
    assert [h.source for h in only_b] == ["/sounds/b.wav"]
