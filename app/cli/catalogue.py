"""CLI commands for the product catalogue.

- `mmsearch index catalogue FILE` — import a CSV/JSONL catalogue (upsert by the catalogue's id).
- `mmsearch similar ITEM_ID [--cheaper] [--min-saving F] [--max-price P] [--same-category] …`
- `mmsearch search image FILE --price P --cheaper` — a photo as the anchor; `--plus/--minus`
  compose "like this, but red" in CLIP's shared space.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli.common import (
    ENCODER_HELP,
    CliError,
    choose_profile,
    err,
    existing_file,
    finish_report,
    image_encoders,
    index_through_server,
    open_store,
    out,
)
from app.cli.images import cmd_search_image

_CATALOGUE_FLAGS = ("price", "cheaper", "min_saving", "max_price", "min_price", "category", "currency", "catalogue")


def register(sub, index_sub, search_sub, search_image_parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """Add the catalogue commands to the `mmsearch` parser."""
    ic = index_sub.add_parser(
        "catalogue",
        parents=[common],
        help="import a product catalogue (CSV or JSONL)",
        description="Columns: id, title, price, currency, category, image (+ any extra columns, kept as metadata). "
        "`image` is a path relative to the file or an http(s) URL. Bad rows are reported with their line number "
        "and skipped; a re-import updates changed rows and skips unchanged ones.",
    )
    ic.add_argument("file", help="catalogue .csv, .tsv or .jsonl")
    ic.add_argument("--batch-size", type=int, default=None, help="default: the model's best size for the device")
    ic.add_argument("--encoder", default=None, metavar="ID", help=ENCODER_HELP)
    ic.add_argument("--no-urls", action="store_true", help="refuse image URLs (local files only)")
    ic.add_argument("--url-timeout", type=float, default=10.0, help="seconds per image download (default 10)")
    ic.add_argument("--prune", action="store_true", help="delete stored items whose id is no longer in the file")
    ic.add_argument("--json", action="store_true", help="print the report as JSON")
    ic.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ic.set_defaults(func=cmd_index_catalogue)

    sp = sub.add_parser(
        "similar",
        parents=[common],
        help="catalogue items that look like an item (optionally cheaper)",
        description="Items that look like catalogue item ITEM_ID, best first. With --cheaper every hit costs less "
        "than the item (and at least --min-saving less); a similarity floor drops items that do not look alike, "
        "so an empty answer is possible.",
    )
    sp.add_argument("item_id", metavar="ITEM_ID", help="the catalogue's own id of the item")
    _add_price_options(sp)
    sp.add_argument("--same-category", action="store_true", help="only items of the item's category")
    _add_compose_options(sp)
    sp.add_argument("-k", type=int, default=10)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_similar)

    si = search_image_parser
    si.add_argument("--catalogue", action="store_true", help="search the product catalogue instead of the photos")
    si.add_argument("--price", type=float, default=None, help="the photo's price: shows savings, enables --cheaper (implies --catalogue)")
    si.add_argument("--currency", default=None, help="with --price: compare only items in this currency")
    _add_price_options(si)
    _add_compose_options(si)
    si.set_defaults(func=cmd_search_image_catalogue)


def _add_price_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cheaper", action="store_true", help="only items cheaper than the anchor")
    p.add_argument("--min-saving", type=_fraction, default=0.0, metavar="F",
                   help="with --cheaper: at least this saving, as a fraction (0.2) or percent (20%%); implies --cheaper")
    p.add_argument("--max-price", type=float, default=None, metavar="P", help="only items costing at most P")
    p.add_argument("--min-price", type=float, default=None, metavar="P", help="only items costing at least P")
    p.add_argument("--category", action="append", default=None, help="only this category (repeatable)")
    p.add_argument("--min-similarity", type=float, default=None, metavar="S",
                   help="similarity floor (cosine); default per encoder, e.g. 0.70 for EfficientNet-Lite0, 0.80 for CLIP")


def _add_compose_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plus", action="append", default=[], metavar="TEXT", help='"like this, but TEXT" (CLIP/SigLIP profiles; repeatable)')
    p.add_argument("--minus", action="append", default=[], metavar="TEXT", help="… and less TEXT (repeatable)")
    p.add_argument("--text-weight", type=float, default=0.5, metavar="W", help="weight of each text vector against the image (default 0.5)")


def _fraction(text: str) -> float:
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value >= 1 and not t.endswith("%") and value < 100:
        value /= 100  # "20" means 20 %
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError("a saving from 0 to below 100 %")
    return value


def _price_query(args: argparse.Namespace):
    from app.search.catalogue import PriceQuery

    return PriceQuery(
        cheaper=bool(args.cheaper),
        min_saving=float(args.min_saving or 0.0),
        max_price=args.max_price,
        min_price=args.min_price,
        categories=tuple(args.category or ()),
        currency=(getattr(args, "currency", None) or None) and args.currency.strip().upper(),
    )


def _catalogue(args: argparse.Namespace, kind: str = "product"):
    from app.search.catalogue import Catalogue

    return Catalogue(open_store(args), choose_profile(args), args.device, kind=kind)


# -- commands ---------------------------------------------------------------------
def cmd_index_catalogue(args: argparse.Namespace) -> int:
    from indexers.catalogue import CatalogueError, index_catalogue

    path = existing_file(args.file)
    if not args.prune and not args.encoder and (code := index_through_server(args, "catalogue", [str(path)])) is not None:
        return code
    store = open_store(args)
    encoders = image_encoders(args, "product")
    try:
        report = index_catalogue(
            path, store, encoders, progress=not args.quiet,
            allow_urls=not args.no_urls, url_timeout=args.url_timeout, prune=args.prune,
        )
    except CatalogueError as exc:
        raise CliError(str(exc)) from exc
    return finish_report(report, args.json)


def cmd_similar(args: argparse.Namespace) -> int:
    cat = _catalogue(args)
    result = cat.similar(
        args.item_id, k=args.k, query=_price_query(args), same_category=args.same_category,
        min_similarity=args.min_similarity, plus=args.plus, minus=args.minus, text_weight=args.text_weight,
    )
    _print_result(result, args.json)
    return 0


def cmd_search_image_catalogue(args: argparse.Namespace) -> int:
    """`search image`: the photo search, or with price/catalogue/compose options the catalogue's."""
    wants_catalogue = any(getattr(args, f, None) not in (None, False, 0.0, []) for f in _CATALOGUE_FLAGS)
    if not wants_catalogue and not (args.plus or args.minus or args.min_similarity is not None):
        return cmd_search_image(args)
    from app.search.queries import load_query_image

    path = existing_file(args.file)
    if getattr(args, "encoder", None):
        raise CliError("--encoder cannot be combined with catalogue, --plus/--minus or --min-similarity options")
    image = load_query_image(path)
    cat = _catalogue(args, kind="product" if wants_catalogue else "image")
    result = cat.similar_to_image(
        image, price=args.price, k=args.k, query=_price_query(args), min_similarity=args.min_similarity,
        plus=args.plus, minus=args.minus, text_weight=args.text_weight,
    )
    _print_result(result, args.json)
    return 0


