"""Small Streamlit helpers shared by the pages: safe text, result cards, friendly errors."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import streamlit as st

from app.errors import user_message
from app.search.hits import Hit

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object) -> str:
    """Escape Markdown/HTML so user or file text is shown as text, never rendered."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def sentence(text: str) -> str:
    """A message as Markdown: text escaped, `command` spans kept as inline code (so
    "run `mmsearch index audio PATH`" shows a command, not backticks)."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: all text
        return plain(text)
    return "".join(plain(p) if i % 2 == 0 else f"`{p}`" for i, p in enumerate(parts))


def show_error(exc: BaseException) -> None:
    """One friendly sentence instead of a traceback."""
    st.error(sentence(user_message(exc)), icon="⚠️")


LIBRARY_PAGE = "views/library.py"


def library_link() -> None:
    """A link to the Library page, where content is added from the browser (when the app
    has one: a page run on its own, as in tests, has no navigation to link into)."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.page_link(LIBRARY_PAGE, label="Library", icon=":material/library_add:")
    except StreamlitAPIException as exc:  # no such page in this app: the sentence above still says it
        log.debug("no link to the Library page: %s", exc)


def empty_state(what: str, command: str, more: str = "") -> None:
    """Nothing of this kind is indexed: say what to do, as text, and stop the page.
    `what` is plural ("sounds"), `command` the CLI line."""
    st.info(
        sentence(f"No {what} are indexed yet. Add {what} on the Library page, or run `{command}`.{' ' + more if more else ''}"),
        icon=":material/info:",
    )
    library_link()
    st.stop()


def has_rows(store, kind: str, encoder_id: str | None) -> bool:
    """Whether the collection of (kind, encoder) exists and holds anything; False on trouble."""
    if not encoder_id:
        return False
    from milvus.errors import StoreError

    try:
        coll = store.find(kind, encoder_id)
        return coll is not None and coll.count() > 0
    except StoreError as exc:  # the search itself will say what is wrong
        log.debug("cannot count %s/%s: %s", kind, encoder_id, exc)
        return False


def media_player(hit: Hit, store_uri: str, kind: str, max_bytes: int) -> None:
    """A player for the hit's source that starts at its time: the file as it is when a
    browser plays it, else a converted copy (made once, cached beside the thumbnails),
    else one sentence saying it cannot be played here."""
    from indexers.playable import NotPlayable, playable

    path = Path(hit.source or "")
    start = float(hit.start_s or 0.0)
    if not path.is_file():
        st.caption("(source file not found)")
        return
    if path.stat().st_size > max_bytes:
        st.caption(f"(file too large to play here; open it at {start:.0f} s)")
        return
    try:
        with st.spinner("Preparing it for the browser…"):
            media = playable(path, store_uri)
    except NotPlayable as exc:
        st.caption(plain(f"This file cannot be played in the browser: {exc}. Open it at {start:.0f} s in a media player."))
        return
    if kind == "video":
        st.video(str(media.path), format=media.mimetype, start_time=int(start))
    else:
        st.audio(str(media.path), format=media.mimetype, start_time=start)


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


_LABEL = re.compile(r"^\s*([^;()]+?)\s*\(\d+(?:\.\d+)?\)\s*(?:;|$)")


def human_caption(hit: Hit) -> str | None:
    """What a photo shows, for people: the top predicted label ("tabby cat"), without the
    other labels or probabilities the index stores ("tabby cat (0.54); tiger cat (0.20); …").
    Other text (a transcript line, a description) is returned as it is."""
    if not hit.text:
        return None
    m = _LABEL.match(hit.text)
    if m:
        return m.group(1).strip()
    return hit.text[:140]


def hit_grid(hits: list[Hit], columns: int = 4, key: str = "grid", on_more=None, on_view=None) -> None:
    """Thumbnails with scores and captions; a 'More like this' button per hit calls
    `on_more(hit)`, a 'View' button `on_view(hit)` (during the run: it may open a dialog)."""
    for start in range(0, len(hits), columns):
        cols = st.columns(columns)
        for col, hit in zip(cols, hits[start : start + columns]):
            with col:
                thumb_and_title(hit)
                caption = human_caption(hit)
                st.caption(f"score {hit.score:.3f}" + (f" · {plain(caption)}" if caption else ""))
                buttons = st.columns(2) if on_more is not None and on_view is not None else [st.container()]
                if on_view is not None and buttons[0].button("View", key=f"{key}-view-{hit.id}"):
                    on_view(hit)
                if on_more is not None:
                    buttons[-1].button("More like this", key=f"{key}-more-{hit.id}", on_click=on_more, args=(hit,))


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
