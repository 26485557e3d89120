"""Integration fixtures: a tiny open_clip architecture, real offline models loaded once."""

from __future__ import annotations

import json

import pytest

TINY_CLIP_NAME = "mmsearch-tiny-test-clip"
TINY_CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="session")
def tiny_clip_id(tmp_path_factory) -> str:
    """Registers a tiny open_clip architecture (64-d, 2 layers) and returns its random-weight
    encoder id, so the open_clip code path runs in milliseconds."""
    import open_clip

    path = tmp_path_factory.mktemp("open_clip_cfg") / f"{TINY_CLIP_NAME}.json"
    path.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(path)
    assert open_clip.get_model_config(TINY_CLIP_NAME) is not None
    return f"open_clip:{TINY_CLIP_NAME}/random"


@pytest.fixture(scope="session")
def test_images():
    """Six different small RGB photos-like images (noise + colour blocks), as PIL images."""
    from PIL import Image, ImageDraw

    out = []
    for i in range(6):
        img = Image.merge("RGB", [Image.effect_noise((96, 80), 30 + 10 * c + 5 * i) for c in range(3)])
        ImageDraw.Draw(img).rectangle([10 * i, 5, 10 * i + 30, 40], fill=(40 * i, 255 - 40 * i, 120))
        out.append(img)
    return out
