"""Small Streamlit helpers shared by the pages: safe text, result cards, friendly errors."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from app.errors import user_message
from app.search.hits import Hit

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object) -> str:
    """Escape Markdown/HTML so user or file text is shown as text, never rendered."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def show_error(exc: BaseException) -> None:
    """One friendly sentence instead of a traceback."""
    st.error(plain(user_message(exc)), icon="⚠️")


def thumbnail_for(hit: Hit) -> str | None:
    for candidate in (hit.thumb, hit.source):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def read_upload(upload) -> bytes | None:
    """The uploaded bytes, or None with a message when too big or empty."""
    if upload is None:
        return None
    data = upload.getvalue()
    if not data:
        st.warning("That file is empty.")
        return None
    if len(data) > MAX_UPLOAD_BYTES:
        st.warning(f"That file is {len(data) / 1e6:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 1_000_000} MB.")
        return None
    return data


def thumb_and_title(hit: Hit) -> None:
    """The top of a result card: its thumbnail (or a placeholder) and its title, as text."""
    thumb = thumbnail_for(hit)
    if thumb:
        st.image(thumb, width="stretch")
    else:
        st.text("(no preview)")
    st.markdown(f"**{plain(hit.title or hit.id)}**")


def hit_grid(hits: list[Hit], columns: int = 4, key: str = "grid", on_more=None) -> None:
    """Thumbnails with scores; a 'More like this' button per hit calls `on_more(hit)`."""
    for start in range(0, len(hits), columns):
        cols = st.columns(columns)
        for col, hit in zip(cols, hits[start : start + columns]):
            with col:
                thumb_and_title(hit)
                st.caption(f"score {hit.score:.3f}")
                if hit.text:
                    st.caption(plain(hit.text[:140]))
                if on_more is not None:
                    st.button("More like this", key=f"{key}-more-{hit.id}", on_click=on_more, args=(hit,))


def show_good_and_weak(hits: list[Hit], threshold: float | None, render, noun: str = "matches") -> None:
    """Render the hits at or above the collection's good-match threshold, say so when none
    is, and fold the weaker ones away (open when nothing better is shown)."""
    from app.search.hits import split_by_threshold

    good, weak = split_by_threshold(hits, threshold)
    if not hits:
        st.info("No results.")
        return
    if not good:
        st.info(
            f"No good match: the best score, {hits[0].score:.3f}, is below this collection's "
            f"good-match threshold of {threshold:.3f}."
        )
    if good:
        render(good, "good")
    if weak:
        with st.expander(f"{len(weak)} weaker {noun} (below {threshold:.3f})", expanded=not good):
            render(weak, "weak")
