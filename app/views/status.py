"""Status page: the database, its collections (files and items in each), the active models."""

from __future__ import annotations

import streamlit as st

from app.views import state as ui_state
from app.views.common import library_link, plain, sentence, show_error

#: Rows read to count a collection's files; a larger collection shows "at least".
MAX_ROWS_FOR_FILES = 16384
KIND_NAMES = {"image": "photos", "product": "catalogue", "audio": "sounds", "video": "video frames", "doc": "documents"}
ITEM_NAMES = {"image": "photos", "product": "items", "audio": "10 s windows", "video": "frames", "doc": "passages"}

st.title("Status")

try:
    store = ui_state.get_store()
    profile = ui_state.get_profile()
except Exception as exc:
    show_error(exc)
    st.stop()

st.markdown(f"**Database:** `{store.uri}` ({'Milvus Lite, one process at a time' if store.is_lite else 'Milvus server'})")
st.markdown(f"**Profile:** {plain(profile.name)} — {plain(ui_state.profile_reason())}")
st.caption(plain(profile.note))


@st.cache_data(ttl=60, show_spinner=False)
def files_in(uri: str, kind: str, encoder: str, count: int) -> str:
    """How many files a collection's items come from ("≥ N" past the rows read)."""
    coll = store.find(kind, encoder)
    if coll is None:
        return "0"
    rows = coll.query(limit=MAX_ROWS_FOR_FILES)
    files = len({r.get("source") or r.get("id") for r in rows})
    return f"≥ {files}" if count > len(rows) else str(files)


st.subheader("Collections")
try:
    infos = store.list_collections()
except Exception as exc:
    show_error(exc)
    infos = []
if not infos:
    st.info(
        sentence("Nothing is indexed yet. Add photos, sounds, videos or documents on the Library page, or run "
                 "`mmsearch index images PATH` (or `make demo` for samples)."),
        icon=":material/info:",
    )
    library_link()
else:
    from indexers.calibration import describe_thresholds

    rows = []
    for i in infos:
        try:
            files = files_in(store.uri, i.kind, i.encoder, i.count)
        except Exception:  # a count is not worth failing the page
            files = "?"
        rows.append({
            "holds": KIND_NAMES.get(i.kind, i.kind),
            "files": files,
            "items": f"{i.count:,} {ITEM_NAMES.get(i.kind, 'items')}",
            "model": i.encoder,
            "good match": describe_thresholds(i.encoder, i.kind, store.uri) or "—",
        })
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            "holds": st.column_config.TextColumn(width="small"),
            "files": st.column_config.TextColumn(width="small", help="files (photos, sounds, videos, documents) the items come from"),
            "items": st.column_config.TextColumn(width="small", help="what is searched: photos, catalogue items, sound windows, video frames, passages"),
            "model": st.column_config.TextColumn(width="large"),
            "good match": st.column_config.TextColumn(width="medium", help="the calibrated score above which a hit is a good match"),
        },
    )
    st.caption(
        "A sound is searched in 10 s windows and a video in frames (one a second), so they hold more items than files. "
        "Collections: " + ", ".join(plain(i.name) for i in infos) + "."
    )


def _model_rows() -> tuple[list[dict[str, str]], list[str]]:
    """One row per model the profile and settings use, and where each one's weights come from."""
    from encoders import get_encoder
    from encoders.transcribe import get_transcriber

    roles: dict[str, list[str]] = {}
    for eid in profile.image_encoders:
        roles.setdefault(eid, []).append("photos")
    roles.setdefault(profile.text_to_image, []).append("words → photos")
    roles.setdefault(profile.image_to_image, []).append("photo → photos")
    for eid in profile.fills("product"):
        roles.setdefault(eid, []).append("catalogue")
    roles.setdefault(profile.words_model("video"), []).append("video frames")
    if profile.audio:
        roles.setdefault(profile.audio, []).append("sounds")
    try:
        text_id = ui_state.get_engine().text_encoder_id()
    except Exception:
        text_id = profile.text
    roles.setdefault(text_id, []).append("documents and transcripts")
    out, sources = [], []
    for eid, what in roles.items():
        try:
            enc = get_encoder(eid, ui_state.device())
            loaded = enc.weights_source if enc.weights_source != "not loaded" else "not loaded yet (loads on first use)"
            out.append({"used for": ", ".join(dict.fromkeys(what)), "model": eid, "dim": str(enc.spec.dim),
                        "weights": "available" if enc.weights_available() else "missing", "device": enc.device})
        except Exception as exc:
            from app.errors import user_message

            loaded = user_message(exc)
            out.append({"used for": ", ".join(what), "model": eid, "dim": "", "weights": "unknown", "device": ""})
        sources.append(f"{eid}: {loaded}")
    tid = ui_state.settings().transcriber
    try:
        tr = get_transcriber(tid, ui_state.device())
        out.append({"used for": "speech → text", "model": tr.id, "dim": "",
                    "weights": "available" if tr.weights_available() else "missing", "device": tr.device})
        sources.append(f"{tr.id}: {tr.weights_source if tr.weights_source != 'not loaded' else 'not loaded yet (loads on first use)'}")
    except Exception as exc:
        from app.errors import user_message

        out.append({"used for": "speech → text", "model": tid, "dim": "", "weights": "unknown", "device": ""})
        sources.append(f"{tid}: {user_message(exc)}")
    return out, sources


