"""Speech options shared by `index audio --speech` and `index video`: transcribing files into
the text collection."""

from __future__ import annotations

import argparse

from app.cli.common import context, err


def transcribe_audio_files(args: argparse.Namespace, store, report) -> None:
    """`index audio --speech`: transcribe the files too; failures join the audio report."""
    from encoders import get_encoder
    from indexers.audio_io import audio_extensions
    from indexers.speech import index_speech

    ctx = context(args)
    transcriber = ctx.transcriber(getattr(args, "transcriber", None))
    text_encoder = get_encoder(ctx.text_encoder_choice()[0], args.device)
    speech = index_speech(args.paths, store, transcriber, audio_extensions(), text_encoder=text_encoder, progress=not args.quiet)
    known = {p for p, _ in report.failed}
    report.failed.extend((p, r) for p, r in speech.failed if p not in known)
    err(f"mmsearch: speech: {speech.indexed} transcribed, {speech.unchanged} unchanged or without speech")
