"""Sounds page: upload a clip (or describe a sound) → the windows of indexed files that
sound most alike, each with a player that starts at the window, its score and its tags."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.errors import user_message
from app.search.hits import Hit, fmt_span, hit_tags
from app.views import state as ui_state
from app.views.common import (
    empty_state,
    has_rows,
    media_player,
    plain,
    read_upload,
    show_error,
    show_good_and_weak,
)
from indexers.audio_io import AudioDecodeError, audio_mimetype

UPLOAD_TYPES = ["wav", "flac", "ogg", "oga", "opus", "mp3", "m4a", "aac", "aif", "aiff"]
MAX_PLAYER_FILE_BYTES = 25 * 1024 * 1024  # larger sources play as an excerpt of the window

st.title("Search your sounds")

try:
    engine = ui_state.get_engine()
    audio_id = engine.profile.audio
    encoder = engine.encoder(audio_id) if audio_id else None
except Exception as exc:  # store or model trouble: say it and stop this page
    show_error(exc)
    st.stop()

if encoder is None:
    st.info(f"Profile **{engine.profile.name}** has no audio encoder.")
    st.stop()

has_tags = encoder.has_tags
if not has_rows(engine.store, "audio", audio_id):
    empty_state("sounds", "mmsearch index audio PATH")


@st.cache_data(ttl=30, show_spinner=False)
def _sound_transcripts(db: str) -> bool:
    """Whether speech of sound files was transcribed (`index audio --speech`): documents and
    the transcripts of videos live in the same collection and must not turn the word box on."""
    from indexers.docs import DOC_KIND, SEGMENT_KIND
    from milvus import Filter

    try:
        for info in engine.store.list_collections():
            if info.kind != DOC_KIND or not info.count:
                continue
            coll = engine.store.find(DOC_KIND, info.encoder)
            rows = coll.query(Filter.eq("kind", SEGMENT_KIND), limit=4096) if coll is not None else []
            if any((r.get("meta") or {}).get("media") == "audio" for r in rows):
                return True
    except Exception:  # the page works without them
        return False
    return False


has_transcripts = _sound_transcripts(ui_state.db_uri())
text_ok = has_tags or has_transcripts
st.sidebar.caption(f"Profile **{engine.profile.name}**: sounds with `{plain(audio_id)}`")
if not has_tags:
    st.sidebar.caption(
        f"`{plain(audio_id)}` stores no tags, so sounds are found by a clip; words find only speech "
        "transcribed by `mmsearch index audio PATH --speech`. Profile full (PANNs CNN14) adds AudioSet tags."
    )

with st.form("audio_query"):
    upload = st.file_uploader("Drop a sound clip to find similar sounds", type=UPLOAD_TYPES)
    recording = st.audio_input("…or record one with your microphone")
    col_text, col_k = st.columns([5, 1])
    query = col_text.text_input(
        "…or describe a sound",
        placeholder="dog barking, church bell, applause…" if has_tags else "spoken words (transcripts)" if has_transcripts else "needs an encoder with tags (profile full)",
        disabled=not text_ok,
    )
    k = col_k.number_input("Results", min_value=1, max_value=50, value=8)
    submitted = st.form_submit_button("Search", type="primary")


def _player(hit: Hit) -> None:
    """The source file, starting at the hit's window (converted once when a browser cannot
    play its format); very large files play the window only."""
    path = Path(hit.source or "")
    if path.is_file() and path.stat().st_size > MAX_PLAYER_FILE_BYTES:
        from indexers.audio_io import read_excerpt, wav_bytes

        start = float(hit.start_s or 0.0)
        end = float(hit.end_s or start + 10.0)
        st.audio(wav_bytes(read_excerpt(path, start, end, 22050), 22050), format="audio/wav")
        st.caption("excerpt of the window (the file is large)")
        return
    media_player(hit, ui_state.db_uri(), "audio", MAX_PLAYER_FILE_BYTES)


def _results(hits: list[Hit], part: str = "good") -> None:
    for hit in hits:
        with st.container(border=True):
            col_info, col_play = st.columns([3, 2])
            with col_info:
                st.markdown(f"**{plain(hit.title or hit.id)}**")
                st.caption(f"score {hit.score:.3f} · {fmt_span(hit)} · {plain(hit.source or '')}")
                tags = hit_tags(hit)
                if tags:
                    st.caption("tags: " + " · ".join(f"{plain(name)} {score:.2f}" for name, score in tags))
            with col_play:
                try:
                    _player(hit)
                except AudioDecodeError as exc:  # an unreadable source must not hide the other results
                    st.caption(f"cannot play it: {plain(exc)}")
                except OSError as exc:
                    st.caption(f"cannot play it: {plain(user_message(exc))}")


def _words_threshold(found: list[Hit]) -> float | None:
    """The calibrated good-match score for words over sound tags, when every hit came from the
    tags alone; a ranking fused with transcripts has no comparable scale (None)."""
    bridge = encoder.text_bridge(engine.profile.text) if has_tags else None
    if bridge is None or not found:
        return None
    from milvus.store import collection_name

    if any(h.collection != collection_name("audio", bridge.spec.id) for h in found):
        return None
    return engine.good_match_threshold("audio", "text", encoder_id=bridge.spec.id)


hits: list[Hit] | None = None
heading = ""
threshold: float | None = None  # a calibrated cut-off: clips, and words matched by tags alone
ranked_only = False  # words through transcripts: a ranking, not a calibrated score
try:
    clip = upload if upload is not None else recording  # a recording arrives as a WAV file
    data = read_upload(clip) if submitted else None
    if submitted and data is not None:
        name = upload.name if upload is not None else "recording.wav"
        st.caption("your clip")
        st.audio(data, format=audio_mimetype(name))
        hits = engine.search_audio(data, k=int(k))
        heading = f"Sounds like {plain(name)}"
        threshold = engine.good_match_threshold("audio", "audio")
    elif submitted and query.strip():
        hits = engine.search_text(query, kind="audio", k=int(k))
        heading = f"Sounds for “{plain(query.strip()[:100])}”"
        threshold = _words_threshold(hits)
        if threshold is None and hits:
            ranked_only = True
    elif submitted:
        st.info("Drop a sound clip" + (" or type a few words" if text_ok else "") + ", then press Search.")
except Exception as exc:
    show_error(exc)

if hits is not None:
    st.subheader(heading)
    if ranked_only:
        st.warning(
            "These sounds are ranked against each other by how well their words match; the scores are "
            "not calibrated, so even the first ones may be weak matches.",
            icon=":material/info:",
        )
    show_good_and_weak(hits, threshold, _results, noun="sounds")
