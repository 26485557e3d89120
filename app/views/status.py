"""Status page: the database, its collections and counts, the active models."""

from __future__ import annotations

import streamlit as st

from app.views import state as ui_state
from app.views.common import plain, show_error
from encoders import get_encoder

st.title("Status")

try:
    store = ui_state.get_store()
    profile = ui_state.get_profile()
except Exception as exc:
    show_error(exc)
    st.stop()

st.markdown(f"**Database:** `{store.uri}` ({'Milvus Lite, one process at a time' if store.is_lite else 'Milvus server'})")
st.markdown(f"**Profile:** {profile.name} — {plain(ui_state.profile_reason())}")
st.caption(plain(profile.note))

st.subheader("Collections")
try:
    infos = store.list_collections()
except Exception as exc:
    show_error(exc)
    infos = []
if not infos:
    st.info("Nothing indexed yet. Run `mmsearch index images PATH` (or `make demo`).")
else:
    from indexers.calibration import describe_thresholds

    st.dataframe(
        [
            {
                "collection": i.name,
                "kind": i.kind,
                "encoder": i.encoder,
                "dim": i.dim,
                "metric": i.metric,
                "items": i.count,
                "good match": describe_thresholds(i.encoder, i.kind, store.uri),
            }
            for i in infos
        ],
        hide_index=True,
        width="stretch",
    )

st.subheader("Active models")
rows = []
for eid in dict.fromkeys([*profile.image_encoders, profile.text_to_image, profile.image_to_image, profile.text]):
    enc = get_encoder(eid, ui_state.device())
    rows.append(
        {
            "encoder": eid,
            "dim": enc.spec.dim,
            "weights": "available" if enc.weights_available() else "missing",
            "loaded from": enc.weights_source,
            "device": enc.device,
        }
    )
st.dataframe(rows, hide_index=True, width="stretch")
