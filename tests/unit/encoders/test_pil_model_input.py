"""Model inputs made in numpy on the decode workers equal the library transforms bit for bit."""

from __future__ import annotations

import pytest

from encoders.base import pil_model_input

torch = pytest.importorskip("torch")


def _photos():
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 640 * 480 * 3).reshape(480, 640, 3).astype(np.uint8)
    noise = rng.integers(0, 256, (300, 517, 3), dtype=np.uint8)
    return [Image.fromarray(smooth), Image.fromarray(noise), Image.new("RGB", (90, 40), (3, 200, 17))]


def _open_clip_transform():
    open_clip = pytest.importorskip("open_clip")
    return open_clip.image_transform(224, is_train=False, mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711))


def _timm_transform():
    timm = pytest.importorskip("timm")
    return timm.data.create_transform(input_size=(3, 224, 224), interpolation="bicubic", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), crop_pct=0.875)


@pytest.mark.parametrize("make", [_open_clip_transform, _timm_transform])
def test_numpy_input_equals_the_transform(make) -> None:
    transform = make()
    for img in _photos():
        expected = transform(img)
        got = pil_model_input(transform, img)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert torch.equal(got, expected)


def test_other_transforms_and_modes_are_applied_as_they_are() -> None:
    from PIL import Image

    calls = []

    def transform(img):
        calls.append(img.mode)
        return torch.zeros(1)

    assert torch.equal(pil_model_input(transform, Image.new("RGB", (8, 8))), torch.zeros(1))
    tv = _open_clip_transform()
    grey = Image.new("L", (64, 64), 7)
    assert torch.equal(pil_model_input(tv, grey), tv(grey))
    assert calls == ["RGB"]
