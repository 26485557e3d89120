"""Search page: text → image and photo → image, with 'more like this'."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.search.hits import Hit
from app.search.queries import load_query_image
from app.views import state as ui_state
from app.views.common import (
    empty_state,
    has_rows,
    hit_grid,
    human_caption,
    plain,
    read_upload,
    show_error,
    show_good_and_weak,
    thumbnail_for,
)

st.title("Search your photos")

try:
    engine = ui_state.get_engine()
except Exception as exc:  # store or model trouble: say it and stop this page
    show_error(exc)
    st.stop()

if not any(has_rows(engine.store, "image", e) for e in {engine.profile.text_to_image, engine.profile.image_to_image}):
    empty_state("photos", "mmsearch index images PATH", "Or run `make demo` for sample photos.")

st.sidebar.caption(f"Profile **{engine.profile.name}**: {plain(ui_state.profile_reason())}")
if not engine.profile.shared_text_image_space:
    st.sidebar.caption(
        "Offline profile: text search goes through ImageNet labels, so it knows only ImageNet's 1000 concepts."
    )


def _more_like(hit: Hit) -> None:
    st.session_state["more_like"] = {"id": hit.id, "title": hit.title or hit.id}


def photo_facts(path: Path) -> dict[str, str]:
    """Where a photo is, how big it is and when it was taken (EXIF) or last changed."""
    import datetime as dt

    from PIL import Image

    facts = {"path": str(path)}
    stat = path.stat()
    taken = None
    try:
        with Image.open(path) as im:
            facts["size"] = f"{im.width} × {im.height} pixels · {stat.st_size / 1024:,.0f} KB"
            exif = im.getexif()
            raw = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)  # DateTimeOriginal, DateTime
            if raw:
                taken = dt.datetime.strptime(str(raw).strip(), "%Y:%m:%d %H:%M:%S")
    except Exception:  # an unreadable header still has a path and a file size
        facts["size"] = f"{stat.st_size / 1024:,.0f} KB"
    if taken is not None:
        facts["date"] = f"taken {taken:%Y-%m-%d %H:%M}"
    else:
        facts["date"] = f"file changed {dt.datetime.fromtimestamp(stat.st_mtime):%Y-%m-%d %H:%M}"
    return facts


@st.dialog("Photo", width="large")
def viewer(hit: Hit) -> None:
    """The full photo with its path, size and date, and 'More like this'."""
    path = Path(hit.source or "")
    col_img, col_facts = st.columns([3, 2])
    if path.is_file():
        col_img.image(str(path), width="stretch")
        facts = photo_facts(path)
    else:
        thumb = thumbnail_for(hit)
        if thumb:
            col_img.image(thumb, width="stretch")
        facts = {"path": f"{hit.source or hit.id} (the file is not there any more)"}
    with col_facts:
        caption = human_caption(hit)
        st.markdown(f"**{plain(hit.title or hit.id)}**" + (f" — {plain(caption)}" if caption else ""))
        for name, value in facts.items():
            st.caption(f"{name}: {plain(value)}")
        if st.button("More like this", key="viewer-more", type="primary"):
            _more_like(hit)
            st.rerun()


shared = engine.profile.shared_text_image_space
with st.form("query"):
    col_text, col_k = st.columns([5, 1])
    query = col_text.text_input("Describe what you are looking for", placeholder="a cat, a rocket, fruit on a table…")
    k = col_k.number_input("Results", min_value=1, max_value=100, value=12)
    upload = st.file_uploader(
        "…or drop a photo to find similar ones" + (" (words and a photo together: “like this, but red”)" if shared else ""),
        type=["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"],
    )
    submitted = st.form_submit_button("Search", type="primary")

if submitted:  # the query lives in the session, so a rerun (a "View" click) shows the same results
    st.session_state.pop("more_like", None)
    st.session_state["search_query"] = {"words": query.strip(), "photo": read_upload(upload), "k": int(k)}

hits: list[Hit] | None = None
heading = ""
threshold: float | None = None
try:
    more = st.session_state.get("more_like")
    asked = st.session_state.get("search_query") or {"words": "", "photo": None, "k": int(k)}
    words, data, k = asked["words"], asked["photo"], asked["k"]
    if more:
        hits = engine.more_like(more["id"], k=int(k))
        heading = f"More like {plain(more['title'])}"
        threshold = engine.good_match_threshold("image", "image")
    elif data is not None:
        col_q, _ = st.columns([1, 5])
        image = load_query_image(data)
        col_q.image(image, caption="your photo", width="stretch")
        if words and shared:
            hits = engine.search_composed(image, words, k=int(k))
            heading = f"Like your photo, but “{plain(words[:100])}”"
            threshold = None  # a composed query has no calibrated scale
            st.caption("Your photo and your words make one query. Scores of composed queries are not calibrated.")
        else:
            if words:
                st.info(
                    f"Your words were not used: profile {engine.profile.name} has no shared space for words and "
                    "pictures, so a photo and words cannot be combined. Search with the words alone, or with the photo alone."
                )
            hits = engine.search_image(image, k=int(k))
            heading = "Photos like yours"
            threshold = engine.good_match_threshold("image", "image")
    elif words:
        hits = engine.search_text(words, k=int(k))
        heading = f"Results for “{plain(words[:100])}”"
        threshold = engine.good_match_threshold("image", "text")
    elif submitted:
        st.info("Type a few words or drop a photo, then press Search.")
except Exception as exc:
    show_error(exc)

if hits is not None:
    st.subheader(heading)
    show_good_and_weak(
        hits,
        threshold,
        lambda shown, part: hit_grid(shown, key="search" if part == "good" else "weak", on_more=_more_like, on_view=viewer),
    )
