"""The Library page (/library): add photos, sounds, videos, documents or a catalogue, by upload or
by a folder on the server machine; watch the background index jobs; remove a source."""

from __future__ import annotations

import time

import streamlit as st

from app.server.library import LibraryError, accepted_extensions, confine, label_for, remove_source, save_uploads
from app.views import state as ui_state
from app.views.common import plain, show_error

KIND_NAMES = {
    "images": "Photos",
    "audio": "Sounds",
    "video": "Videos",
    "docs": "Documents",
    "catalogue": "Catalogue (CSV or JSONL, with a zip of its images)",
}

st.title("Library")
st.caption("Add content to search. Indexing runs in the background: you can keep searching while it works.")

try:
    settings = ui_state.settings()
    jobs = ui_state.get_jobs()
except Exception as exc:
    show_error(exc)
    st.stop()


def kind_picker(key: str) -> str:
    """A select box of the kinds of content."""
    return st.selectbox("What is it?", list(KIND_NAMES), format_func=KIND_NAMES.get, key=key)


upload_tab, folder_tab, remove_tab = st.tabs(["Upload files", "A folder on the server", "Remove from the index"])

with upload_tab:
    kind = kind_picker("upload_kind")
    types = sorted(e.lstrip(".") for e in accepted_extensions(kind))
    files = st.file_uploader(
        f"{KIND_NAMES[kind]} (up to {settings.upload_max_mb:.0f} MB each)", type=types, accept_multiple_files=True,
        key=f"upload_{kind}",
    )
    if st.button("Index these files", type="primary", disabled=not files, key="upload_go"):
        try:
            limit = int(settings.upload_max_mb * 1e6)
            named = [(f.name, f.getvalue() if f.size <= limit else None) for f in files or []]
            saved, skipped = save_uploads(settings.uploads_dir(), kind, named, limit)
            job = jobs.submit(kind, [str(p) for p in saved], label=label_for(saved), skipped=skipped)
            st.success(f"Indexing {len(saved)} file(s) in the background (job {job.id}).")
        except LibraryError as exc:
            show_error(exc)

with folder_tab:
    kind = kind_picker("folder_kind")
    roots = ", ".join(str(r) for r in settings.library_roots) or "none"
    folder = st.text_input("Folder or file path on the server machine", placeholder="/home/me/Pictures", key="folder_path")
    st.caption(plain(f"Allowed under: {roots} (the library_roots setting)."))
    if st.button("Index this folder", type="primary", disabled=not folder, key="folder_go"):
        try:
            found, escapes = confine(folder, settings.library_roots)
            job = jobs.submit(kind, [str(p) for p in found], label=folder.strip(), skipped=escapes)
            st.success(f"Indexing {folder.strip()} in the background (job {job.id}).")
        except LibraryError as exc:
            show_error(exc)

with remove_tab:
    source = st.text_input("The file to remove (its path as the search results show it)", key="remove_source")
    if st.button("Remove from the index", disabled=not source, key="remove_go"):
        try:
            removed = remove_source(ui_state.get_store(), source.strip())
            if removed:
                st.success(f"Removed {removed} item(s) made from {source.strip()}.")
            else:
                st.info("Nothing in the index was made from that file.")
        except Exception as exc:
            show_error(exc)


@st.fragment(run_every=1.0)
def job_list() -> None:
    """Every job with its progress, counts and skipped files (refreshed every second)."""
    st.subheader("Index jobs")
    listed = jobs.list()
    if not listed:
        st.info("No index jobs yet: upload files or give a folder above, or run `mmsearch index images PATH`.")
        return
    for job in listed[:20]:
        with st.container(border=True):
            head, button = st.columns([5, 1])
            head.markdown(f"**{plain(job.label)}** · {KIND_NAMES[job.kind].split(' (')[0].lower()} · {job.state}")
            if job.state in ("queued", "running") and button.button("Cancel", key=f"cancel_{job.id}"):
                jobs.cancel(job.id)
            if job.state == "running" or (job.state == "queued" and job.total):
                st.progress(job.fraction, text=f"{job.done:g} of {job.total:g}")
            elif job.state == "done":
                took = f" in {job.finished - job.created:.0f} s" if job.finished else ""
                st.caption(f"{job.indexed} indexed, {job.unchanged} already there, {len(job.skipped)} skipped{took}")
            elif job.state == "failed":
                st.error(plain(job.error or "failed"))
            elif job.state == "cancelled":
                st.caption(f"Cancelled at {job.done:g} of {job.total:g}; what was indexed stays.")
            if job.skipped:
                with st.expander(f"{len(job.skipped)} skipped file(s)"):
                    for row in job.skipped:
                        st.text(f"{row['path']}: {row['reason']}")
    st.caption(f"Updated {time.strftime('%H:%M:%S')}")


job_list()
