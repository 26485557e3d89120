"""ResNet50 from torchvision (IMAGENET1K_V2), its 2048-d pooled features.

Weights (`resnet50-11ad3fa6.pth`, a direct URL whose name carries a sha256 prefix) are found
by one lookup (`_weights_file`): `MMSEARCH_WEIGHTS_TORCHVISION_RESNET50`, the mmsearch cache
(`mmsearch models pull torchvision:resnet50`, which honours `MMSEARCH_MODELS_MIRROR`), then
torch hub's own cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import Encoder, EncoderSpec, WeightsNotFoundError
from encoders.ids import RESNET50_ID
from encoders.pull import download_url, find_model_file, sha256_prefix_of
from encoders.weights import cache_path, explicit_weights, override_env_var


class TorchvisionResNet50Encoder(Encoder):
    """Image→image with a CNN: global-average-pooled ResNet50 features."""

    cpu_batch_size = 16
    channels_last = True
    freezes_on_cpu = True

    def __init__(self, pretrained: bool = True, device: str = "auto", batch_size: int | None = None) -> None:
        super().__init__(device=device, batch_size=batch_size)
        self.pretrained = pretrained
        self.spec = EncoderSpec(
            id=RESNET50_ID if pretrained else RESNET50_ID + "/random",
            dim=2048,
            document_kinds=("image",),
            query_kinds=("image",),
            description="torchvision ResNet50 IMAGENET1K_V2, pooled",
        )
        self.prepare_key = self.spec.id
        self._model = None
        self._transform = None

    @staticmethod
    def _weights_enum():
        from torchvision.models import ResNet50_Weights

        return ResNet50_Weights.IMAGENET1K_V2

    def _weights_file(self) -> Path | None:
        w = self._weights_enum()
        name = Path(w.url).name
        local = find_model_file(RESNET50_ID, (name,))
        if local is not None or explicit_weights(RESNET50_ID) is not None:
            return local
        import torch

        hub = Path(torch.hub.get_dir()) / "checkpoints" / name
        return hub if hub.exists() else None

    def weights_available(self) -> bool:
        return not self.pretrained or self._weights_file() is not None

    def _load(self) -> None:
        import torch
        from torchvision.models import resnet50

        weights = self._weights_enum()
        model = resnet50(weights=None)
        if self.pretrained:
            path = self._weights_file()
            if path is None:
                raise WeightsNotFoundError(RESNET50_ID, override_env_var(RESNET50_ID))
            try:
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            except Exception as exc:  # not a checkpoint, or not ResNet50's
                raise WeightsNotFoundError(RESNET50_ID, override_env_var(RESNET50_ID), f"{path}: {str(exc).splitlines()[0][:200]}") from exc
            self.weights_source = str(path)
        else:
            self.weights_source = "random init (tests only)"
        model.fc = torch.nn.Identity()  # keep the pooled 2048-d features
        self._model = self._place_model(model)
        self._use_forward(self._model)
        self._transform = weights.transforms()

    def _input_tensor(self, image: Any) -> Any:
        # the uint8 pixels only: the tensor resize starts torch's intra-op threads, which must not
        # run on a decode worker beside the model's (`_finish_input` does it on the model's thread)
        from torchvision.transforms.functional import pil_to_tensor

        from encoders.base import rgb

        return pil_to_tensor(rgb(image))

    def _finish_input(self, tensor: Any) -> Any:
        return self._transform(tensor)

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        import torch

        x = self._to_device(self._stack_inputs(items))
        with torch.inference_mode(), self._autocast():
            return self._forward(x).float().cpu().numpy()

    def pull(self) -> Path | None:
        """Download the weights into the mmsearch cache (or its mirror), checking the sha256
        prefix in the file name; the same lookup as `load` then finds them (needs a network)."""
        if not self.pretrained:
            return None
        url = self._weights_enum().url
        name = Path(url).name
        download_url(url, cache_path(RESNET50_ID, name), sha256_prefix=sha256_prefix_of(name))
        path = self._weights_file()
        if path is None:
            raise WeightsNotFoundError(RESNET50_ID, override_env_var(RESNET50_ID), "downloaded, but not where mmsearch looks")
        return path