# -- output -----------------------------------------------------------------------
def hit_json(hit: Any) -> dict[str, Any]:
    """A hit's `--json` object: the common keys (`id` is the catalogue's own id), `saving`, `saving_pct`."""
    return hit.to_json()


def _money(value: float | None, currency: str | None) -> str:
    return "" if value is None else f"{value:.2f} {currency or ''}".rstrip()


def _print_result(result: Any, as_json: bool) -> None:
    from app.search.catalogue import fmt_score

    if as_json:
        out(json.dumps([hit_json(h) for h in result.hits], ensure_ascii=False))
        if not result.hits:
            err(f"mmsearch: {result.message()}")
        return
    a = result.anchor
    rules = []
    if result.query.cheaper:
        rules.append("cheaper" + (f" by ≥ {result.query.min_saving:.0%}" if result.query.min_saving else ""))
    if result.query.max_price is not None:
        rules.append(f"≤ {result.query.max_price:g}")
    if result.query.categories:
        rules.append("in " + ", ".join(result.query.categories))
    rules.append(f"similarity ≥ {fmt_score(result.floor)}")
    if a is not None:
        cat = f" ({a.category})" if a.category else ""
        out(f"like {a.id} \"{a.title or ''}\"  {_money(a.price, a.currency)}{cat}  — {', '.join(rules)}")
    else:
        price = f"  {_money(result.anchor_price, result.query.currency)}" if result.anchor_price is not None else ""
        out(f"like the photo{price}  — {', '.join(rules)}")
    if not result.hits:
        out(result.message())
        return
    for rank, h in enumerate(result.hits, 1):
        saving = ""
        if h.saving is not None:
            pct = f" ({h.saving_pct:.0%})" if h.saving_pct is not None else ""
            saving = f"  save {h.saving:.2f}{pct}" if h.saving >= 0 else f"  costs {-h.saving:.2f} more"
        out(f"{rank:>3}. {h.score:.3f}  {h.id}  {h.title or ''}  {_money(h.price, h.currency)}{saving}".rstrip())
