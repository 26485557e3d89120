"""Encoders by id string, e.g. `get_encoder("open_clip:ViT-B-16-SigLIP/webli")`.

Instances are shared per (id, device) so a model loads once per process, and the
offline label bridge reuses the EfficientNet forward pass of the image encoder.
"""

from __future__ import annotations

import threading

from encoders.base import Encoder, EncoderError

# Ids a user is likely to want; any open_clip model/tag and sentence-transformers name works too.
KNOWN_IDS: dict[str, str] = {
    "open_clip:ViT-B-32/laion2b_s34b_b79k": "CLIP ViT-B/32 (LAION-2B), 512-d, text+image (profile full)",
    "open_clip:ViT-B-16-SigLIP/webli": "SigLIP ViT-B/16 (WebLI), 768-d, text+image",
    "torchvision:resnet50": "ResNet50 IMAGENET1K_V2, 2048-d pooled, image→image (profile full)",
    "timm:efficientnet_lite0": "EfficientNet-Lite0 ImageNet, 1280-d, image→image, offline weights (profile offline)",
    "label_bridge:efficientnet_lite0+all-MiniLM-L6-v2": "ImageNet labels × MiniLM, 384-d, offline text→image (profile offline)",
    "sentence_transformers:all-MiniLM-L6-v2": "MiniLM-L6 text, 384-d, offline weights",
    "sentence_transformers:nomic-embed-text-v1.5": "Nomic Embed v1.5 text, 768-d (Matryoshka: @256 etc.)",
    "panns:Cnn14": "PANNs CNN14 (AudioSet), 2048-d sound embeddings + 527 tags (profile full)",
    "panns_tags:Cnn14+all-MiniLM-L6-v2": "CNN14's AudioSet tags × MiniLM, 384-d, text→sound (profile full)",
    "aisfx": "aiSFX sound-effects embeddings, 512-d, offline weights, no tags (profile offline)",
    "fake:16": "deterministic hash vectors (tests only)",
}

_cache: dict[tuple[str, str], Encoder] = {}
_lock = threading.RLock()


def known_encoder_ids() -> list[str]:
    return list(KNOWN_IDS)


def get_encoder(encoder_id: str, device: str = "auto", batch_size: int | None = None) -> Encoder:
    """Build (or reuse) the encoder for an id; unknown ids list the known ones."""
    with _lock:
        key = (encoder_id, device)
        if key not in _cache:
            _cache[key] = _build(encoder_id, device)
        enc = _cache[key]
        if batch_size:
            enc.batch_size = batch_size
        return enc


def _build(encoder_id: str, device: str) -> Encoder:
    family, _, name = encoder_id.partition(":")
    if family == "fake":
        from encoders.fake import FakeEncoder

        return FakeEncoder(dim=int(name or 16))
    if family == "open_clip" and name:
        from encoders.open_clip_encoder import OpenClipEncoder

        model, _, tag = name.partition("/")
        return OpenClipEncoder(model, None if tag in ("", "random") else tag, device=device)
    if family == "torchvision" and name in ("resnet50", "resnet50/random"):
        from encoders.torchvision_encoder import TorchvisionResNet50Encoder

        return TorchvisionResNet50Encoder(pretrained=not name.endswith("/random"), device=device)
    if family == "timm" and name == "efficientnet_lite0":
        from encoders.timm_encoder import TimmEfficientNetEncoder

        return TimmEfficientNetEncoder(device=device)
    if family == "sentence_transformers" and name:
        from encoders.sentence_transformers_encoder import SentenceTransformerEncoder

        model, _, dim = name.partition("@")
        return SentenceTransformerEncoder(model, dim=int(dim) if dim else None, device=device)
    if family == "label_bridge":
        from encoders.label_bridge import LABEL_BRIDGE_ID, LabelBridgeEncoder

        if encoder_id != LABEL_BRIDGE_ID:
            raise EncoderError(f"unknown label bridge {encoder_id!r}; known: {LABEL_BRIDGE_ID}")
        return LabelBridgeEncoder(
            image_encoder=get_encoder("timm:efficientnet_lite0", device),  # type: ignore[arg-type]
            text_encoder=get_encoder("sentence_transformers:all-MiniLM-L6-v2", device),  # type: ignore[arg-type]
            device=device,
        )
    if family == "aisfx" and name in ("", "default"):
        from encoders.aisfx_encoder import AisfxEncoder

        return AisfxEncoder(device=device)
    if family == "panns" and name in ("Cnn14", "Cnn14/random"):
        from encoders.panns_encoder import PannsEncoder

        return PannsEncoder(pretrained=not name.endswith("/random"), device=device)
    if family == "panns_tags" and "+" in name:
        from encoders.panns_encoder import PannsTagBridgeEncoder

        audio, _, text = name.partition("+")
        return PannsTagBridgeEncoder(
            audio_encoder=get_encoder(f"panns:{audio}", device),  # type: ignore[arg-type]
            text_encoder=get_encoder(f"sentence_transformers:{text}", device),
            device=device,
        )
    known = "\n  ".join(f"{k}  — {v}" for k, v in KNOWN_IDS.items())
    raise EncoderError(f"unknown encoder {encoder_id!r}. Known encoders:\n  {known}")
