"""mmsearch's user-facing layer: the `mmsearch` CLI and the Streamlit app."""
