"""`mmsearch serve`, `mmsearch demo` and `mmsearch db serve`: the app, the sample data, a shared database."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.common import (
    CliError,
    context,
    err,
    finish_report,
    image_encoders,
    open_store,
)
from app.cli.images import cmd_index_images


def register(sub, common: argparse.ArgumentParser) -> None:
    """Add `serve`, `demo` and `db serve`."""
    db = sub.add_parser("db", help="database tools").add_subparsers(dest="what", required=True)
    dbs = db.add_parser("serve", parents=[common], help="share a Lite .db with other processes over loopback gRPC")
    dbs.add_argument("--host", default="127.0.0.1")
    dbs.add_argument("--port", type=int, default=19530)
    dbs.set_defaults(func=cmd_db_serve)

    for name, func, helptext in (("serve", cmd_serve, "start the app and the HTTP API (one process owns the database)"), ("demo", cmd_demo, "index sample data and start the app")):
        sp = sub.add_parser(name, parents=[common], help=helptext)
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, default=8501)
        sp.set_defaults(func=func)
        if name == "demo":
            sp.add_argument("--data-dir", default="data")
            sp.add_argument("--batch-size", type=int, default=None)
            sp.add_argument("-q", "--quiet", action="store_true")
            sp.add_argument("--no-serve", action="store_true", help="index the samples only")


def cmd_serve(args: argparse.Namespace) -> int:
    """One process owns the database and the models: the app at /, the API at /api."""
    from app.server.run import serve

    return serve(context(args), args.host, args.port)


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo.catalogue import prepare_catalogue
    from app.demo.photos import prepare_photos
    from indexers.catalogue import index_catalogue

    photos = prepare_photos(Path(args.data_dir) / "samples" / "photos")
    args.paths = [str(photos)]
    args.json = False
    args.encoder = None  # the demo fills the library's own models (no `--encoder` once)
    code = cmd_index_images(args)
    if code != 0:
        return code
    csv_path = prepare_catalogue(Path(args.data_dir) / "samples" / "catalogue")
    encoders = image_encoders(args, "product")
    code = finish_report(index_catalogue(csv_path, open_store(args), encoders, progress=not args.quiet), False)
    if code != 0 or args.no_serve:
        return code
    return cmd_serve(args)  # the same process serves: the database stays open


def cmd_db_serve(args: argparse.Namespace) -> int:
    """Serve a Lite `.db` over gRPC on loopback so several processes can share it."""
    from milvus.client import is_lite
    from milvus.servers import serve_lite

    if not is_lite(args.db):
        raise CliError(f"{args.db} is already a server URI; `db serve` shares a local .db file")
    server = serve_lite(args.db, f"{args.host}:{args.port}")
    uri = f"http://{args.host}:{args.port}"
    err(f"mmsearch: serving {args.db} at {uri}; point other processes at it with --db {uri} (Ctrl+C to stop)")
    try:
        return server._p.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
