"""The models a library uses, recorded in its database, and switching them safely.

The record (`indexers.model_record`) holds the encoder the user chose per profile field and
the choice being filled. The profile is the starting point; recorded choices win over it;
an `--encoder` flag wins once.

A switch never mixes vector spaces: a new model means new collections (one per (kind,
encoder)). `switch` records the choice as pending, fills the new collections from the
sources stored in the old ones (`indexers.reembed`, resumable), then cuts over in one
write of the record (and, on a server, points an alias per kind at the new collection).
Search answers from the old collections until that write. `prunable` lists the
collections no active or pending choice uses; `prune` drops them.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

from encoders import get_encoder
from encoders.base import Encoder, EncoderError
from encoders.profiles import PROFILES, Profile, apply_choices, choice_fields, choice_kind, sound_encoders
from indexers.model_record import read_choices, write_choices
from indexers.progress import Progress
from indexers.reembed import fill
from indexers.report import IndexReport
from milvus import VectorStore
from milvus.records import RECORDS, drop_aliases_of, point_alias
from milvus.store import CollectionInfo, collection_name

log = logging.getLogger(__name__)

#: The collection kinds each profile field's model answers for, each with the field that gives
#: that kind a model of its own ("": none can): the catalogue and video frames follow the photo
#: models until they have their own.
SERVED_KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "image_to_image": (("image", ""), ("product", "catalogue")),
    "text_to_image": (("image", ""), ("product", "catalogue_text"), ("video", "video")),
    "catalogue": (("product", ""),),
    "catalogue_text": (("product", ""),),
    "video": (("video", ""),),
    "audio": (("audio", ""),),
    "audio_text": (("audio", ""),),
    "documents": (("doc", ""),),
}


def served_kinds(fields: dict[str, str], active: dict[str, str]) -> list[tuple[str, str]]:
    """(collection kind, field) pairs the models in `fields` answer for, given the `active`
    choices (a kind with a model of its own no longer follows the photo models)."""
    return [(kind, f) for f in fields for kind, own in SERVED_KINDS[f] if not own or not active.get(own)]


@dataclass
class SwitchReport:
    """What a switch did: the fields it set, each collection kind's fill, and whether it cut over."""

    kind: str
    encoder_id: str
    fields: dict[str, str]
    fills: list[IndexReport] = field(default_factory=list)
    cut_over: bool = False
    aliases: list[str] = field(default_factory=list)

    @property
    def indexed(self) -> int:
        return sum(r.indexed for r in self.fills)

    @property
    def unchanged(self) -> int:
        return sum(r.unchanged for r in self.fills)

    @property
    def failed(self) -> list[tuple[str, str]]:
        return [f for r in self.fills for f in r.failed]

    @property
    def ok(self) -> bool:
        return self.cut_over

    def summary(self) -> str:
        """A few lines for the terminal and the job list."""
        lines = [f"{self.kind}: {self.encoder_id} " + ("is active now" if self.cut_over else "recorded (pending; not filled yet)")]
        for r in self.fills:
            if not (r.indexed or r.unchanged or r.failed):
                continue  # nothing of this kind is stored
            lines.append(f"  {r.kind}: {r.indexed} filled, {r.unchanged} already there" + (f", {len(r.failed)} skipped" if r.failed else ""))
        for path, reason in self.failed[:20]:
            lines.append(f"  skipped {path}: {reason}")
        if self.aliases:
            lines.append("  aliases: " + ", ".join(self.aliases))
        return "\n".join(lines)


def encoders_for(kind: str, encoder: Encoder, effective: Profile, device: str = "auto") -> list[Encoder]:
    """What a switch of `kind` to `encoder` fills, under the `effective` profile (recorded choices
    laid over it): the encoder; for sounds also its tag bridge; for the sounds' tag text model,
    the sound model's bridge to it alone."""
    if kind == "sounds":
        return sound_encoders(dataclasses.replace(effective, audio=encoder.spec.id), device)
    if kind == "sounds-text":
        if not effective.audio:
            raise EncoderError("choose a sound model first (`mmsearch models use sounds panns:Cnn14`)")
        bridge = get_encoder(effective.audio, device).text_bridge(encoder.spec.id)
        if bridge is None:
            raise EncoderError(f"{effective.audio} stores no tags to match words against; words → sounds needs PANNs (panns:Cnn14)")
        return [bridge]
    return [encoder]


