"""Shared fixtures: an isolated environment, a Milvus Lite file per test, sample photos,
a fake-encoder profile for CLI/search tests, and synthetic image files.

Environment isolation: every test session gets one MMSEARCH_HOME (a session tmp dir, shared
so the label bridge's ImageNet-label vectors are embedded once per session, not per test),
and the variables that would point mmsearch at a real database, profile, device or weights
are removed. Model hubs are forced offline before anything imports huggingface_hub.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

# Set before any test module imports huggingface_hub/transformers: they read these at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Variables that would make a test touch the user's data, models or settings.
ISOLATED_VARS = (
    "MMSEARCH_DB",
    "MILVUS_URI",
    "MILVUS_TOKEN",
    "MMSEARCH_PROFILE",
    "MMSEARCH_DEVICE",
    "MMSEARCH_THUMBS",
    "MMSEARCH_MAX_PIXELS",
    # embedding services and language models: a developer's own must not reach the tests
    "OLLAMA_HOST",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "MMSEARCH_LLM_URL",
    "MMSEARCH_LLM_API_KEY",
    "MMSEARCH_EMBED_URL",
    "MMSEARCH_EMBED_API_KEY",
    "MMSEARCH_MODELS_MIRROR",
    "HF_ENDPOINT",
)


# A full run writes a few GB of models, stores and thumbnails under the temp folder at its
# peak. When that disk fills, tests fail in ways that do not say so: say it once at the end.
LOW_DISK_BYTES = 1 << 30


def pytest_terminal_summary(terminalreporter: Any) -> None:
    import tempfile

    where = tempfile.gettempdir()
    free = shutil.disk_usage(where).free
    if free < LOW_DISK_BYTES:
        terminalreporter.write_line(
            f"only {free / 2**20:.0f} MB free on the disk holding {where}: failures above may come "
            "from a full disk, not from mmsearch (a full run needs a few GB there)",
            yellow=True,
        )


@pytest.fixture(scope="session")
def mmsearch_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's MMSEARCH_HOME (weights cache, label-vector cache, server thumbnails)."""
    return tmp_path_factory.mktemp("mmsearch_home")


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(mmsearch_home: Path):
    mp = pytest.MonkeyPatch()
    mp.setenv("MMSEARCH_HOME", str(mmsearch_home))
    empty_config = mmsearch_home / "empty-config.toml"  # a developer's ./mmsearch.toml must not leak in
    empty_config.write_text("")
    mp.setenv("MMSEARCH_CONFIG", str(empty_config))
    for name in ISOLATED_VARS:
        mp.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("MMSEARCH_WEIGHTS_"):
            mp.delenv(name)
    # Now, not only per test: module-scoped fixtures that index (and calibrate) run before the
    # first test's `_settings_applied`, and must write to this session's home too.
    from app.context import apply_settings
    from app.settings import Settings

    apply_settings(Settings.load())
    yield
    mp.undo()


