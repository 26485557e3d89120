"""CLIP and SigLIP (and any other open_clip model) by `open_clip:MODEL/PRETRAINED_TAG`.

Images and texts land in one shared space, so this family serves text→image,
image→image and composed queries. Tag `random` builds the architecture with random
weights (tests only: shapes, batching, pipeline).

Models whose text tower is a Hugging Face model (the multilingual
`xlm-roberta-base-ViT-B-32`) also need that model's config and tokenizer: they load from a
folder `hf_text` beside the weights (`mmsearch models pull` fills it) or from the Hugging Face
cache, never from the network at search time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import Encoder, EncoderError, EncoderSpec, WeightsNotFoundError
from encoders.weights import cache_path, local_weights, override_env_var

_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
HF_TEXT_DIR = "hf_text"  # beside the weights: a Hugging Face text tower's config and tokenizer
_HF_TEXT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model", "special_tokens_map.json")
_HF_TOKENIZER_FILES = ("tokenizer.json", "sentencepiece.bpe.model", "vocab.txt", "spiece.model")


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

    def _model_config(self) -> dict[str, Any]:
        import open_clip

        cfg = open_clip.get_model_config(self.model_name)
        if cfg is None:
            raise EncoderError(f"unknown open_clip model {self.model_name!r}; see open_clip.list_models()")
        return cfg

    def _embed_dim(self) -> int:
        return int(self._model_config()["embed_dim"])

    def hf_text_model(self) -> str | None:
        """The Hugging Face model of the text tower (e.g. `xlm-roberta-base`); None for CLIP's own."""
        return self._model_config().get("text_cfg", {}).get("hf_model_name") or None

    def _hf_text_source(self, need_tokenizer: bool = True) -> str | None:
        """A local folder with the text tower's config (and tokenizer): `hf_text` beside the
        weights, else the Hugging Face cache's snapshot; None when it is not on this machine."""
        name = self.hf_text_model()
        if name is None:
            return None
        candidates = [local_weights(self.spec.id, HF_TEXT_DIR)]
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(name, "config.json")
        if isinstance(hit, str):
            candidates.append(Path(hit).parent)
        for folder in candidates:
            if folder is None or not (folder / "config.json").is_file():
                continue
            if not need_tokenizer or any((folder / f).is_file() for f in _HF_TOKENIZER_FILES):
                return str(folder)
        return None

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
        text_ok = self.hf_text_model() is None or self._hf_text_source(need_tokenizer=self.pretrained != "random") is not None
        if self.pretrained == "random":
            return text_ok
        return text_ok and (self._local_file() is not None or self._hf_cached_file() is not None)

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
        kwargs: dict[str, Any] = {}
        hf_name = self.hf_text_model()
        if hf_name is not None:  # the text tower's architecture comes from its local config
            hf_source = self._hf_text_source(need_tokenizer=False)
            if hf_source is None:
                raise WeightsNotFoundError(
                    self.spec.id, override_env_var(self.spec.id), f"the config and tokenizer of its text model {hf_name} are not on this machine"
                )
            text_cfg = {**self._model_config()["text_cfg"], "hf_model_name": hf_source, "hf_tokenizer_name": hf_source}
            text_cfg["hf_model_pretrained"] = False  # the CLIP checkpoint holds the text weights (or random)
            kwargs = {"text_cfg": text_cfg}
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                self.model_name,
                pretrained=source,
                device=self.device,
                precision="fp16" if self.device == "cuda" else "fp32",
                **kwargs,
            )
            if hf_name is None or self._hf_text_source() is not None:  # else (random weights): on first use
                self._text_tokenizer()
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

    def _text_tokenizer(self) -> Any:
        """The model's tokenizer, built on the first text query (a Hugging Face one from its local folder)."""
        if self._tokenizer is None:
            import open_clip

            if self.hf_text_model() is None:
                self._tokenizer = open_clip.get_tokenizer(self.model_name)
            else:
                source = self._hf_text_source()
                if source is None:
                    raise WeightsNotFoundError(
                        self.spec.id, override_env_var(self.spec.id), f"the tokenizer of its text model {self.hf_text_model()} is not on this machine"
                    )
                from open_clip.tokenizer import HFTokenizer

                text_cfg = self._model_config()["text_cfg"]
                self._tokenizer = HFTokenizer(
                    source, context_length=text_cfg.get("context_length", 77), tokenizer_mode=text_cfg.get("tokenizer_mode"), **text_cfg.get("tokenizer_kwargs", {})
                )
        return self._tokenizer

    def _texts(self, texts: list[str]) -> np.ndarray:
        import torch

        tokens = self._text_tokenizer()(texts).to(self.device)
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
        hf_name = self.hf_text_model()
        if hf_name is not None:  # the text tower's config and tokenizer, so it loads offline
            from huggingface_hub import snapshot_download

            snapshot_download(hf_name, allow_patterns=list(_HF_TEXT_FILES), local_dir=str(target / HF_TEXT_DIR))
        return Path(oc_pretrained.download_pretrained(cfg, cache_dir=str(target)))
