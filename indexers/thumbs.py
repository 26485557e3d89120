"""Where thumbnails live: beside a Lite `.db` (`data/thumbs/`), else under MMSEARCH_HOME."""

from __future__ import annotations

import os
from pathlib import Path

from encoders.weights import mmsearch_home
from milvus.client import is_lite


def thumbs_dir(store_uri: str) -> Path:
    override = os.environ.get("MMSEARCH_THUMBS")
    if override:
        return Path(override)
    if is_lite(store_uri):
        return Path(store_uri).parent / "thumbs"
    return mmsearch_home() / "thumbs"


def thumb_path(store_uri: str, item_id: str) -> Path:
    return thumbs_dir(store_uri) / item_id[:2] / f"{item_id}.jpg"
