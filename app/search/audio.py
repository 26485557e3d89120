"""Sound search shared by the CLI and the Streamlit app: a clip → similar windows of
indexed files, and words → sounds through stored tags (no Streamlit imports here)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import QueryError
from app.search.fusion import fuse_hits
from app.search.hits import Hit
from app.search.scope import SearchScope
from app.search.vectors import cached_query_vector
from encoders.base import Encoder
from milvus import Filter

log = logging.getLogger(__name__)

MAX_QUERY_WINDOWS = 6  # a long query clip is searched by its first windows (~35 s at 10 s / 5 s)


def audio_encoder(engine: SearchScope, encoder_id: str | None = None) -> Encoder:
    """The profile's audio encoder (or the one asked for)."""
    enc_id = encoder_id or engine.profile.audio
    if not enc_id:
        raise QueryError(f"sound search is not available with profile {engine.profile.name}: it names no audio encoder")
    enc = engine.encoder(enc_id)
    if "audio" not in enc.spec.query_kinds:
        raise QueryError(f"{enc_id} does not embed sounds; use aisfx or panns:Cnn14")
    return enc


def load_query_audio(source: str | Path | bytes, sample_rate: int) -> np.ndarray:
    """A query clip, decoded with the indexer's rules, mono at `sample_rate`; silence is refused."""
    from indexers.audio_io import AudioDecodeError, decode_audio, is_silent

    try:
        audio = decode_audio(source, target_rate=sample_rate)
    except AudioDecodeError as exc:
        raise QueryError(f"cannot use that clip: {exc}") from None
    if is_silent(audio.samples):
        raise QueryError("that clip is silent (nothing above -70 dBFS); nothing to search for")
    return audio.samples


def query_clips(samples: np.ndarray, rate: int, offsets: tuple[float, ...], window_s: float, hop_s: float) -> list[np.ndarray]:
    """The query's first windows (non-silent), the first also at the encoder's start offsets."""
    from indexers.audio_io import is_silent, plan_windows

    clips: list[np.ndarray] = []
    spans = plan_windows(samples.size / rate, window_s, hop_s)[:MAX_QUERY_WINDOWS]
    for i, (start, end) in enumerate(spans):
        a, b = int(round(start * rate)), int(round(end * rate))
        if i == 0:
            for off in offsets:
                s = a + int(round(off * rate))
                if off == 0 or (b - s) / rate >= 0.1:
                    clips.append(samples[s:b])
        else:
            clips.append(samples[a:b])
    return [c for c in clips if not is_silent(c)] or [samples[: int(round(window_s * rate))]]


def merge_windows(hit_lists: list[list[Hit]], k: int) -> list[Hit]:
    """One hit per indexed window (its best score over query clips and start offsets), best first."""
    best: dict[tuple[Any, Any], Hit] = {}
    for hits in hit_lists:
        for hit in hits:
            # the store keeps float32: 6.128 comes back as 6.127999782…
            hit.start_s = None if hit.start_s is None else round(float(hit.start_s), 3)
            hit.end_s = None if hit.end_s is None else round(float(hit.end_s), 3)
            key = (hit.source, hit.meta.get("window", hit.start_s))
            if key not in best or hit.score > best[key].score:
                best[key] = hit
    # ties (a query that is a whole indexed file matches each of its windows) go to the earliest
    return sorted(best.values(), key=lambda h: (-round(h.score, 5), h.source or "", h.start_s or 0.0))[:k]


def search_audio(
    engine: SearchScope,
    source: str | Path | bytes,
    k: int = 10,
    filter: Filter | None = None,
    encoder_id: str | None = None,
) -> list[Hit]:
    """A sound clip (path or bytes) → the most similar indexed windows, best first."""
    from indexers.audio import (
        DEFAULT_HOP_S,
        DEFAULT_WINDOW_S,
        MAX_TAIL_OFFSETS,
        sample_rate_of,
        start_offsets_of,
    )

    enc = audio_encoder(engine, encoder_id)
    coll = engine.collection("audio", enc.spec.id)
    rate = sample_rate_of(enc)
    samples = load_query_audio(source, rate)
    offsets = start_offsets_of(enc)
    clips = query_clips(samples, rate, offsets, DEFAULT_WINDOW_S, DEFAULT_HOP_S)
    vecs = enc.embed_queries(clips)
    # offset rows of one window compete for places: fetch enough to fill k distinct windows
    # (a short clip's window is stored from its start offsets and from points across it)
    per_window = len(offsets) + (MAX_TAIL_OFFSETS if len(offsets) > 1 else 0)
    limit = min(16384, k * per_window + 10)
    rows = coll.search(vecs, k=limit, filter=filter)
    return merge_windows([[Hit.from_row(r, coll.name) for r in rows_] for rows_ in rows], k)


def search_text_audio(engine: SearchScope, query: str, k: int = 10, filter: Filter | None = None) -> list[Hit]:
    """Words → sounds: through the audio encoder's stored tags (PANNs: AudioSet labels) and
    through transcripts of speech in audio files (`index audio --speech`). When both answer,
    the two rankings are fused (reciprocal rank) and `score` is the fused score."""
    enc = audio_encoder(engine)
    bridge = enc.text_bridge(engine.profile.sound_tags_text)
    speech = speech_hits(engine, query, k, filter)
    if bridge is None and not speech:
        raise QueryError(
            f"text search over sounds is not available with {enc.spec.id} (profile {engine.profile.name}): "
            "it stores no tags to match words against; search with a sound clip (`mmsearch search audio FILE`), "
            "use profile full (PANNs CNN14 tags), or for spoken words index with `mmsearch index audio PATH --speech`"
        )
    tags: list[Hit] = []
    if bridge is not None:
        coll = engine.store.find("audio", bridge.spec.id)
        if coll is None or coll.count() == 0:
            if not speech:
                engine.collection("audio", bridge.spec.id)  # raises "nothing is indexed yet … run `mmsearch index audio`"
        else:
            vec = cached_query_vector(bridge, query)
            tags = merge_windows([engine.search(coll, vec, min(16384, k * 3 + 10), filter)], k)
    if not speech:
        return tags
    if not tags:
        return speech
    return fuse_hits([tags, speech], k)


def speech_hits(engine: SearchScope, query: str, k: int, filter: Filter | None = None) -> list[Hit]:
    """Transcript lines of audio files (stored by `index audio --speech`) that match the words."""
    from indexers.docs import DOC_KIND, SEGMENT_KIND

    if not any(c.kind == DOC_KIND and c.count for c in engine.store.list_collections()):
        return []
    from app.search.docs import search_docs

    # the medium is part of the query, so video transcripts never take the top-k's places
    only_audio = Filter.eq("kind", SEGMENT_KIND) & Filter.meta_eq("media", "audio") & (filter or Filter())
    try:
        out = search_docs(engine, query, k=k, filter=only_audio)
    except QueryError:
        return []
    for h in out:  # the store keeps float32 times
        h.start_s = None if h.start_s is None else round(float(h.start_s), 3)
        h.end_s = None if h.end_s is None else round(float(h.end_s), 3)
    return out
