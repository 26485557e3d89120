"""app/search/video.py: moments whose evidence reaches no good-match score are marked weak."""

from __future__ import annotations

from app.search.video import Evidence, fuse_moments, mark_weak


def _moments():
    ev = [
        Evidence("a.mp4", 10.0, 11.0, 0.30, "frame"),
        Evidence("a.mp4", 60.0, 61.0, 0.12, "frame"),
        Evidence("b.mp4", 5.0, 8.0, 0.55, "speech", text="hello there"),
    ]
    return fuse_moments(ev, k=10)


def test_each_kind_of_evidence_is_judged_by_its_own_threshold():
    hits = mark_weak(_moments(), {"frame": 0.25, "speech": 0.6})
    weak = {(h.source, h.start_s): h.meta["weak"] for h in hits}
    assert weak == {("a.mp4", 10.0): False, ("a.mp4", 60.0): True, ("b.mp4", 5.0): True}


def test_without_a_threshold_nothing_is_judged():
    hits = mark_weak(_moments(), {"frame": 0.25})
    assert [("weak" in h.meta) for h in hits] == [False, True, True]  # speech: no threshold known
    assert all("weak" not in h.meta for h in mark_weak(_moments(), {}))
