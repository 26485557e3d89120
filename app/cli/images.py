"""`mmsearch index images`, `search text` and `search image`."""

from __future__ import annotations

import argparse

from app.cli.common import (
    ENCODER_HELP,
    CliError,
    choose_profile,
    context,
    existing_file,
    finish_report,
    image_encoders,
    index_through_server,
    make_engine,
    open_store,
    print_good_hits,
    server,
)


def register(index_sub, search_sub, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add `index images`, `search text` and `search image`; returns the `search image` parser
    (the catalogue adds its options to it)."""
    ii = index_sub.add_parser("images", parents=[common], help="index folders of photos")
    ii.add_argument("paths", nargs="+")
    ii.add_argument("--batch-size", type=int, default=None, help="default: the model's best size for the device")
    ii.add_argument("--encoder", default=None, metavar="ID", help=ENCODER_HELP)
    ii.add_argument("--json", action="store_true", help="print the report as JSON")
    ii.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ii.set_defaults(func=cmd_index_images)

    st = search_sub.add_parser("text", parents=[common], help="search by words")
    st.add_argument("query")
    st.add_argument("--kind", default="image", choices=["image", "product", "audio", "video", "doc"])
    st.add_argument("-k", type=int, default=10)
    st.add_argument("--json", action="store_true")
    st.add_argument("--min-score", default="auto", help="auto (calibrated good-match score), none, or a number")
    st.add_argument("--encoder", default=None, metavar="ID", help=ENCODER_HELP)
    st.set_defaults(func=cmd_search_text)
    si = search_sub.add_parser("image", parents=[common], help="search by a photo")
    si.add_argument("file")
    si.add_argument("-k", type=int, default=10)
    si.add_argument("--encoder", default=None, help="search another image collection, e.g. torchvision:resnet50")
    si.add_argument("--json", action="store_true")
    si.add_argument("--min-score", default="auto", help="auto (calibrated good-match score), none, or a number")
    si.set_defaults(func=cmd_search_image)

    return si


def cmd_index_images(args: argparse.Namespace) -> int:
    from indexers.images import index_images

    if not args.encoder and (code := index_through_server(args, "images", args.paths)) is not None:
        return code
    report = index_images(args.paths, open_store(args), image_encoders(args), progress=not args.quiet)
    return finish_report(report, args.json)


def cmd_search_text(args: argparse.Namespace) -> int:
    from app.search.queries import clean_text_query

    clean_text_query(args.query)  # an empty query fails before models and the database are touched
    if args.encoder:
        return _search_text_with(args)
    eng = make_engine(args)
    hits = eng.search_text(args.query, kind=args.kind, k=args.k)
    print_good_hits(hits, eng, args, args.kind, "text")
    return 0


def _search_text_with(args: argparse.Namespace) -> int:
    """`search text --encoder ID`: the query answered by that model's collection, this once."""
    from app.search.docs import Retriever
    from app.search.engine import SearchEngine
    from encoders.profiles import override_once

    if server(args) is not None:
        raise CliError("--encoder is not available through the running server; search without it, or stop the server")
    ctx = context(args)
    if args.kind == "doc":
        hits = Retriever(ctx.store, args.encoder, device=args.device).retrieve(args.query, k=args.k)
        print_good_hits(hits, ctx.engine, args, "doc", "text", args.encoder)
        return 0
    eng = SearchEngine(ctx.store, override_once(choose_profile(args), args.kind, args.encoder), args.device, text_encoder=ctx.settings.text_encoder)
    hits = eng.search_text(args.query, kind=args.kind, k=args.k)
    print_good_hits(hits, eng, args, args.kind, "text", args.encoder)
    return 0


def cmd_search_image(args: argparse.Namespace) -> int:
    from app.search.queries import load_query_image
    from app.server.client import RemoteEngine

    path = existing_file(args.file)
    image = load_query_image(path)  # a bad photo fails here, before the models or the server
    eng = make_engine(args)
    if isinstance(eng, RemoteEngine):
        hits = eng.search_file("image", path, k=args.k, encoder_id=args.encoder)
    else:
        hits = eng.search_image(image, k=args.k, encoder_id=args.encoder)
    print_good_hits(hits, eng, args, "image", "image", args.encoder)
    return 0
