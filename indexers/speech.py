"""Speech as searchable text: transcribe the audio of sound and video files (Whisper) into timed
segments of the text collection, so `search text --kind doc` finds spoken words and `ask` cites them."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

from encoders.base import Encoder
from indexers.files import discover, file_digest
from indexers.progress import Progress, progress_bar
from indexers.report import IndexReport
from milvus import VectorStore

log = logging.getLogger(__name__)


def transcribe_track(path: str | Path, transcriber: Any, media: str = "video") -> list[Any]:
    """The timed speech of a file's audio track as docs.Segment objects ([] without audio or speech)."""
    from indexers.audio_io import AudioDecodeError, decode_audio, is_silent
    from indexers.docs import Segment

    try:
        audio = decode_audio(path, target_rate=16000)
    except AudioDecodeError as exc:
        log.warning("%s: no transcript (%s)", path, exc)
        return []
    if is_silent(audio.samples):
        return []
    tr = transcriber.transcribe(audio.samples)
    lang = tr.language
    return [Segment(s.start_s, s.end_s, s.text, {"media": media, "language": lang, "transcriber": transcriber.id}) for s in tr.segments]


def index_speech(
    paths: Sequence[str | Path],
    store: VectorStore,
    transcriber: Any,
    extensions: frozenset[str],
    media: str = "audio",
    text_encoder: Encoder | None = None,
    progress: Progress = True,
) -> IndexReport:
    """Transcribe the speech of every file under `paths` into timed segments of the text
    (docs) collection, so spoken words are found by `search text --kind doc` and cited by `ask`.
    A file whose transcript is stored for the same content is skipped."""

    from indexers.docs import (
        DOC_KIND,
        SEGMENT_KIND,
        index_segments,
        resolve_text_encoder_id,
    )
    from milvus import Filter

    t0 = time.perf_counter()
    report = IndexReport(kind="speech")
    files, missing = discover(paths, extensions)
    for p, reason in missing:
        report.skip(p, reason)
    if text_encoder is None:
        from encoders import get_encoder

        text_encoder = get_encoder(resolve_text_encoder_id(None, store)[0])
    coll = store.find(DOC_KIND, text_encoder.spec.id)
    for path in progress_bar(progress, len(files), "file", "transcribing speech", iterable=files):
        try:
            digest = file_digest(path)
        except OSError as exc:
            report.skip(str(path), f"cannot read file ({exc.strerror or exc})")
            continue
        if coll is not None:
            rows = coll.query(Filter.eq("source", str(path)) & Filter.eq("kind", SEGMENT_KIND), limit=1)
            if rows and (rows[0].get("meta") or {}).get("digest") == digest:
                report.unchanged += 1
                continue
        segs = transcribe_track(path, transcriber, media=media)
        for s in segs:
            s.meta["digest"] = digest
        if segs:
            index_segments(store, path, segs, encoder=text_encoder, title=path.name)
            coll = coll or store.find(DOC_KIND, text_encoder.spec.id)
            report.indexed += 1
        else:
            log.info("%s: no speech found", path)
            report.unchanged += 1
    report.seconds = time.perf_counter() - t0
    return report
