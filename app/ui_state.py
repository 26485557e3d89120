"""Process-wide resources for the Streamlit app: one store, one profile, one engine.

`@st.cache_resource` keeps them across reruns and sessions, so models load once and the
Milvus Lite file is opened once per server process.
"""

from __future__ import annotations

import os

import streamlit as st

from app.search import SearchEngine
from encoders.profiles import Profile, resolve_profile
from milvus import VectorStore
from milvus.store import default_uri


def db_uri() -> str:
    return os.environ.get("MMSEARCH_DB") or default_uri()


def device() -> str:
    return os.environ.get("MMSEARCH_DEVICE", "auto")


@st.cache_resource(show_spinner="Opening the database…")
def get_store() -> VectorStore:
    return VectorStore(db_uri())


@st.cache_resource(show_spinner=False)
def _profile_and_reason() -> tuple[Profile, str]:
    return resolve_profile(os.environ.get("MMSEARCH_PROFILE"), device())


def get_profile() -> Profile:
    return _profile_and_reason()[0]


def profile_reason() -> str:
    return _profile_and_reason()[1]


@st.cache_resource(show_spinner="Loading models…")
def get_engine() -> SearchEngine:
    return SearchEngine(get_store(), get_profile(), device())
