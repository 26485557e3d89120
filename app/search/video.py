"""Text → video moments (no Streamlit imports here).

Two kinds of evidence answer a query: sampled frames (the profile's text→image encoder over
the `video` collection) and transcript segments (the text encoder over the docs collection,
rows of kind `segment` whose source is a video). Hits of one video that lie within
`gap_s` of each other are fused into one moment: its score is the best evidence's (plus a
small bonus when both sight and speech agree), its start/end are the best evidence's span
(so the player starts where the words or the picture are), and it keeps the transcript line
and a frame thumbnail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.search.hits import Hit
from app.search.scope import SearchScope, nothing_indexed
from app.search.vectors import cached_query_vector
from milvus import Filter

log = logging.getLogger(__name__)

MERGE_GAP_S = 5.0
BOTH_BONUS = 0.05  # frames and speech agree on a moment
PHRASE_BONUS = 0.15  # every query word is in the transcript line
EVIDENCE_MARGIN = 0.12  # hits further than this below their kind's best are not evidence


@dataclass
class Evidence:
    source: str
    start_s: float
    end_s: float
    score: float
    how: str  # "frame" or "speech"
    text: str | None = None
    thumb: str | None = None
    title: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _words(text: str) -> set[str]:
    from encoders.transcribe import words

    return set(words(text))


def frame_evidence(engine: SearchScope, query: str, limit: int, filter: Filter | None = None) -> list[Evidence]:
    enc_id = engine.profile.words_model("video")
    coll = engine.store.find("video", enc_id)
    if coll is None or coll.count() == 0:
        return []
    vec = cached_query_vector(engine.encoder(enc_id), query)
    hits = engine.search(coll, vec, limit, filter)
    return [
        Evidence(h.source or "", float(h.start_s or 0.0), float(h.end_s if h.end_s is not None else h.start_s or 0.0), h.score, "frame",
                 None, h.meta.get("thumb"), h.title, dict(h.meta))
        for h in hits
    ]


def speech_evidence(
    engine: SearchScope, query: str, limit: int, sources: list[str] | None = None, filter: Filter | None = None
) -> list[Evidence]:
    """Transcript segments of videos matching the caller's `filter`; a line holding every
    query word gets a bonus. The medium (`meta["media"] == "video"`, set when a video's speech
    is indexed) is part of the query, so audio transcripts never take the top `limit`'s places."""
    from indexers.docs import DOC_KIND, SEGMENT_KIND
    from indexers.video import VIDEO_EXTENSIONS

    enc = engine.encoder(engine.text_encoder_id())
    coll = engine.store.find(DOC_KIND, enc.spec.id)
    if coll is None or coll.count() == 0:
        return []
    flt = Filter.eq("kind", SEGMENT_KIND) & Filter.meta_eq("media", "video") & (filter or Filter())
    if sources:
        flt = flt & Filter.is_in("source", list(sources))
    vec = cached_query_vector(enc, query)
    hits = engine.search(coll, vec, limit, flt)
    qwords = _words(query)
    out = []
    for h in hits:
        if Path(h.source or "").suffix.lower() not in VIDEO_EXTENSIONS:
            continue
        score = h.score + (PHRASE_BONUS if qwords and qwords <= _words(h.text or "") else 0.0)
        out.append(Evidence(h.source or "", float(h.start_s or 0.0), float(h.end_s or h.start_s or 0.0), score, "speech", h.text, None, h.title, dict(h.meta)))
    return out


def fuse_moments(evidence: list[Evidence], k: int, gap_s: float = MERGE_GAP_S) -> list[Hit]:
    """Cluster each video's hits that lie within `gap_s` of each other into moments, best first."""
    by_source: dict[str, list[Evidence]] = {}
    for ev in evidence:
        by_source.setdefault(ev.source, []).append(ev)
    moments: list[Hit] = []
    for source, evs in by_source.items():
        evs.sort(key=lambda e: (e.start_s, e.end_s))
        cluster: list[Evidence] = []
        end = -1e9
        for ev in evs:
            if cluster and ev.start_s > end + gap_s:
                moments.append(_moment(source, cluster))
                cluster, end = [], -1e9
            cluster.append(ev)
            end = max(end, ev.end_s)
        if cluster:
            moments.append(_moment(source, cluster))
    moments.sort(key=lambda h: (-h.score, h.source or "", h.start_s or 0.0))
    return moments[:k]


