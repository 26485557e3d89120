"""Helpers every command group uses: output, the store/profile/engine a command works on,
printing hits and index reports. Public names: the command modules import them."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from app.errors import CliError

if TYPE_CHECKING:
    from app.context import Context
    from app.settings import Settings

__all__ = ["CliError", "context", "out", "err", "open_store", "choose_profile", "server", "make_engine", "index_through_server", "image_encoders", "existing_file", "number_between", "print_hits", "print_good_hits", "finish_report", "min_score", "ENCODER_HELP"]


def out(text: str = "") -> None:
    """A line on stdout (results)."""
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    """A line on stderr (messages)."""
    sys.stderr.write(text + "\n")


def context(args: argparse.Namespace) -> Context:
    """The command's context, built once from the settings `main` loaded (flags, environment,
    config file): by `main`, or here on first use for the commands that may go through a
    running server (`main.LAZY_CONTEXT_COMMANDS`)."""
    ctx = getattr(args, "ctx", None)
    if ctx is None:
        ctx = args.ctx = args.context_factory(args.settings)
    return ctx


def settings_of(args: argparse.Namespace) -> Settings:
    """The command's settings, without building its context."""
    settings = getattr(args, "settings", None)
    return settings if settings is not None else context(args).settings


def open_store(args: argparse.Namespace):
    """The vector store at the settings' `db` (`--db`, MMSEARCH_DB, MILVUS_URI or mmsearch.toml)."""
    warm_text_model(args)
    return context(args).store


def warm_text_model(args: argparse.Namespace) -> None:
    """For a text query that reads the database itself (`search text`, `ask`): load the offline
    text model (MiniLM's numpy path) on another thread while this one opens the database, whose
    Lite server process takes a while to start. Nothing happens where the numpy path does not
    apply; where the query turns out to use another model, the load was only a little wasted work."""
    if getattr(args, "text_model_warmed", False):
        return
    args.text_model_warmed = True
    context(args)  # the settings are handed to the encoders before the thread loads one
    if not (args.command == "ask" or (args.command == "search" and getattr(args, "what", None) == "text")):
        return
    import threading

    device = getattr(args, "device", None) or "auto"

    def warm() -> None:
        try:
            from encoders import get_encoder, minilm_fast
            from encoders.ids import MINILM_ID

            if minilm_fast.enabled():
                get_encoder(MINILM_ID, device).load()
        except Exception:  # the query itself will say what is wrong, in its own words
            logging.getLogger(__name__).debug("warming the text model failed", exc_info=True)

    threading.Thread(target=warm, name="warm-text-model", daemon=True).start()


def choose_profile(args: argparse.Namespace):
    """The model profile (`--profile`), saying on stderr which and why (once per command)."""
    ctx = context(args)
    if not getattr(args, "profile_said", False):
        err(f"mmsearch: {ctx.profile_reason}")
        args.profile_said = True
    return ctx.profile


def image_encoders(args: argparse.Namespace, kind: str = "image") -> list[Any]:
    """The encoders that fill collection kind `kind` (image, product, video): the profile's
    (the recorded choices laid over it), or just `--encoder` where the command has it and it
    was given (that collection only, this once), at `--batch-size` where the command has one."""
    from encoders import get_encoder

    chosen = [args.encoder] if getattr(args, "encoder", None) else choose_profile(args).fills(kind)
    return [get_encoder(e, args.device, getattr(args, "batch_size", None)) for e in chosen]


ENCODER_HELP = "this encoder id instead of the library's model, this once (see `mmsearch models list`; `mmsearch models use` changes it for good)"


def existing_file(name: str) -> Path:
    """`name` as a path; a CliError when it is not a file."""
    path = Path(name)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    return path


