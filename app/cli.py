"""The `mmsearch` command line. Heavy libraries load inside the commands that need them.

Exit codes: 0 success · 1 failure (one clear message on stderr) · 2 bad usage.
`index` exits 0 when something was indexed and only bad inputs were skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

log = logging.getLogger("mmsearch")


class CliError(Exception):
    """A failure to report in one sentence (exit 1)."""


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


# -- shared helpers ---------------------------------------------------------------
def _store(args: argparse.Namespace):
    from milvus import VectorStore

    return VectorStore(args.db)


def _profile(args: argparse.Namespace):
    from encoders.profiles import resolve_profile

    profile, why = resolve_profile(args.profile, args.device)
    _err(f"mmsearch: {why}")
    return profile


def _engine(args: argparse.Namespace):
    from app.search import SearchEngine

    return SearchEngine(_store(args), _profile(args), args.device)


def _print_hits(hits: Sequence[Any], as_json: bool, line: Callable[[Any], str] | None = None) -> None:
    """`--json`: one array of hits; otherwise one line per hit (`line` formats it, if given)."""
    if as_json:
        _out(json.dumps([h.to_json() for h in hits], ensure_ascii=False))
        return
    if not hits:
        _out("no results")
        return
    for rank, h in enumerate(hits, 1):
        if line is not None:
            _out(f"{rank:>3}. {h.score:.3f}  {line(h)}")
            continue
        extra = ""
        if h.price is not None:
            extra += f"  {h.price:.2f} {h.currency or ''}".rstrip()
        if h.start_s is not None:
            extra += f"  @{h.start_s:.1f}s"
        if h.kind == "video" and h.text:
            extra += f"  \"{h.text}\""
        _out(f"{rank:>3}. {h.score:.3f}  {h.title or h.id}{extra}  {h.source or ''}")


# -- commands ---------------------------------------------------------------------
def cmd_index_images(args: argparse.Namespace) -> int:
    from encoders import get_encoder
    from indexers.images import index_images

    store = _store(args)
    profile = _profile(args)
    encoders = [get_encoder(e, args.device, args.batch_size) for e in profile.image_encoders]
    report = index_images(args.paths, store, encoders, progress=not args.quiet)
    return _finish_report(report, args.json)


def _finish_report(report: Any, as_json: bool) -> int:
    if as_json:
        _out(json.dumps(report.to_dict()))
    else:
        _err(report.summary())
    return 0 if report.ok else 1


def cmd_search_text(args: argparse.Namespace) -> int:
    from app.search import clean_text_query

    clean_text_query(args.query)  # an empty query fails before models and the database are touched
    engine = _engine(args)
    hits = engine.search_text(args.query, kind=args.kind, k=args.k)
    _print_good_hits(hits, engine, args, args.kind, "text")
    return 0


def _threshold(engine: Any, args: argparse.Namespace, kind: str, query_kind: str, encoder_id: str | None = None) -> float | None:
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


def _print_good_hits(
    hits: list[Any], engine: Any, args: argparse.Namespace, kind: str, query_kind: str, encoder_id: str | None = None, line=None
) -> None:
    """Print the hits above the good-match threshold; say so when none is good."""
    from app.search import split_by_threshold
    from indexers.calibration import CUT_OFF_SEARCHES

    threshold = _threshold(engine, args, kind, query_kind, encoder_id) if (kind, query_kind) in CUT_OFF_SEARCHES else None
    good, weak = split_by_threshold(hits, threshold)
    if hits and not good:
        _err(
            f"mmsearch: no good match: the best score {hits[0].score:.3f} is below the good-match threshold "
            f"{threshold:.3f} (see `mmsearch eval`; --min-score none shows every result)"
        )
    _print_hits(good, args.json, line)


def cmd_search_image(args: argparse.Namespace) -> int:
    from app.search import load_query_image

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    image = load_query_image(path)
    engine = _engine(args)
    hits = engine.search_image(image, k=args.k, encoder_id=args.encoder)
    _print_good_hits(hits, engine, args, "image", "image", args.encoder)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import platform

    from encoders import get_encoder, known_encoder_ids
    from encoders.profiles import resolve_profile

    _out(f"python      {platform.python_version()} ({sys.executable})")
    try:
        import torch

        cuda = torch.cuda.is_available()
        _out(f"torch       {torch.__version__}; device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if cuda else 'cpu'}")
    except ImportError:
        _out("torch       NOT INSTALLED")
    profile, why = resolve_profile(args.profile, args.device)
    _out(f"profile     {profile.name}: {why}")
    _out(f"            {profile.note}")
    _out("weights")
    for eid in known_encoder_ids():
        if eid.startswith("fake"):
            continue
        ok = get_encoder(eid, args.device).weights_available()
        _out(f"  {'ok     ' if ok else 'missing'}  {eid}")
    _out(f"database    {args.db}")
    try:
        store = _store(args)
        infos = store.list_collections()
        caps = store.capabilities
        where = "embedded, one process at a time" if store.is_lite else "server"
        _out(f"            {caps.backend} ({where}); vector index {caps.vector_index['index_type']}; {len(infos)} collections")
        from indexers.calibration import describe_thresholds

        for info in infos:
            cut = describe_thresholds(info.encoder, info.kind, store.uri)
            _out(f"  {info.count:>8}  {info.name}  ({info.encoder}, dim {info.dim})" + (f"; good match: {cut}" if cut else ""))
    except Exception as exc:  # doctor reports, it does not fail
        _out(f"            UNAVAILABLE: {exc}")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from encoders import get_encoder
    from encoders.registry import KNOWN_IDS

    for eid, desc in KNOWN_IDS.items():
        enc = get_encoder(eid, args.device)
        status = "available" if enc.weights_available() else "weights missing"
        _out(f"{eid:<52} dim {enc.spec.dim:<5} {status:<16} {desc}")
    return 0


def cmd_models_pull(args: argparse.Namespace) -> int:
    from encoders import get_encoder

    enc = get_encoder(args.model, args.device)
    pull = getattr(enc, "pull", None)
    if pull is None:
        _out(f"{args.model}: weights are packaged or need no download")
        return 0
    try:
        path = pull()
    except Exception as exc:  # no network is the common case
        raise CliError(f"could not download weights for {args.model}: {str(exc).splitlines()[0][:200]}") from exc
    _out(f"{args.model}: weights in {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import subprocess

    script = Path(__file__).with_name("streamlit_app.py")
    env = dict(os.environ, MMSEARCH_DB=args.db, MMSEARCH_DEVICE=args.device)
    if args.profile:
        env["MMSEARCH_PROFILE"] = args.profile
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.address", args.host, "--server.port", str(args.port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.maxUploadSize", "20",
    ]
    _err(f"mmsearch: serving {args.db} at http://{args.host}:{args.port}  (Ctrl+C to stop)")
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo_data import prepare_photos

    from app.demo_catalogue import prepare_catalogue
    from encoders import get_encoder
    from indexers.catalogue import index_catalogue

    photos = prepare_photos(Path(args.data_dir) / "samples" / "photos")
    args.paths = [str(photos)]
    args.json = False
    code = cmd_index_images(args)
    if code != 0:
        return code
    csv_path = prepare_catalogue(Path(args.data_dir) / "samples" / "catalogue")
    profile = _profile(args)
    encoders = [get_encoder(e, args.device, args.batch_size) for e in profile.image_encoders]
    code = _finish_report(index_catalogue(csv_path, _store(args), encoders, progress=not args.quiet), False)
    if code != 0 or args.no_serve:
        return code
    from milvus.client import close

    close(args.db)  # Milvus Lite is one process's file: hand it to the app
    return cmd_serve(args)


def cmd_db_serve(args: argparse.Namespace) -> int:
    """Serve a Lite `.db` over gRPC on loopback so several processes can share it."""
    from milvus.client import is_lite
    from milvus.servers import serve_lite

    if not is_lite(args.db):
        raise CliError(f"{args.db} is already a server URI; `db serve` shares a local .db file")
    server = serve_lite(args.db, f"{args.host}:{args.port}")
    uri = f"http://{args.host}:{args.port}"
    _err(f"mmsearch: serving {args.db} at {uri}; point other processes at it with --db {uri} (Ctrl+C to stop)")
    try:
        return server._p.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


# -- parser -------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from milvus.store import default_uri

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=default_uri(), help="Milvus Lite .db path or server URI (env MMSEARCH_DB / MILVUS_URI)")
    common.add_argument("--profile", default=None, choices=["auto", "full", "offline"], help="model profile (env MMSEARCH_PROFILE, default auto)")
    common.add_argument("--device", default=os.environ.get("MMSEARCH_DEVICE", "auto"), help="auto, cpu, cuda, mps")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")

    p = argparse.ArgumentParser(prog="mmsearch", description="Multimodal search over your photos, products, sounds, videos and documents.")
    sub = p.add_subparsers(dest="command", required=True)

    idx = sub.add_parser("index", help="index content").add_subparsers(dest="what", required=True)
    ii = idx.add_parser("images", parents=[common], help="index folders of photos")
    ii.add_argument("paths", nargs="+")
    ii.add_argument("--batch-size", type=int, default=None, help="default: the model's best size for the device")
    ii.add_argument("--json", action="store_true", help="print the report as JSON")
    ii.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ii.set_defaults(func=cmd_index_images)

    srch = sub.add_parser("search", help="search the index").add_subparsers(dest="what", required=True)
    st = srch.add_parser("text", parents=[common], help="search by words")
    st.add_argument("query")
    st.add_argument("--kind", default="image", choices=["image", "product", "audio", "video", "doc"])
    st.add_argument("-k", type=int, default=10)
    st.add_argument("--json", action="store_true")
    st.add_argument("--min-score", default="auto", help="auto (calibrated good-match score), none, or a number")
    st.set_defaults(func=cmd_search_text)
    si = srch.add_parser("image", parents=[common], help="search by a photo")
    si.add_argument("file")
    si.add_argument("-k", type=int, default=10)
    si.add_argument("--encoder", default=None, help="search another image collection, e.g. torchvision:resnet50")
    si.add_argument("--json", action="store_true")
    si.add_argument("--min-score", default="auto", help="auto (calibrated good-match score), none, or a number")
    si.set_defaults(func=cmd_search_image)

    from app import cli_audio, cli_catalogue, cli_docs, cli_eval, cli_video

    cli_catalogue.register(sub, idx, srch, si, common)
    cli_docs.register(sub, idx, common)
    cli_eval.register(sub, common)
    cli_audio.register(idx, srch, common)
    cli_video.register(idx, common)

    sub.add_parser("doctor", parents=[common], help="check models, weights and the database").set_defaults(func=cmd_doctor)

    db = sub.add_parser("db", help="database tools").add_subparsers(dest="what", required=True)
    dbs = db.add_parser("serve", parents=[common], help="share a Lite .db with other processes over loopback gRPC")
    dbs.add_argument("--host", default="127.0.0.1")
    dbs.add_argument("--port", type=int, default=19530)
    dbs.set_defaults(func=cmd_db_serve)

    models = sub.add_parser("models", help="list or download models").add_subparsers(dest="what", required=True)
    models.add_parser("list", parents=[common], help="known encoders and their weights").set_defaults(func=cmd_models_list)
    mp = models.add_parser("pull", parents=[common], help="download weights (needs a network)")
    mp.add_argument("model")
    mp.set_defaults(func=cmd_models_pull)

    for name, func, helptext in (("serve", cmd_serve, "start the Streamlit app"), ("demo", cmd_demo, "index sample data and start the app")):
        sp = sub.add_parser(name, parents=[common], help=helptext)
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, default=8501)
        sp.set_defaults(func=func)
        if name == "demo":
            sp.add_argument("--data-dir", default="data")
            sp.add_argument("--batch-size", type=int, default=None)
            sp.add_argument("-q", "--quiet", action="store_true")
            sp.add_argument("--no-serve", action="store_true", help="index the samples only")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        _err("mmsearch: interrupted")
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        _err(f"mmsearch: error: {user_message(exc, getattr(args, 'db', None))}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
