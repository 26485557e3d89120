"""Where thumbnails live: the configured folder, else beside a Lite `.db` (`data/thumbs/`), else under
the mmsearch home."""

from __future__ import annotations

from pathlib import Path

from encoders.weights import mmsearch_home
from indexers import config
from milvus.client import is_lite


def thumbs_dir(store_uri: str) -> Path:
    """The thumbnail folder of a store."""
    override = config.current().thumbs_dir
    if override:
        return Path(override)
    if is_lite(store_uri):
        return Path(store_uri).parent / "thumbs"
    return mmsearch_home() / "thumbs"


def thumb_path(store_uri: str, item_id: str) -> Path:
    """The thumbnail file of an item."""
    return thumbs_dir(store_uri) / item_id[:2] / f"{item_id}.jpg"
