"""CLIP and SigLIP (and any other open_clip model) by `open_clip:MODEL/PRETRAINED_TAG`.

Images and texts land in one shared space, so this family serves text→image,
image→image and composed queries. Tag `random` builds the architecture with random
weights (tests only: shapes, batching, pipeline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import Encoder, EncoderError, EncoderSpec, WeightsNotFoundError
from encoders.weights import cache_path, local_weights, override_env_var

_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


class OpenClipEncoder(Encoder):
    """An open_clip model: `embed_documents(images)`, `embed_queries(texts or images)`."""

    def __init__(self, model: str = "ViT-B-32", pretrained: str | None = "laion2b_s34b_b79k", device: str = "auto", batch_size: int | None = None) -> None:
        super().__init__(device=device, batch_size=batch_size)
        self.model_name = model
        self.pretrained = pretrained or "random"
        self.spec = EncoderSpec(
            id=f"open_clip:{model}/{self.pretrained}",
            dim=self._embed_dim(),
            document_kinds=("image",),
            query_kinds=("text", "image"),
            description=f"open_clip {model} ({self.pretrained})",
            extra={"shared_text_image_space": True},
        )
        self.prepare_key = self.spec.id
        self._model = None
        self._preprocess = None
        self._tokenizer = None

    def _embed_dim(self) -> int:
        import open_clip

        cfg = open_clip.get_model_config(self.model_name)
        if cfg is None:
            raise EncoderError(f"unknown open_clip model {self.model_name!r}; see open_clip.list_models()")
        return int(cfg["embed_dim"])

    # -- weights ---------------------------------------------------------------
    def _local_file(self) -> Path | None:
        for name in _WEIGHT_FILES:
            p = local_weights(self.spec.id, name)
            if p is not None:
                return p
        return None

    def _hf_cached_file(self) -> str | None:
        from open_clip import pretrained as oc_pretrained

        cfg = oc_pretrained.get_pretrained_cfg(self.model_name, self.pretrained)
        repo = (cfg or {}).get("hf_hub", "").strip("/")
        if not repo:
            return None
        from huggingface_hub import try_to_load_from_cache

        for name in _WEIGHT_FILES:
            hit = try_to_load_from_cache(repo, name)
            if isinstance(hit, str):
                return hit
        return None

    def weights_available(self) -> bool:
        if self.pretrained == "random":
            return True
        return self._local_file() is not None or self._hf_cached_file() is not None

    def _load(self) -> None:
        import open_clip

        source: str | None
        if self.pretrained == "random":
            source, self.weights_source = None, "random init (tests only)"
        else:
            local = self._local_file() or self._hf_cached_file()
            if local is None:
                raise WeightsNotFoundError(self.spec.id, override_env_var(self.spec.id))
            source, self.weights_source = str(local), str(local)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                self.model_name,
                pretrained=source,
                device=self.device,
                precision="fp16" if self.device == "cuda" else "fp32",
            )
            self._tokenizer = open_clip.get_tokenizer(self.model_name)
        except Exception as exc:  # unreadable or wrong weights raise many types (e.g. SafetensorError)
            raise WeightsNotFoundError(self.spec.id, override_env_var(self.spec.id), str(exc).splitlines()[0][:200]) from exc
        self._model = model.eval()
        self._preprocess = preprocess

    # -- embedding -------------------------------------------------------------
    def _images(self, images: list[Any]) -> np.ndarray:
        import torch

        x = self._to_device(self._stack_inputs(images))
        if self.device == "cuda":  # the model itself is loaded in fp16 there
            x = x.half()
        with torch.inference_mode():
            return self._model.encode_image(x).float().cpu().numpy()

    def _input_tensor(self, image: Any) -> Any:
        return self._preprocess(image.convert("RGB"))

    def _texts(self, texts: list[str]) -> np.ndarray:
        import torch

        tokens = self._tokenizer(texts).to(self.device)
        with torch.inference_mode():
            return self._model.encode_text(tokens).float().cpu().numpy()

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        return self._images(items)

    def _embed_queries_batch(self, items: list[Any]) -> np.ndarray:
        if all(isinstance(t, str) for t in items):
            return self._texts(items)
        if any(isinstance(t, str) for t in items):
            raise EncoderError("a query batch must be all texts or all images")
        return self._images(items)

    def pull(self) -> Path:
        """Download the weights into the mmsearch cache (needs a network)."""
        from open_clip import pretrained as oc_pretrained

        cfg = oc_pretrained.get_pretrained_cfg(self.model_name, self.pretrained)
        if not cfg:
            raise EncoderError(f"open_clip has no pretrained tag {self.pretrained!r} for {self.model_name}")
        target = cache_path(self.spec.id, "x").parent
        target.mkdir(parents=True, exist_ok=True)
        return Path(oc_pretrained.download_pretrained(cfg, cache_dir=str(target)))
