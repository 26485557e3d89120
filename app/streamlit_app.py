"""mmsearch's Streamlit app: `mmsearch serve` (or `streamlit run app/streamlit_app.py`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="mmsearch", page_icon=":material/travel_explore:", layout="wide")

# Not "pages/": Streamlit would also list that folder itself on deep links (/audio).
_here = Path(__file__).parent / "views"
# (file, title, icon); a page appears once its file exists.
PAGES = [
    ("search.py", "Search", ":material/search:"),
    ("catalogue.py", "Catalogue", ":material/storefront:"),
    ("audio.py", "Sounds", ":material/graphic_eq:"),
    ("video.py", "Video moments", ":material/movie:"),
    ("ask.py", "Ask your documents", ":material/forum:"),
    ("library.py", "Library", ":material/library_add:"),
    ("status.py", "Status", ":material/monitor_heart:"),
]
pages = [
    st.Page(str(_here / name), title=title, icon=icon, default=(name == "search.py"))
    for name, title, icon in PAGES
    if (_here / name).exists()
]
st.navigation(pages).run()
