"""Models whose weights are not on this machine fail with one actionable error, never a download."""

from __future__ import annotations

import pytest

from encoders import WeightsNotFoundError, get_encoder
from encoders.profiles import resolve_profile
from encoders.weights import override_env_var
from tests.conftest import apply_env

pytestmark = pytest.mark.slow

CLIP = "open_clip:ViT-B-32/laion2b_s34b_b79k"


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
    """An empty MMSEARCH_HOME, Hugging Face cache and torch hub: nothing is cached."""
    import huggingface_hub.constants as hf_constants

    apply_env(monkeypatch, MMSEARCH_HOME=str(tmp_path / "home"))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def test_clip_weights_missing(no_weights_anywhere):
    enc = get_encoder(CLIP, "cpu")
    assert enc.spec.dim == 512  # the spec is known without weights
    assert not enc.weights_available()
    with pytest.raises(WeightsNotFoundError) as exc:
        enc.embed_queries(["a cat"])
    msg = str(exc.value)
    assert f"mmsearch models pull {CLIP}" in msg
    assert override_env_var(CLIP) in msg
    assert "\n" not in msg


def test_resnet50_weights_missing(no_weights_anywhere, test_images):
    enc = get_encoder("torchvision:resnet50", "cpu")
    assert not enc.weights_available()
    with pytest.raises(WeightsNotFoundError, match="mmsearch models pull torchvision:resnet50"):
        enc.embed_documents(test_images[:1])


def _open_clip():
    from encoders.open_clip_encoder import OpenClipEncoder

    return OpenClipEncoder("ViT-B-32", "laion2b_s34b_b79k", device="cpu")


def _resnet50():
    from encoders.torchvision_encoder import TorchvisionResNet50Encoder

    return TorchvisionResNet50Encoder(pretrained=True, device="cpu")


def _efficientnet():
    from encoders.timm_encoder import TimmEfficientNetEncoder

    return TimmEfficientNetEncoder(device="cpu")


@pytest.mark.parametrize("build, filename", [(_open_clip, "open_clip_model.safetensors"), (_resnet50, "w.pth"), (_efficientnet, "w.pth")])
def test_explicit_weights_file_that_is_not_weights(no_weights_anywhere, monkeypatch, build, filename):
    """Regression: a broken weights file used to surface as a raw SafetensorError/UnpicklingError."""
    enc = build()  # a fresh instance, not the registry's shared one
    bogus = no_weights_anywhere / filename
    bogus.write_bytes(b"not a weights file at all")
    apply_env(monkeypatch, **{override_env_var(enc.spec.id): str(bogus)})
    assert enc.weights_available()
    with pytest.raises(WeightsNotFoundError) as exc:
        enc.load()
    assert f"mmsearch models pull {enc.spec.id}" in str(exc.value)
    assert str(bogus) in str(exc.value) or "header" in str(exc.value)


def test_auto_profile_falls_back_to_offline(no_weights_anywhere):
    profile, why = resolve_profile("auto", "cpu")
    assert profile.name == "offline" and "not found" in why


def test_auto_profile_with_clip_and_resnet_but_no_panns_sounds_with_aisfx(no_weights_anywhere, monkeypatch):
    """Weights are only looked for here (files that exist), never loaded."""
    from encoders.aisfx_encoder import AISFX_ID
    from encoders.panns_encoder import PANNS_ID
    from encoders.torchvision_encoder import RESNET50_ID

    for eid in (CLIP, RESNET50_ID):
        f = no_weights_anywhere / f"{override_env_var(eid)}.bin"
        f.write_bytes(b"x")
        apply_env(monkeypatch, **{override_env_var(eid): str(f)})
    profile, why = resolve_profile("auto", "cpu")
    assert profile.name == "full" and profile.text_to_image == CLIP and profile.audio == AISFX_ID
    assert "PANNs CNN14 weights not found" in why
    panns = no_weights_anywhere / "cnn14.pth"
    panns.write_bytes(b"x")
    apply_env(monkeypatch, **{override_env_var(PANNS_ID): str(panns)})
    profile, why = resolve_profile("auto", "cpu")
    assert profile.audio == PANNS_ID and "PANNs CNN14 weights found" in why
