"""`mmsearch serve`: one process that owns the database and the loaded models.

It serves the Streamlit app and an HTTP API (`/api`, OpenAPI page at `/api/docs`) over the same
`Context`, runs index jobs in the background (`jobs.py`), and announces itself in a file beside
the database (`discovery.py`) so the CLI on the same database goes through it (`client.py`).

- `library.py`: what may be indexed: uploads (type- and size-checked) and folders confined to roots
- `indexing.py`: one index run of a kind with the context's models
- `jobs.py`: the background job queue, persisted so an interrupted job resumes
- `runtime.py`: the process's one context and job runner, shared by the API and the pages
- `api.py`: the FastAPI app; `auth.py`: the token check; `run.py`: start, serve, shut down
"""