def switch(
    store: VectorStore,
    kind: str,
    encoder_id: str,
    device: str = "auto",
    progress: Progress = True,
    fill_now: bool = True,
    profile: Profile | None = None,
) -> SwitchReport:
    """Choose `encoder_id` for `kind`: record it as pending, fill its collections from the stored
    sources, then make it active. `fill_now=False` makes it active at once without filling
    (the next `mmsearch index …` fills it). A rerun after a kill resumes the fill. `profile` is
    the library's starting profile (the sounds' tag bridge depends on its sound and text models)."""
    kind = choice_kind(kind)
    encoder = get_encoder(encoder_id, device)
    if not encoder.spec.dim:
        encoder.load()  # models unknown to the registry learn their dim on load
    fields = choice_fields(kind, encoder.spec)
    report = SwitchReport(kind, encoder.spec.id, fields)
    choices = read_choices(store)
    effective = apply_choices(profile or PROFILES["offline"], choices.active)
    encoders = encoders_for(kind, encoder, effective, device)  # refuses a tag model without a sound model that has tags
    if fill_now:
        if not encoder.weights_available():
            encoder.load()  # the one-sentence "weights not found" before anything is recorded
        served = dict.fromkeys(k for k, _ in served_kinds(fields, choices.active))
        choices.pending, choices.pending_kind = dict(fields), kind
        write_choices(store, choices)
        for coll_kind in served:
            report.fills.append(fill(store, coll_kind, encoders, progress=progress))
    cut_over(store, fields, report)
    return report


def cut_over(store: VectorStore, fields: dict[str, str], report: SwitchReport | None = None) -> None:
    """Make `fields` the active choices in one write; on a server, point an alias per filled
    collection kind (`active__KIND__FIELD`) at the new collection, for other Milvus clients."""
    choices = read_choices(store)
    served = served_kinds(fields, choices.active)
    choices.active.update(fields)
    choices.pending, choices.pending_kind = {}, ""
    write_choices(store, choices)
    names = {c.name for c in store.list_collections()}
    for coll_kind, f in served:
        target = collection_name(coll_kind, fields[f])
        if target in names:
            alias = f"active__{coll_kind}__{f}"
            try:
                if point_alias(store, alias, target) and report is not None:
                    report.aliases.append(f"{alias} → {target}")
            except Exception as exc:  # the record is the pointer; an alias is a courtesy to other clients
                log.warning("could not point alias %s at %s: %s", alias, target, exc)
    if report is not None:
        report.cut_over = True


def in_use(store: VectorStore, profile: Profile, text_encoder_id: str, device: str = "auto") -> set[str]:
    """Names of the collections the effective profile (recorded choices laid over it), the text
    encoder and any pending choice use."""
    choices = read_choices(store)
    effective = apply_choices(profile, choices.active)
    pending = apply_choices(effective, choices.pending)
    used: set[str] = set()
    for p in (effective, pending):
        for kind in ("image", "product"):
            used.update(collection_name(kind, eid) for eid in {*p.fills(kind), p.image_model(kind), p.words_model(kind)})
        used.update(collection_name("video", eid) for eid in p.fills("video"))  # frames answer words only
        if p.audio:
            used.add(collection_name("audio", p.audio))
            bridge = _bridge_id(p.audio, p.sound_tags_text, device)
            if bridge:
                used.add(collection_name("audio", bridge))
    for eid in {text_encoder_id, choices.pending.get("documents", "")} - {""}:
        used.add(collection_name("doc", eid))
    return used


def _bridge_id(audio_id: str, text_id: str, device: str) -> str | None:
    try:
        bridge = get_encoder(audio_id, device).text_bridge(text_id)
    except Exception:  # an encoder that cannot be built has no bridge to keep
        return None
    return bridge.spec.id if bridge is not None else None


def prunable(store: VectorStore, profile: Profile, text_encoder_id: str, device: str = "auto") -> list[CollectionInfo]:
    """Collections no active or pending choice uses (what `mmsearch models prune` drops)."""
    used = in_use(store, profile, text_encoder_id, device)
    return [c for c in store.list_collections() if c.name not in used and c.name != RECORDS]


def prune(store: VectorStore, infos: list[CollectionInfo]) -> None:
    """Drop these collections (and their aliases)."""
    for info in infos:
        drop_aliases_of(store, info.name)
        store.drop(info.kind, info.encoder)
        log.info("dropped %s (%s, %d rows)", info.name, info.encoder, info.count)