def number_between(low: float, high: float, message: str, low_inclusive: bool = True) -> Callable[[str], float]:
    """An argparse type: a number from `low` (included unless `low_inclusive` is False) to `high`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not ((low <= value) if low_inclusive else (low < value)) or value > high:
            raise argparse.ArgumentTypeError(message)
        return value

    return parse


def server(args: argparse.Namespace):
    """The running `mmsearch serve` on this database, if any (a `ServerClient`): it has the
    database open and the models loaded, so searches and index runs go through it."""
    if not hasattr(args, "server_client"):
        from app.server.client import connect

        settings = settings_of(args)
        args.server_client = connect(settings)
        if args.server_client is not None:
            err(f"mmsearch: through the server at {args.server_client.info.url} (it has {settings.db} open)")
    return args.server_client


def make_engine(args: argparse.Namespace):
    """The search engine over the store with the profile's models (a running server's, if any)."""
    client = server(args)
    if client is not None:
        from app.server.client import RemoteEngine

        return RemoteEngine(client)
    warm_text_model(args)
    choose_profile(args)
    return context(args).engine


def index_through_server(args: argparse.Namespace, kind: str, paths: list[str]) -> int | None:
    """Index through the running server, if there is one (its exit code); None otherwise."""
    client = server(args)
    if client is None:
        return None
    from app.server.client import run_job
    from indexers.report import IndexReport

    job = run_job(client, kind, paths, progress=not getattr(args, "quiet", False))
    if job["state"] == "failed":
        raise CliError(f"the server's index job failed: {job['error']}")
    if job["state"] == "cancelled":
        raise CliError("the server's index job was cancelled")
    failed = [(s["path"], s["reason"]) for s in job["skipped"]]
    seconds = (job["finished"] or job["created"]) - job["created"]
    return finish_report(IndexReport(kind, job["indexed"], job["unchanged"], failed, seconds), getattr(args, "json", False))


def print_hits(hits: Sequence[Any], as_json: bool, line: Callable[[Any], str] | None = None) -> None:
    """`--json`: one array of hits; otherwise one line per hit (`line` formats it, if given)."""
    if as_json:
        out(json.dumps([h.to_json() for h in hits], ensure_ascii=False))
        return
    if not hits:
        out("no results")
        return
    for rank, h in enumerate(hits, 1):
        if line is not None:
            out(f"{rank:>3}. {h.score:.3f}  {line(h)}")
            continue
        extra = ""
        if h.price is not None:
            extra += f"  {h.price:.2f} {h.currency or ''}".rstrip()
        if h.start_s is not None:
            extra += f"  @{h.start_s:.1f}s"
        if h.kind == "video" and h.text:
            extra += f"  \"{h.text}\""
        out(f"{rank:>3}. {h.score:.3f}  {h.title or h.id}{extra}  {h.source or ''}")


def finish_report(report: Any, as_json: bool) -> int:
    """Print an index report (JSON or a summary) and return the exit code."""
    if as_json:
        out(json.dumps(report.to_dict()))
    else:
        err(report.summary())
    return 0 if report.ok else 1


def min_score(engine: Any, args: argparse.Namespace, kind: str, query_kind: str, encoder_id: str | None = None) -> float | None:
    """`--min-score`: auto = the collection's calibrated good-match score, none = no cut-off, or a number."""
    raw = getattr(args, "min_score", "auto")
    if raw == "none":
        return None
    if raw == "auto":
        return engine.good_match_threshold(kind, query_kind, encoder_id)
    try:
        return float(raw)
    except ValueError:
        raise CliError("--min-score takes auto, none or a number") from None


def print_good_hits(
    hits: list[Any], engine: Any, args: argparse.Namespace, kind: str, query_kind: str, encoder_id: str | None = None, line=None
) -> None:
    """Print the hits above the good-match threshold; say so when none is good."""
    from app.search.hits import split_by_threshold

    if getattr(args, "min_score", "auto") == "auto" and getattr(engine, "threshold_is_cut_off", False):
        threshold = min_score(engine, args, kind, query_kind, encoder_id)  # a server's: None where no cut-off applies
    else:
        from indexers.calibration import CUT_OFF_SEARCHES

        threshold = min_score(engine, args, kind, query_kind, encoder_id) if (kind, query_kind) in CUT_OFF_SEARCHES else None
    good, weak = split_by_threshold(hits, threshold)
    if hits and not good:
        err(
            f"mmsearch: no good match: the best score {hits[0].score:.3f} is below the good-match threshold "
            f"{threshold:.3f} (see `mmsearch eval`; --min-score none shows every result)"
        )
    print_hits(good, args.json, line)


