"""Video moments page: words → moments of indexed videos (frames and speech fused), each with
a frame thumbnail, the transcript line, and a player that starts at the moment; above them,
one timeline strip per video marking where its hits fall."""

from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from app.search.hits import Hit, fmt_ts
from app.views import state as ui_state
from app.views.common import empty_state, has_rows, media_player, plain, show_error

MAX_PLAYER_FILE_BYTES = 200 * 1024 * 1024  # st.video sends the whole file to the browser

st.title("Find moments in your videos")

try:
    engine = ui_state.get_engine()
except Exception as exc:  # store or model trouble: say it and stop this page
    show_error(exc)
    st.stop()

if not has_rows(engine.store, "video", engine.profile.words_model("video")):
    empty_state("videos", "mmsearch index video PATH")

st.sidebar.caption(
    f"Profile **{engine.profile.name}**: frames with `{engine.profile.words_model('video')}`, "
    "speech transcribed with Whisper and matched with the text encoder"
)

with st.form("video_query"):
    col_text, col_k = st.columns([5, 1])
    query = col_text.text_input("Describe a moment, or quote what is said", placeholder="people walking, “he was not an ill disposed young man”…")
    k = col_k.number_input("Moments", min_value=1, max_value=50, value=8)
    submitted = st.form_submit_button("Search", type="primary")


@st.cache_data(show_spinner=False, max_entries=256)
def _duration(source: str) -> float | None:
    from indexers.video import VideoDecodeError, probe_video

    try:
        return probe_video(source).duration_s or None
    except (VideoDecodeError, OSError):
        return None


def _duration_of(hits: list[Hit]) -> float | None:
    for h in hits:
        if h.meta.get("duration_s"):
            return float(h.meta["duration_s"])
    return _duration(hits[0].source or "") if hits and hits[0].source and Path(hits[0].source).is_file() else None


@st.cache_data(show_spinner=False, max_entries=256)
def _has_audio(source: str) -> bool:
    from indexers.video import VideoDecodeError, probe_video

    try:
        return probe_video(source).has_audio
    except (VideoDecodeError, OSError):
        return False


def timeline_html(title: str, hits: list[Hit], duration: float, has_audio: bool = True) -> str:
    """A strip as wide as the video: each moment's span shaded grey, and a tick for every hit
    in it (orange: matched by a frame, below; blue: by speech, above). The legend names
    speech only for a video with a sound track."""

    def pct(t: float) -> float:
        return max(0.0, min(100.0, 100.0 * t / duration))

    marks = []
    for rank, h in enumerate(hits, 1):
        a, b = (h.meta.get("span") or [h.start_s or 0.0, h.end_s or h.start_s or 0.0])[:2]
        marks.append(
            f'<div title="moment {rank} at {html.escape(fmt_ts(float(h.start_s or 0.0)))}" style="position:absolute;'
            f'left:{pct(float(a)):.2f}%;width:{max(0.6, pct(float(b)) - pct(float(a))):.2f}%;top:0;bottom:0;background:#bdbdbd;opacity:.6"></div>'
        )
        for ev in h.meta.get("evidence") or []:
            color = "#1f77b4" if ev.get("how") == "speech" else "#ff7f0e"
            x, y = pct(float(ev.get("start_s") or 0.0)), pct(float(ev.get("end_s") or 0.0))
            top = "0" if ev.get("how") == "speech" else "50%"
            marks.append(
                f'<div class="timeline-hit" style="position:absolute;left:{x:.2f}%;width:{max(0.5, y - x):.2f}%;'
                f'top:{top};height:50%;background:{color}"></div>'
            )
    legend = "grey: moment · orange: picture" + (" · blue: speech" if has_audio else " · no sound track")
    return (
        f'<div class="video-timeline" style="margin:2px 0 10px 0"><div style="font-size:0.85em">{html.escape(title)} '
        f'<span style="color:#888">0:00 – {html.escape(fmt_ts(duration))} · {legend}</span></div>'
        '<div style="position:relative;height:16px;background:#e8eaf0;border-radius:3px">' + "".join(marks) + "</div></div>"
    )


def _player(hit: Hit) -> None:
    """The video from the moment (converted once when a browser cannot play its format)."""
    media_player(hit, ui_state.db_uri(), "video", MAX_PLAYER_FILE_BYTES)


def _results(hits: list[Hit], part: str = "good") -> None:
    by_video: dict[str, list[Hit]] = {}
    for h in hits:
        by_video.setdefault(h.source or "", []).append(h)
    st.markdown("**Timeline**")
    for source, vhits in by_video.items():
        duration = _duration_of(vhits)
        if duration:
            audio = _has_audio(source) if source and Path(source).is_file() else True
            st.markdown(timeline_html(Path(source).name, vhits, duration, audio), unsafe_allow_html=True)
    for rank, hit in enumerate(hits, 1):
        with st.container(border=True):
            col_img, col_info, col_play = st.columns([1, 2, 2])
            with col_img:
                thumb = hit.thumb if hit.thumb and Path(hit.thumb).is_file() else None
                if thumb:
                    st.image(thumb, width="stretch")
                else:
                    st.text("(no frame)")
            with col_info:
                st.markdown(f"**{rank}. {plain(hit.title or hit.id)}** at {float(hit.start_s or 0.0):.1f} s")
                how = " + ".join("speech" if m == "speech" else "picture" for m in hit.meta.get("matched", []))
                weak = " (weak match)" if hit.meta.get("weak") else ""
                st.caption(f"score {hit.score:.3f}{weak} · {float(hit.start_s or 0):.1f}–{float(hit.end_s or 0):.1f} s · matched by {how}")
                if hit.text:
                    st.markdown(f"> {plain(hit.text)}")
                st.caption(plain(hit.source or ""))
            with col_play:
                _player(hit)


hits: list[Hit] | None = None
try:
    if submitted and query.strip():
        hits = engine.search_text(query, kind="video", k=int(k))
    elif submitted:
        st.info("Type a few words, then press Search.")
except Exception as exc:
    show_error(exc)

if hits is not None:
    st.subheader(f"Moments for “{plain(query.strip()[:100])}”")
    good = [h for h in hits if not h.meta.get("weak")]
    weak = [h for h in hits if h.meta.get("weak")]
    if not hits:
        st.info("No moments found.")
    elif not good:
        st.info(
            "No good match: no moment reaches the score that meaningless words reach on these videos, "
            "so these are guesses."
        )
    if good:
        _results(good)
    if weak:
        with st.expander(f"{len(weak)} weaker moments (below the good-match score)", expanded=not good):
            _results(weak, "weak")
