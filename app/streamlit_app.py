"""mmsearch's Streamlit app: `mmsearch serve` (or `streamlit run app/streamlit_app.py`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="mmsearch", page_icon="🔎", layout="wide")

_here = Path(__file__).parent / "pages"
pages = [st.Page(str(_here / "search.py"), title="Search", icon=":material/search:", default=True)]
if (_here / "catalogue.py").exists():
    pages.append(st.Page(str(_here / "catalogue.py"), title="Catalogue", icon=":material/storefront:"))
pages.append(st.Page(str(_here / "status.py"), title="Status", icon=":material/monitor_heart:"))
st.navigation(pages).run()
