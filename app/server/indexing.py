"""One index run of a kind (images, audio, video, docs, catalogue) with the context's models,
as `mmsearch index KIND` runs it with default options."""

from __future__ import annotations

from pathlib import Path
from app.context import Context
from app.errors import QueryError
from indexers.progress import Progress
from indexers.report import IndexReport


def run_index(ctx: Context, kind: str, paths: list[str], progress: Progress = False) -> IndexReport:
    """Index `paths` as `kind` into the context's store; bad files are skipped and reported."""
    from encoders import get_encoder

    device = ctx.device
    store = ctx.store
    profile = ctx.profile
    coll_kind = {"images": "image", "catalogue": "product", "video": "video"}.get(kind)
    image_encoders = [get_encoder(e, device) for e in profile.fills(coll_kind)] if coll_kind else []
    for enc in image_encoders:
        enc.load()  # here, not in the indexer's decoding threads: one thread imports torch's modules
    if kind == "images":
        from indexers.images import index_images

        return index_images(paths, store, image_encoders, progress=progress)
    if kind == "catalogue":
        from indexers.catalogue import index_catalogue

        reports = [index_catalogue(Path(path), store, image_encoders, progress=progress) for path in paths]
        if len(reports) == 1:
            return reports[0]
        total = IndexReport("product")
        for part in reports:
            total = merge(total, part)
        return total
    if kind == "audio":
        from indexers.audio import index_audio

        if not profile.audio:
            raise QueryError(f"the profile {profile.name} names no sound encoder")
        from encoders.profiles import sound_encoders

        # the sound model and its tag bridge (words → sounds), as `mmsearch index audio` fills them
        return index_audio(paths, store, [enc.load() for enc in sound_encoders(profile, device)], progress=progress)
    if kind == "video":
        from indexers.video import index_video

        text_encoder = get_encoder(ctx.text_encoder_choice()[0], device)
        return index_video(paths, store, image_encoders, transcriber=ctx.transcriber(), text_encoder=text_encoder, progress=progress)
    if kind == "models":  # a model switch (the Status page): paths = [KIND, ID]; fill, cut over, reload
        from indexers.library_models import switch

        choice_kind, encoder_id = paths
        report = switch(store, choice_kind, encoder_id, device, progress=progress, profile=profile)
        ctx.refresh_models()
        return report
    if kind == "docs":
        from indexers.docs import index_docs

        return index_docs(paths, store, get_encoder(ctx.text_encoder_choice()[0], device), progress=progress)
    raise QueryError(f"unknown kind {kind!r}")


def merge(a: IndexReport, b: IndexReport) -> IndexReport:
    """Two reports of the same kind added up."""
    return IndexReport(
        b.kind, a.indexed + b.indexed, a.unchanged + b.unchanged, [*a.failed, *b.failed],
        a.seconds + b.seconds, sorted({*a.collections, *b.collections}),
    )