def _moment(source: str, cluster: list[Evidence]) -> Hit:
    best = max(cluster, key=lambda e: e.score)
    speech = [e for e in cluster if e.how == "speech"]
    frames = [e for e in cluster if e.how == "frame"]
    line = max(speech, key=lambda e: e.score) if speech else None
    # the thumbnail: the best frame hit, else any stored frame nearest the moment's start
    frame = max(frames, key=lambda e: e.score) if frames else None
    score = best.score + (BOTH_BONUS if speech and frames else 0.0)
    meta: dict[str, Any] = {
        "thumb": frame.thumb if frame else None,
        "span": [round(min(e.start_s for e in cluster), 3), round(max(e.end_s for e in cluster), 3)],
        "matched": sorted({e.how for e in cluster}),
        "evidence": [{"how": e.how, "start_s": round(e.start_s, 3), "end_s": round(e.end_s, 3), "score": round(e.score, 4), "text": e.text} for e in sorted(cluster, key=lambda e: -e.score)[:8]],
    }
    duration = next((e.meta.get("duration_s") for e in frames if e.meta.get("duration_s")), None)
    if duration:
        meta["duration_s"] = duration
    return Hit(
        id=f"{source}@{best.start_s:.3f}",
        score=float(score),
        source=source,
        kind="video",
        title=Path(source).name,
        start_s=round(best.start_s, 3),
        end_s=round(best.end_s, 3),
        text=line.text if line else None,
        meta=meta,
        collection="video",
    )


def search_text_video(engine: SearchScope, query: str, k: int = 10, filter: Filter | None = None, gap_s: float = MERGE_GAP_S) -> list[Hit]:
    """Words → moments of indexed videos (frames and speech on one timeline), best first."""
    limit = min(16384, k * 10 + 20)
    frames = frame_evidence(engine, query, limit, filter)
    speech = speech_evidence(engine, query, limit, filter=filter)
    if not frames and not speech and (engine.store.find("video", engine.profile.words_model("video")) is None):
        raise nothing_indexed("video", engine.profile.words_model("video"), engine.profile.name)
    moments = fuse_moments(_strong(frames) + _strong(speech), k, gap_s)
    mark_weak(moments, evidence_thresholds(engine))
    return fill_thumbs(engine, moments)


def evidence_thresholds(engine: SearchScope) -> dict[str, float]:
    """The good-match score of each kind of evidence, where one is known: frames by words
    (what meaningless words reach on this video collection; measured on first use when the
    indexer recorded none) and transcript lines (the text collection's, from indexing)."""
    from indexers.calibration import calibrate_from_distribution, threshold_for

    out: dict[str, float] = {}
    enc_id = engine.profile.words_model("video")
    frame = threshold_for(enc_id, "video", "text", engine.store.uri)
    if frame is None:
        coll = engine.store.find("video", enc_id)
        if coll is not None and coll.count() >= 5:
            try:
                frame = calibrate_from_distribution(coll, engine.encoder(enc_id)).get("text")
            except Exception as exc:  # no cut-off is better than no search
                log.warning("could not calibrate %s: %s", coll.name, exc)
    if frame is not None:
        out["frame"] = frame
    try:
        speech = threshold_for(engine.text_encoder_id(), "doc", "text", engine.store.uri)
    except Exception as exc:
        log.debug("no speech threshold: %s", exc)
        speech = None
    if speech is not None:
        out["speech"] = speech
    return out


def mark_weak(moments: list[Hit], thresholds: dict[str, float]) -> list[Hit]:
    """Set each moment's `meta["weak"]`: True when none of its evidence reaches its kind's
    good-match score, False when some does; left unset when no threshold is known."""
    if not thresholds:
        return moments
    for h in moments:
        judged = [ev for ev in h.meta.get("evidence") or [] if ev.get("how") in thresholds]
        if judged:
            h.meta["weak"] = not any(float(ev["score"]) >= thresholds[ev["how"]] for ev in judged)
    return moments


def _strong(evidence: list[Evidence], margin: float = EVIDENCE_MARGIN) -> list[Evidence]:
    """Hits close to the best of their kind: at 1 fps nearly every frame matches a little,
    and keeping them all would fuse a whole video into one moment."""
    if not evidence:
        return []
    best = max(e.score for e in evidence)
    return [e for e in evidence if e.score >= best - margin]


def frame_thumb_near(engine: SearchScope, source: str, t: float) -> str | None:
    """The thumbnail of the stored frame of `source` nearest to `t` (for speech-only moments)."""
    coll = engine.store.find("video", engine.profile.words_model("video"))
    if coll is None:
        return None
    rows = coll.query(Filter.eq("source", source) & Filter.between("start_s", max(0.0, t - 2.0), t + 2.0), limit=16)
    if not rows:
        return None
    row = min(rows, key=lambda r: abs(float(r.get("start_s") or 0.0) - t))
    return (row.get("meta") or {}).get("thumb")


def fill_thumbs(engine: SearchScope, hits: list[Hit]) -> list[Hit]:
    """Give speech-only moments the thumbnail of the frame at their start."""
    for h in hits:
        if not h.meta.get("thumb") and h.source:
            try:
                h.meta["thumb"] = frame_thumb_near(engine, h.source, float(h.start_s or 0.0))
            except Exception as exc:  # a missing thumbnail is not worth failing the search
                log.debug("no thumbnail for %s: %s", h.id, exc)
    return hits
