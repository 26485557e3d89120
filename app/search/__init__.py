"""Search services shared by the CLI, the Streamlit app and the API (no Streamlit here).

`engine.SearchEngine` is the entry point and the only importer of the per-kind modules
(`images`, `audio`, `video`, `docs`, `catalogue`); those share `scope` (store, profile,
device), `hits` (results), `vectors` (cached query embeddings), `queries`, `fusion` and `bm25`.
"""