def apply_env(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Set environment variables and hand the settings they make to the layers below, as a
    process started with them would (`app.context.apply_settings`)."""
    from app.context import apply_settings
    from app.settings import Settings

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    apply_settings(Settings.load())


@pytest.fixture(autouse=True)
def _settings_applied():
    """Each test starts from the settings of the (isolated) environment and may change them
    without leaking into the next (this fixture is torn down after `monkeypatch` is undone)."""
    from app.context import apply_settings
    from app.settings import Settings

    apply_settings(Settings.load())
    yield
    apply_settings(Settings.load())


# -- Milvus ------------------------------------------------------------------------------
@pytest.fixture
def tmp_db(tmp_path: Path):
    """A fresh Milvus Lite path (`tmp_path/t.db`); its client is closed at teardown."""
    from milvus.client import close

    uri = str(tmp_path / "t.db")
    yield uri
    close(uri)


@pytest.fixture
def store(tmp_db: str):
    """A VectorStore on `tmp_db`."""
    from milvus import VectorStore

    return VectorStore(tmp_db)


# -- sample data ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sample_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only session copy of the sample photos (scikit-image, plus opencv-doc's where installed)."""
    from app.demo.photos import prepare_photos

    return prepare_photos(tmp_path_factory.mktemp("sample_photos"))


@pytest.fixture
def photos_dir(tmp_path: Path, sample_photos: Path) -> Path:
    """A private, writable copy of the sample photos for one test."""
    dest = tmp_path / "photos"
    shutil.copytree(sample_photos, dest)
    return dest


# -- fake encoders in place of the real profiles --------------------------------------------
def define_profiles(monkeypatch: pytest.MonkeyPatch, folder: Path, *profiles: Any) -> Path:
    """Write `profiles` (encoders.profiles.Profile) as `[profiles.NAME]` tables of a settings
    file and point MMSEARCH_CONFIG at it, the way a user defines their own profiles."""
    import json

    def table(p: Any) -> str:
        fields = {"image_encoders": list(p.image_encoders), "text_to_image": p.text_to_image,
                  "image_to_image": p.image_to_image, "text": p.text, "audio": p.audio, "note": p.note}
        return f"[profiles.{p.name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in fields.items())

    config = folder / "mmsearch.toml"
    config.write_text("\n".join(table(p) for p in profiles))
    apply_env(monkeypatch, MMSEARCH_CONFIG=str(config))
    return config


@pytest.fixture
def fake_profile(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """"full", "offline" and "auto" defined in a settings file (MMSEARCH_CONFIG) as profiles made
    only of the `fake:16` encoder, the way a user defines their own: the CLI and the app pick
    them up through their settings, and no real model is loaded. Returns the offline one."""
    from encoders.profiles import Profile

    fake = Profile(
        "offline",
        image_encoders=("fake:16",),
        text_to_image="fake:16",
        image_to_image="fake:16",
        text="fake:16",
        note="fake encoders (tests)",
    )
    folder = tmp_path_factory.mktemp("fake_profile")
    define_profiles(monkeypatch, folder, *(dataclasses.replace(fake, name=n) for n in ("auto", "full", "offline")))
    return fake


# -- synthetic image files -----------------------------------------------------------------
def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_header_bytes(width: int, height: int) -> bytes:
    """A syntactically valid PNG that *claims* width × height (RGB) but holds almost no data:
    a decompression-bomb stand-in that costs nothing to create."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def jpeg_bytes(size=(64, 48), color=(200, 30, 30), exif_orientation: int | None = None, noise: bool = False) -> bytes:
    """A small JPEG, optionally with an EXIF orientation tag."""
    from PIL import Image

    if noise:
        img = Image.merge("RGB", [Image.effect_noise(size, 60 + 20 * i) for i in range(3)])
    else:
        img = Image.new("RGB", size, color)
    buf = io.BytesIO()
    kwargs = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    img.save(buf, "JPEG", quality=90, **kwargs)
    return buf.getvalue()


@pytest.fixture
def make_images(tmp_path: Path):
    """`make_images(n, folder=, size=)` writes `n` small PNGs into `tmp_path/folder` and returns
    the folder; every image (across folders too) has different bytes."""
    from PIL import Image

    def make(n: int = 5, folder: str = "imgs", size=(48, 40)) -> Path:
        d = tmp_path / folder
        d.mkdir(parents=True, exist_ok=True)
        salt = zlib.crc32(folder.encode())
        for i in range(n):
            img = Image.new("RGB", size, ((i * 53) % 256, (i * 97) % 256, (i * 31 + 7) % 256))
            img.putpixel((i % size[0], 0), (255, 255, 255))  # distinct bytes even for equal colours
            img.putpixel((0, size[1] - 1), (salt & 255, (salt >> 8) & 255, (salt >> 16) & 255))
            img.save(d / f"img_{i:02d}.png")
        return d

    return make


@pytest.fixture
def png_header():
    """`png_header(w, h)` → bytes of a PNG that claims w × h pixels (see `png_header_bytes`)."""
    return png_header_bytes


@pytest.fixture
def make_jpeg():
    """`make_jpeg(size=, color=, exif_orientation=, noise=)` → JPEG bytes (see `jpeg_bytes`)."""
    return jpeg_bytes
