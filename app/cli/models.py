"""`mmsearch models list|pull` and `mmsearch doctor`: which models, which weights, which database."""

from __future__ import annotations

import argparse
import sys

from app.cli.common import CliError, context, open_store, out


def register(sub, common: argparse.ArgumentParser) -> None:
    """Add `doctor` and `models list|pull`."""
    sub.add_parser("doctor", parents=[common], help="check models, weights and the database").set_defaults(func=cmd_doctor)

    models = sub.add_parser("models", help="list or download models").add_subparsers(dest="what", required=True)
    models.add_parser("list", parents=[common], help="known encoders and their weights").set_defaults(func=cmd_models_list)
    mp = models.add_parser("pull", parents=[common], help="download weights (needs a network)")
    mp.add_argument("model")
    mp.set_defaults(func=cmd_models_pull)



def cmd_doctor(args: argparse.Namespace) -> int:
    import platform

    from encoders import get_encoder, known_encoder_ids

    out(f"python      {platform.python_version()} ({sys.executable})")
    try:
        import torch

        cuda = torch.cuda.is_available()
        out(f"torch       {torch.__version__}; device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if cuda else 'cpu'}")
    except ImportError:
        out("torch       NOT INSTALLED")
    ctx = context(args)
    profile, why = ctx.profile, ctx.profile_reason
    out(f"profile     {profile.name}: {why}")
    out(f"            {profile.note}")
    out("weights")
    for eid in known_encoder_ids():
        if eid.startswith("fake"):
            continue
        ok = get_encoder(eid, args.device).weights_available()
        out(f"  {'ok     ' if ok else 'missing'}  {eid}")
    out(f"database    {args.db}")
    try:
        db = open_store(args)
        infos = db.list_collections()
        caps = db.capabilities
        where = "embedded, one process at a time" if db.is_lite else "server"
        out(f"            {caps.backend} ({where}); vector index {caps.vector_index['index_type']}; {len(infos)} collections")
        from indexers.calibration import describe_thresholds

        for info in infos:
            cut = describe_thresholds(info.encoder, info.kind, db.uri)
            out(f"  {info.count:>8}  {info.name}  ({info.encoder}, dim {info.dim})" + (f"; good match: {cut}" if cut else ""))
    except Exception as exc:  # doctor reports, it does not fail
        out(f"            UNAVAILABLE: {exc}")
    out("settings    (value, then where it came from: flag, env VAR, file PATH or default)")
    for name, shown, source in ctx.settings.describe():
        out(f"  {name:<22} {shown:<40} {source}")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from encoders import get_encoder
    from encoders.registry import KNOWN_IDS

    for eid, desc in KNOWN_IDS.items():
        enc = get_encoder(eid, args.device)
        status = "available" if enc.weights_available() else "weights missing"
        out(f"{eid:<52} dim {enc.spec.dim:<5} {status:<16} {desc}")
    return 0


def cmd_models_pull(args: argparse.Namespace) -> int:
    from encoders import get_encoder

    enc = get_encoder(args.model, args.device)
    try:
        path = enc.pull()
    except Exception as exc:  # no network is the common case
        raise CliError(f"could not download weights for {args.model}: {str(exc).splitlines()[0][:200]}") from exc
    if path is None:
        out(f"{args.model}: weights are packaged or need no download")
        return 0
    out(f"{args.model}: weights in {path}")
    return 0