st.subheader("Active models")
models, loaded_from = _model_rows()
st.dataframe(
    models,
    hide_index=True,
    width="stretch",
    column_config={
        "used for": st.column_config.TextColumn(width="medium"),
        "model": st.column_config.TextColumn(width="large"),
        "dim": st.column_config.TextColumn(width="small"),
        "weights": st.column_config.TextColumn(width="small"),
        "device": st.column_config.TextColumn(width="small"),
    },
)
st.markdown("**Weights loaded from**")
for line in loaded_from:
    st.caption(plain(line))


# -- choosing a model per kind ---------------------------------------------------------------
def _suitable(kind: str) -> list[str]:
    """Catalogue ids that can serve `kind` (built, not loaded)."""
    from encoders import get_encoder
    from encoders.profiles import choice_fields
    from encoders.registry import KNOWN_IDS

    found = []
    for eid in KNOWN_IDS:
        try:
            choice_fields(kind, get_encoder(eid, ui_state.device()).spec)
            found.append(eid)
        except Exception:  # not for this kind, or not buildable here
            continue
    return found


def _switch_section() -> None:
    """The model of each kind, and a switch that fills the new model's collections as a job."""
    from encoders import get_encoder
    from encoders.profiles import CHOICE_KINDS, active_models, choice_fields
    from indexers.model_record import read_choices

    try:
        text_id = ui_state.get_engine().text_encoder_id()
    except Exception:
        text_id = profile.text
    current = ui_state.get_profile()  # re-read: a switch may have finished since the page began
    active = active_models(current, text_id)
    st.subheader("Model per kind")
    import pandas as pd

    st.table(pd.DataFrame([{"kind": k, "model": active[k] or "(none)", "covers": CHOICE_KINDS[k]} for k in CHOICE_KINDS]).set_index("kind"))
    try:
        pending = read_choices(store)
    except Exception:
        pending = None
    if pending is not None and pending.pending:
        target = ", ".join(dict.fromkeys(pending.pending.values()))
        st.info(sentence(f"Switching {pending.pending_kind} to {target}: its collections are being filled; search answers "
                         "from the current model until then."), icon=":material/sync:")
    jobs = [j for j in ui_state.get_jobs().list() if j.kind == "models"][:1]
    for job in jobs:
        st.caption(plain(f"Last switch: {job.label} — {job.state}" + (f" ({job.fraction:.0%})" if job.state == "running" else "")
                         + (f": {job.error}" if job.error else "")))
        if job.state in ("queued", "running"):
            st.progress(job.fraction)

    left, mid, right = st.columns([1, 2, 2])
    kind = left.selectbox("Kind", list(CHOICE_KINDS), key="switch_kind", help="photos and photos-text also cover the catalogue and video frames until those have models of their own")
    known = _suitable(kind)
    model = mid.selectbox("Model", [active[kind], *[e for e in known if e != active[kind]]] if active[kind] else known, key="switch_model")
    typed = right.text_input("…or another id", key="switch_other", placeholder="e.g. open_clip:ViT-B-16-SigLIP/webli",
                             help="any open_clip MODEL/TAG, sentence_transformers NAME, …; see `mmsearch models list`")
    if st.button("Switch", key="switch_button", help="fills the new model's collections from the stored files, then switches; "
                 "the old collections stay until `mmsearch models prune --yes`"):
        chosen = (typed or "").strip() or model
        if chosen == active[kind]:
            st.info(sentence(f"{kind} already uses {chosen}"))
            return
        try:
            choice_fields(kind, get_encoder(chosen, ui_state.device()).spec)
        except Exception as exc:
            show_error(exc)
            return
        job = ui_state.get_jobs().submit("models", [kind, chosen], label=f"{kind} → {chosen}")
        st.success(sentence(f"Switching {kind} to {chosen} (job {job.id}): search answers from {active[kind] or 'nothing'} "
                            "until the new collections are filled, then from the new model"), icon=":material/sync:")


_switch_section()
