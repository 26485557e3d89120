"""CLI commands for sounds.

- `mmsearch index audio PATH...` — wav, flac, ogg/oga/opus, mp3, aiff (m4a/aac with PyAV),
  cut into windows (default 10 s every 5 s) so that a hit points at a time span.
- `mmsearch search audio FILE [--json]` — the most similar windows, with `start_s`/`end_s`.
- `mmsearch search text "dog barking" --kind audio` goes through `SearchEngine.search_text`
  (PANNs tags; the offline aiSFX encoder has none and says so).
"""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.common import (
    CliError,
    choose_profile,
    existing_file,
    finish_report,
    index_through_server,
    make_engine,
    number_between,
    open_store,
    print_good_hits,
)


def register(index_sub, search_sub, common: argparse.ArgumentParser) -> None:
    """Add `index audio` and `search audio` to the `mmsearch` parser."""
    from indexers.defaults import DEFAULT_HOP_S, DEFAULT_WINDOW_S

    ia = index_sub.add_parser(
        "audio",
        parents=[common],
        help="index folders of sound files",
        description="Recursive: wav, flac, ogg, oga, opus, mp3, aiff, and m4a/aac where PyAV is installed. "
        "Each file is mixed to mono, resampled once to the model's rate and cut into windows; empty, silent "
        "and undecodable files are listed with their reason, the rest indexed. Re-running adds nothing twice.",
    )
    ia.add_argument("paths", nargs="+")
    ia.add_argument("--window", type=_positive, default=DEFAULT_WINDOW_S, metavar="S", help=f"window length in seconds (default {DEFAULT_WINDOW_S:g})")
    ia.add_argument("--hop", type=_positive, default=DEFAULT_HOP_S, metavar="S", help=f"seconds between window starts (default {DEFAULT_HOP_S:g})")
    ia.add_argument("--encoder", default=None, help="audio encoder id instead of the profile's (aisfx, panns:Cnn14)")
    ia.add_argument("--batch-size", type=int, default=None, help="default: the model's best size for the device")
    ia.add_argument("--json", action="store_true", help="print the report as JSON")
    ia.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ia.add_argument("--speech", action="store_true", help="also transcribe speech (Whisper) so spoken words are found by `search text --kind doc` and `ask`")
    ia.add_argument("--transcriber", default=None, help="with --speech: faster-whisper:tiny.en (default), faster-whisper:base, …")
    ia.set_defaults(func=cmd_index_audio)

    sa = search_sub.add_parser(
        "audio",
        parents=[common],
        help="search by a sound clip",
        description="The indexed windows that sound most like FILE, best first; each hit has start_s/end_s.",
    )
    sa.add_argument("file")
    sa.add_argument("-k", type=int, default=10)
    sa.add_argument("--encoder", default=None, help="search another audio collection, e.g. panns:Cnn14")
    sa.add_argument("--min-score", default="auto", help="auto (calibrated good-match score), none, or a number")
    sa.add_argument("--json", action="store_true")
    sa.set_defaults(func=cmd_search_audio)


_positive = number_between(0, 3600, "seconds between 0 and 3600", low_inclusive=False)


def audio_encoders(encoder_id: str, device: str, batch_size: int | None = None, tags_text: str | None = None) -> list[Any]:
    """The audio encoder plus, when it has tags, its text bridge (text → sound) to `tags_text`
    (the library's tag text model; None: the default, MiniLM)."""
    from encoders import get_encoder

    enc = get_encoder(encoder_id, device, batch_size)
    if "audio" not in enc.spec.document_kinds:
        raise CliError(f"{encoder_id} does not embed sounds; use aisfx or panns:Cnn14")
    out = [enc]
    bridge = enc.text_bridge(tags_text)
    if bridge is not None:
        out.append(bridge)
    return out


def cmd_index_audio(args: argparse.Namespace) -> int:
    from indexers.audio import index_audio

    if args.hop > args.window:
        raise CliError(f"--hop ({args.hop:g} s) must not exceed --window ({args.window:g} s)")
    if not args.encoder and not getattr(args, "speech", False) and (code := index_through_server(args, "audio", args.paths)) is not None:
        return code
    store = open_store(args)
    profile = choose_profile(args)
    encoder_id = args.encoder or profile.audio
    if not encoder_id:
        raise CliError("this profile names no audio encoder; pass --encoder aisfx")
    encoders = audio_encoders(encoder_id, args.device, args.batch_size, profile.sound_tags_text)
    report = index_audio(args.paths, store, encoders, window_s=args.window, hop_s=args.hop, progress=not args.quiet)
    if getattr(args, "speech", False):
        from app.cli.speech import transcribe_audio_files

        transcribe_audio_files(args, store, report)
    return finish_report(report, args.json)


def cmd_search_audio(args: argparse.Namespace) -> int:
    from app.server.client import RemoteEngine

    path = existing_file(args.file)
    engine = make_engine(args)
    if isinstance(engine, RemoteEngine):
        hits = engine.search_file("audio", path, k=args.k, encoder_id=args.encoder)
    else:
        hits = engine.search_audio(path, k=args.k, encoder_id=args.encoder)
    print_good_hits(hits, engine, args, "audio", "audio", args.encoder, line=audio_hit_line)
    return 0


def audio_hit_line(h: Any) -> str:
    """One sound hit: title, time span, tags, file."""
    from app.search.hits import fmt_span

    tags = f"  [{h.text}]" if h.text else ""
    return f"{h.title or h.id}  {fmt_span(h)}{tags}  {h.source or ''}"

