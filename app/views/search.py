"""Search page: text → image and photo → image, with 'more like this'."""

from __future__ import annotations

import streamlit as st

from app.search.hits import Hit
from app.search.queries import load_query_image
from app.views import state as ui_state
from app.views.common import (
    hit_grid,
    plain,
    read_upload,
    show_error,
    show_good_and_weak,
)

st.title("Search your photos")

try:
    engine = ui_state.get_engine()
except Exception as exc:  # store or model trouble: say it and stop this page
    show_error(exc)
    st.stop()

st.sidebar.caption(f"Profile **{engine.profile.name}**: {plain(ui_state.profile_reason())}")
if not engine.profile.shared_text_image_space:
    st.sidebar.caption(
        "Offline profile: text search goes through ImageNet labels, so it knows only ImageNet's 1000 concepts."
    )


def _more_like(hit: Hit) -> None:
    st.session_state["more_like"] = {"id": hit.id, "title": hit.title or hit.id}


with st.form("query"):
    col_text, col_k = st.columns([5, 1])
    query = col_text.text_input("Describe what you are looking for", placeholder="a cat, a rocket, fruit on a table…")
    k = col_k.number_input("Results", min_value=1, max_value=100, value=12)
    upload = st.file_uploader("…or drop a photo to find similar ones", type=["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"])
    submitted = st.form_submit_button("Search", type="primary")

if submitted:
    st.session_state.pop("more_like", None)

hits: list[Hit] | None = None
heading = ""
threshold: float | None = None
try:
    more = st.session_state.get("more_like")
    data = read_upload(upload) if submitted else None
    if more:
        hits = engine.more_like(more["id"], k=int(k))
        heading = f"More like {plain(more['title'])}"
        threshold = engine.good_match_threshold("image", "image")
    elif submitted and data is not None:
        col_q, _ = st.columns([1, 5])
        image = load_query_image(data)
        col_q.image(image, caption="your photo", width="stretch")
        hits = engine.search_image(image, k=int(k))
        heading = "Photos like yours"
        threshold = engine.good_match_threshold("image", "image")
    elif submitted and query.strip():
        hits = engine.search_text(query, k=int(k))
        heading = f"Results for “{plain(query.strip()[:100])}”"
        threshold = engine.good_match_threshold("image", "text")
    elif submitted:
        st.info("Type a few words or drop a photo, then press Search.")
except Exception as exc:
    show_error(exc)

if hits is not None:
    st.subheader(heading)
    show_good_and_weak(hits, threshold, lambda shown, part: hit_grid(shown, key="search" if part == "good" else "weak", on_more=_more_like))
