"""The `mmsearch` command line: the parser, and running one command with one clear error.

Exit codes: 0 success · 1 failure (one clear message on stderr) · 2 bad usage.
`index` exits 0 when something was indexed and only bad inputs were skipped.
Each command group lives in its own module (`images`, `catalogue`, `audio`, `video`, `docs`,
`eval`, `models`, `serve`); heavy libraries load inside the commands that need them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from app.cli import audio, catalogue, docs, eval, images, models, serve, video
from app.cli.common import err
from app.context import Context
from app.settings import Settings, SettingsError

log = logging.getLogger("mmsearch")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=None, help="Milvus Lite .db path or server URI (default: env MMSEARCH_DB or MILVUS_URI, mmsearch.toml, ./data/mmsearch.db)")
    common.add_argument("--profile", default=None, help="model profile: auto, full, offline or one defined in mmsearch.toml (env MMSEARCH_PROFILE, default auto)")
    common.add_argument("--device", default=None, help="auto, cpu, cuda, mps (default: env MMSEARCH_DEVICE, mmsearch.toml, auto)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")

    p = argparse.ArgumentParser(prog="mmsearch", description="Multimodal search over your photos, products, sounds, videos and documents.")
    sub = p.add_subparsers(dest="command", required=True)

    idx = sub.add_parser("index", help="index content").add_subparsers(dest="what", required=True)
    srch = sub.add_parser("search", help="search the index").add_subparsers(dest="what", required=True)
    si = images.register(idx, srch, common)
    catalogue.register(sub, idx, srch, si, common)
    docs.register(sub, idx, common)
    eval.register(sub, common)
    audio.register(idx, srch, common)
    video.register(idx, common)
    models.register(sub, common)
    serve.register(sub, common)
    return p


def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from the flags (over the environment, over mmsearch.toml). The effective values
    are written back to `args`, so commands read one truth."""
    overrides = {name: getattr(args, name, None) for name in ("db", "device", "profile")}
    settings = Settings.load(overrides=overrides)
    args.db, args.device, args.profile = settings.db, settings.device, settings.profile
    return settings


# Commands that build their context on first use (`app.cli.common.context`): through a running
# server they never do, so they load no models and open no database (no numpy, no pymilvus).
LAZY_CONTEXT_COMMANDS = (("search", "text"), ("ask", None))


# Commands that only read: run as the program, they leave without the interpreter's teardown.
QUICK_EXIT_COMMANDS = ("search", "ask")


def main(argv: Sequence[str] | None = None, context_factory: Callable[[Settings], Context] = Context) -> int:
    """Run `mmsearch ARGV`; returns the exit code. `context_factory` builds the command's context
    from its settings (tests hand in one with test doubles).

    Run as the program (`argv` None, the real context), a query command closes the database and
    ends the process at once (`leave`): tearing down an interpreter that has loaded pymilvus and
    grpc takes 0.5-1.5 s here, longer than the query itself."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code = _run(parser, args, context_factory)
    if argv is None and context_factory is Context and args.command in QUICK_EXIT_COMMANDS:
        leave(args, code)
    return code


def leave(args: argparse.Namespace, code: int) -> None:
    """End the process now with `code`: output flushed, logs closed, the Lite database's server
    process stopped (its lock released, as at a normal exit), then `os._exit` (no teardown)."""
    import os

    try:
        ctx = getattr(args, "ctx", None)
        store = ctx.__dict__.get("store") if ctx is not None else None
        if store is not None:
            from milvus.client import close

            close(store.uri)
    except Exception:  # never lose the exit code over a close; the normal teardown does the rest
        log.debug("closing the database before leaving failed", exc_info=True)
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe (`| head`): nothing left to say
            pass
    logging.shutdown()
    os._exit(code)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, context_factory: Callable[[Settings], Context]) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.verbose:
        from milvus.client import set_verbose

        set_verbose(True)
    if hasattr(args, "k") and not 1 <= args.k <= 1000:
        parser.error("-k must be between 1 and 1000")
    from app.errors import user_message

    try:
        args.settings = load_settings(args)
    except SettingsError as exc:
        if exc.from_flag:
            parser.error(str(exc).removeprefix("invalid setting: "))
        err(f"mmsearch: error: {exc}")
        return 1
    args.context_factory = context_factory
    if (args.command, getattr(args, "what", None)) not in LAZY_CONTEXT_COMMANDS:
        args.ctx = context_factory(args.settings)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        err("mmsearch: interrupted")
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        err(f"mmsearch: error: {user_message(exc, getattr(args, 'db', None))}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
