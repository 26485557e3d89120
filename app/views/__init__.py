"""The Streamlit app's pages (one script per page, run by `app/streamlit_app.py`), with the
helpers they share in `common` and the cached engine in `state`."""
