"""Process-wide resources for the Streamlit app: one `Context` (settings, store, profile, engine).

`@st.cache_resource` keeps it across reruns and sessions, so models load once and the Milvus
Lite file is opened once per server process. Under `mmsearch serve` the pages share the
server's context and job runner (`app.server.runtime`) with the API.
"""

from __future__ import annotations

import streamlit as st

from app.context import Context
from app.search.engine import SearchEngine
from app.server import runtime
from app.server.jobs import JobRunner
from app.settings import Settings
from encoders.profiles import Profile
from milvus import VectorStore


@st.cache_resource(show_spinner=False)
def get_context() -> Context:
    """The app's one context: the server's (`mmsearch serve`), else one from the environment
    and mmsearch.toml (`streamlit run`, tests)."""
    return runtime.installed_context() or Context(Settings.load())


@st.cache_resource(show_spinner=False)
def get_jobs() -> JobRunner:
    """The background index jobs: the server's, else a runner of this process's own."""
    return runtime.installed_jobs() or runtime.make_jobs(get_context())


def settings() -> Settings:
    """The effective settings."""
    return get_context().settings


def db_uri() -> str:
    """The database the app serves."""
    return settings().db


def device() -> str:
    """auto, cpu, cuda or mps."""
    return settings().device


@st.cache_resource(show_spinner="Opening the database…")
def get_store() -> VectorStore:
    """The vector store (opened once per server process)."""
    return get_context().store


def get_profile() -> Profile:
    """The model profile."""
    return get_context().profile


def profile_reason() -> str:
    """Why this profile (shown in the sidebar)."""
    return get_context().profile_reason


@st.cache_resource(show_spinner="Loading models…")
def get_engine() -> SearchEngine:
    """The search engine (models load on first use)."""
    get_store()  # opened under its own spinner
    return get_context().engine
