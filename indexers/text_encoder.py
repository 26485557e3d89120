"""Which text encoder embeds documents, transcripts and text queries over them: one policy,
used by the indexers and by search alike."""

from __future__ import annotations

import logging

from milvus import VectorStore

log = logging.getLogger(__name__)

DOC_KIND = "doc"  # the collection kind of document chunks and transcript segments
DEFAULT_TEXT_ENCODER = "sentence_transformers:all-MiniLM-L6-v2"  # packaged, works offline
ONLINE_TEXT_ENCODER = "sentence_transformers:nomic-embed-text-v1.5"  # used when its weights are on this machine


def resolve_text_encoder_id(
    explicit: str | None = None, store: VectorStore | None = None, device: str = "auto", configured: str | None = None
) -> tuple[str, str]:
    """The text encoder id and why: `explicit` (a flag) → the choice recorded in the database
    (`mmsearch models use text ID`) → `configured` (the settings' `text_encoder`,
    MMSEARCH_TEXT_ENCODER) → the encoder of the store's fullest doc collection →
    nomic-embed-text-v1.5 if its weights are here → MiniLM."""
    if explicit:
        return explicit, "chosen explicitly"
    if store is not None and (recorded := recorded_text_encoder(store)):
        return recorded, "chosen with `mmsearch models use text`"
    if configured:
        return configured, "from MMSEARCH_TEXT_ENCODER"
    if store is not None:
        docs = [c for c in store.list_collections() if c.kind == DOC_KIND]
        if docs:
            best = max(docs, key=lambda c: c.count)
            return best.encoder, f"the encoder of the existing collection {best.name}"
    from encoders import get_encoder

    try:
        if get_encoder(ONLINE_TEXT_ENCODER, device).weights_available():
            return ONLINE_TEXT_ENCODER, "its weights are on this machine"
    except Exception:  # a broken hub cache must not stop the offline default
        log.debug("checking %s failed", ONLINE_TEXT_ENCODER, exc_info=True)
    return DEFAULT_TEXT_ENCODER, "offline default (nomic-embed-text-v1.5 weights not found)"


def recorded_text_encoder(store: VectorStore) -> str | None:
    """The text encoder recorded in the database (`mmsearch models use text ID`), if any."""
    from indexers.model_record import read_choices
    from milvus import StoreError

    try:
        return read_choices(store).active.get("documents")
    except StoreError as exc:  # an unreadable record must not stop search: say so, use the rest of the order
        log.warning("the recorded model choices could not be read: %s", exc)
        return None
