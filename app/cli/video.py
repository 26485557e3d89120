"""CLI commands for videos.

- `mmsearch index video PATH...` — mp4, mkv, webm, avi, mov: frames sampled by time
  (default 1 fps) and/or at scene changes, embedded by the profile's image encoders; the
  audio track transcribed (Whisper) and each line embedded by the text encoder.
- `mmsearch search text "QUERY" --kind video` goes through `SearchEngine.search_text`
  and returns moments (frame and speech hits of one video fused) with start_s/end_s/text.
"""

from __future__ import annotations

import argparse

from app.cli.common import (
    ENCODER_HELP,
    CliError,
    context,
    finish_report,
    image_encoders,
    index_through_server,
    number_between,
    open_store,
)


def register(index_sub, common: argparse.ArgumentParser) -> None:
    """Add `index video` to the `mmsearch` parser."""
    from indexers.defaults import DEFAULT_FPS

    iv = index_sub.add_parser(
        "video",
        parents=[common],
        help="index videos (frames + speech)",
        description="Recursive: mp4, mkv, webm, avi, mov, m4v. Frames are sampled by media time (--fps) and/or at "
        "scene changes (--scene) and embedded with the profile's image encoders; speech is transcribed with Whisper "
        "(--transcriber, default faster-whisper:tiny.en, packaged) and each line embedded with the text encoder. "
        "A video without audio is indexed by its frames. Unreadable files are listed with their reason.",
    )
    iv.add_argument("paths", nargs="+")
    iv.add_argument("--fps", type=_fps, default=DEFAULT_FPS, help=f"frames per second of media time (default {DEFAULT_FPS:g}; 0: scene changes only)")
    iv.add_argument("--scene", type=float, default=None, metavar="T", help="also keep a frame at each scene change (0.05–0.3 is typical)")
    iv.add_argument("--transcriber", default=None, help="faster-whisper:tiny.en (default), faster-whisper:PATH, openai-whisper:base, …")
    iv.add_argument("--no-speech", action="store_true", help="index frames only")
    iv.add_argument("--batch-size", type=int, default=None, help="default: the model's best size for the device")
    iv.add_argument("--encoder", default=None, metavar="ID", help=ENCODER_HELP)
    iv.add_argument("--json", action="store_true", help="print the report as JSON")
    iv.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    iv.set_defaults(func=cmd_index_video)


_fps = number_between(0, 60, "frames per second between 0 and 60")


def cmd_index_video(args: argparse.Namespace) -> int:
    from encoders import get_encoder
    from indexers.video import index_video

    if args.fps == 0 and args.scene is None:
        raise CliError("--fps 0 needs --scene T (sample by time, by scene change, or both)")
    if not args.encoder and (code := index_through_server(args, "video", args.paths)) is not None:
        return code
    store = open_store(args)
    encoders = image_encoders(args, "video")
    ctx = context(args)
    transcriber = None if args.no_speech else ctx.transcriber(args.transcriber)
    text_encoder = None if args.no_speech else get_encoder(ctx.text_encoder_choice()[0], args.device)
    report = index_video(
        args.paths, store, encoders, transcriber=transcriber, text_encoder=text_encoder,
        fps=args.fps, scene_threshold=args.scene, progress=not args.quiet,
    )
    return finish_report(report, args.json)
