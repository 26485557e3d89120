"""CLIP and SigLIP (and any other open_clip model) by `open_clip:MODEL/PRETRAINED_TAG`.

Images and texts land in one shared space, so this family serves text→image,
image→image and composed queries. Tag `random` builds the architecture with random
weights (tests only: shapes, batching, pipeline).

Weights and the Hugging Face files a model needs offline are found by one lookup
(`resolve_files`, over `encoders.pull`): an explicit `MMSEARCH_WEIGHTS_<ID>` path, the project's
cache `$MMSEARCH_HOME/weights` (flat, or the Hugging Face layout `mmsearch models pull` writes),
then the default Hugging Face cache. `pull` fetches into that cache and checks it with the same
lookup, so `doctor`, `--profile auto` and `load` agree with it.

Models whose text tower is a Hugging Face model (the multilingual `xlm-roberta-base-ViT-B-32`)
need that model's `config.json`, and models with a Hugging Face tokenizer (SigLIP, the
multilingual CLIP) need its files: from a folder `hf_text` beside explicit/flat weights, or
from the hub repositories the open_clip config names (`hf_model_name`, `hf_tokenizer_name`),
pulled with the weights; never from the network at search time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import Encoder, EncoderError, EncoderSpec, WeightsNotFoundError
from encoders.pull import (
    PullError,
    download_url,
    find_hub_folder,
    find_model_file,
    pull_hub_file,
)
from encoders.weights import (
    cache_path,
    explicit_weights,
    override_env_var,
    slug,
    weights_cache_dir,
)

_HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"  # open_clip's default file name in a hub repository
_HF_SAFE_WEIGHTS_NAME = "open_clip_model.safetensors"
HF_TEXT_DIR = "hf_text"  # beside explicit/flat weights: a Hugging Face text tower's config and tokenizer
# Every file a Hugging Face tokenizer may load from; a repository holds some of them.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)
_TOKENIZER_MAIN_FILES = ("tokenizer.json", "sentencepiece.bpe.model", "spiece.model", "vocab.txt", "vocab.json")


@dataclass(frozen=True)
class OpenClipFiles:
    """Where an open_clip model's files are on this machine (None: not here, or not needed)."""

    weights: Path | None
    text_config_dir: Path | None  # a folder with the Hugging Face text tower's config.json
    tokenizer_dir: Path | None  # a folder with the Hugging Face tokenizer's files


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

    @functools.cached_property
    def image_side(self) -> int:  # type: ignore[override]
        """The vision tower's input side (224 for ViT-B-32; 256 or 384 for some SigLIPs)."""
        size = self._model_config().get("vision_cfg", {}).get("image_size", 224)
        return int(max(size) if isinstance(size, (list, tuple)) else size)

    def _text_cfg(self) -> dict[str, Any]:
        return self._model_config().get("text_cfg", {})

    def hf_text_model(self) -> str | None:
        """The Hugging Face model of the text tower (e.g. `xlm-roberta-base`); None for CLIP's own."""
        return self._text_cfg().get("hf_model_name") or None

    def hf_tokenizer_repo(self) -> str | None:
        """The hub repository of a Hugging Face tokenizer (SigLIP, multilingual CLIP); None for CLIP's BPE."""
        return self._text_cfg().get("hf_tokenizer_name") or self.hf_text_model()

    def _pretrained_cfg(self) -> dict[str, Any]:
        from open_clip import pretrained as oc_pretrained

        return oc_pretrained.get_pretrained_cfg(self.model_name, self.pretrained) or {}

    def hub_weights(self) -> tuple[str | None, tuple[str, ...]]:
        """The hub repository of the weights and the file names it may hold them under, in
        open_clip's order of preference (safetensors first); (None, (file,)) for URL-only tags."""
        cfg = self._pretrained_cfg()
        hf_hub = (cfg.get("hf_hub") or "").strip()
        if hf_hub:
            # "org/name/" names the repository; "org/name/file.bin" a file in it (as open_clip splits it)
            repo, filename = (hf_hub.strip("/"), "") if hf_hub.endswith("/") else tuple(hf_hub.rsplit("/", 1))
            filename = filename or _HF_WEIGHTS_NAME
            names = [filename]
            if filename == _HF_WEIGHTS_NAME:
                names.insert(0, _HF_SAFE_WEIGHTS_NAME)
            elif filename.endswith((".bin", ".pth")):
                names.insert(0, filename.rsplit(".", 1)[0] + ".safetensors")
            return repo, tuple(names)
        url = cfg.get("url") or ""
        return None, ((Path(url.split("?")[0]).name,) if url else (_HF_SAFE_WEIGHTS_NAME, _HF_WEIGHTS_NAME))

    def _flat_text_dir(self) -> Path:
        explicit = explicit_weights(self.spec.id)
        base = explicit if explicit is not None and explicit.is_dir() else weights_cache_dir() / slug(self.spec.id)
        return base / HF_TEXT_DIR

    def resolve_files(self) -> OpenClipFiles:
        """The one lookup of this model's files, used by `pull`, `weights_available` and `load`."""
        weights = None
        if self.pretrained != "random":
            repo, names = self.hub_weights()
            weights = find_model_file(self.spec.id, names, repo)
        flat = self._flat_text_dir()
        text_dir = tok_dir = None
        if (name := self.hf_text_model()) is not None:
            text_dir = find_hub_folder(name, ("config.json",), flat)
        if (tok := self.hf_tokenizer_repo()) is not None:
            tok_dir = find_hub_folder(tok, _TOKENIZER_MAIN_FILES, flat)
        return OpenClipFiles(weights, text_dir, tok_dir)

    def weights_available(self) -> bool:
        files = self.resolve_files()
        text_ok = self.hf_text_model() is None or files.text_config_dir is not None
        if self.pretrained == "random":  # random weights: a tokenizer is needed only for text queries
            return text_ok
        tok_ok = self.hf_tokenizer_repo() is None or files.tokenizer_dir is not None
        return text_ok and tok_ok and files.weights is not None

    def _load(self) -> None:
        import open_clip

        files = self.resolve_files()
        source: str | None
        if self.pretrained == "random":
            source, self.weights_source = None, "random init (tests only)"
        else:
            if files.weights is None:
                raise WeightsNotFoundError(self.spec.id, override_env_var(self.spec.id))
            source, self.weights_source = str(files.weights), str(files.weights)
        kwargs: dict[str, Any] = {}
        hf_name = self.hf_text_model()
        if hf_name is not None:  # the text tower's architecture comes from its local config
            if files.text_config_dir is None:
                raise WeightsNotFoundError(
                    self.spec.id, override_env_var(self.spec.id), f"the config and tokenizer of its text model {hf_name} are not on this machine"
                )
            text_dir = str(files.text_config_dir)
            text_cfg = {**self._text_cfg(), "hf_model_name": text_dir, "hf_tokenizer_name": str(files.tokenizer_dir or text_dir)}
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
            if self.hf_tokenizer_repo() is None or files.tokenizer_dir is not None:  # else (random weights): on first use
                self._text_tokenizer()
        except EncoderError:
            raise
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
        from encoders.base import (
            pil_model_input,  # numpy ToTensor + Normalize: no torch threads on a worker
            rgb,
        )

        return pil_model_input(self._preprocess, rgb(image))

    def _text_tokenizer(self) -> Any:
        """The model's tokenizer, built on the first text query (a Hugging Face one from its local folder)."""
        if self._tokenizer is None:
            import open_clip

            repo = self.hf_tokenizer_repo()
            if repo is None:
                self._tokenizer = open_clip.get_tokenizer(self.model_name)
            else:
                folder = self.resolve_files().tokenizer_dir
                if folder is None:
                    raise WeightsNotFoundError(
                        self.spec.id, override_env_var(self.spec.id), f"the tokenizer of its text model {repo} is not on this machine"
                    )
                from open_clip.tokenizer import HFTokenizer

                text_cfg = self._text_cfg()
                self._tokenizer = HFTokenizer(
                    str(folder), context_length=text_cfg.get("context_length", 77), tokenizer_mode=text_cfg.get("tokenizer_mode"), **text_cfg.get("tokenizer_kwargs", {})
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

    def pull(self) -> Path | None:
        """Download the weights and every Hugging Face file the model needs offline (its text
        tower's config, its tokenizer) into the mmsearch cache, check them, and return the
        weights file as the encoder's own lookup finds it (needs a network)."""
        if self.pretrained == "random":
            return None
        if not self._pretrained_cfg():
            raise PullError(f"open_clip has no pretrained tag {self.pretrained!r} for {self.model_name}; see open_clip.list_pretrained()")
        repo, names = self.hub_weights()
        if repo is not None:
            pull_hub_file(repo, names)
        else:  # a URL-only tag (e.g. OpenAI's): its path carries the sha256
            url = self._pretrained_cfg()["url"]
            parts = url.split("?")[0].split("/")
            sha = parts[-2] if len(parts) > 1 and len(parts[-2]) == 64 else None
            download_url(url, cache_path(self.spec.id, names[0]), sha256=sha)
        if (name := self.hf_text_model()) is not None:
            pull_hub_file(name, ("config.json",))
        if (tok := self.hf_tokenizer_repo()) is not None:
            got = [f for f in TOKENIZER_FILES if pull_hub_file(tok, (f,), optional=True) is not None]
            if not set(got) & set(_TOKENIZER_MAIN_FILES):
                raise PullError(f"{tok} holds none of the tokenizer files {', '.join(_TOKENIZER_MAIN_FILES)}")
        files = self.resolve_files()
        if files.weights is None or not self.weights_available():
            raise PullError(f"{self.spec.id} was downloaded but its files are not where mmsearch looks ({weights_cache_dir()}); is MMSEARCH_WEIGHTS_… set elsewhere?")
        if self.hf_tokenizer_repo() is not None:  # prove it loads offline now, not at the first search
            self._tokenizer = None
            try:
                self._text_tokenizer()
            except Exception as exc:
                raise PullError(f"the tokenizer of {self.spec.id} was downloaded to {files.tokenizer_dir} but does not load: {str(exc).splitlines()[0][:200]}") from None
        return files.weights
