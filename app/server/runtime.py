"""The server process's one context and job runner, shared by the API and the app's pages.

`install` is called once by `run.serve`; pages running without it (`streamlit run`, AppTest)
build their own context (see app/views/state.py)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.context import Context
    from app.server.jobs import JobRunner

_lock = threading.Lock()
_installed: dict[str, object] = {}


def install(context: "Context", jobs: "JobRunner") -> None:
    """Make `context` and `jobs` the process's."""
    with _lock:
        _installed["context"] = context
        _installed["jobs"] = jobs


def uninstall() -> None:
    """Forget them (on shutdown, and between tests)."""
    with _lock:
        _installed.clear()


def installed_context() -> "Context | None":
    """The server's context, or None outside `mmsearch serve`."""
    return _installed.get("context")  # type: ignore[return-value]


def installed_jobs() -> "JobRunner | None":
    """The server's job runner, or None outside `mmsearch serve`."""
    return _installed.get("jobs")  # type: ignore[return-value]


def make_jobs(context: "Context") -> "JobRunner":
    """A job runner indexing with `context`, its job list kept beside the database."""
    from app.server.discovery import state_path
    from app.server.indexing import run_index
    from app.server.jobs import JobRunner

    return JobRunner(
        lambda kind, paths, progress: run_index(context, kind, paths, progress),
        state_path(context.settings, "jobs.json"),
    )
