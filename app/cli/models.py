"""`mmsearch models list|pull` and `mmsearch doctor`: which models, which weights, which database."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.common import CliError, context, err, open_store, out, server


def register(sub, common: argparse.ArgumentParser) -> None:
    """Add `doctor` and `models list|pull|use|prune`."""
    sub.add_parser("doctor", parents=[common], help="check models, weights and the database").set_defaults(func=cmd_doctor)

    models = sub.add_parser("models", help="list, download, choose or prune models").add_subparsers(dest="what", required=True)
    models.add_parser("list", parents=[common], help="known encoders, their weights, and the active model of each kind").set_defaults(func=cmd_models_list)
    mu = models.add_parser(
        "use", parents=[common], help="choose the model of a kind of library (recorded in the database)",
        description="Records the choice in the database, so every command, the app and the server use it. The new model's "
        "collections are filled from the sources the database already holds (resumable: run it again after an "
        "interruption); search answers from the old model until the fill is done, then switches. The old collections "
        "stay until `mmsearch models prune --yes`. Kinds: photos, photos-text (words → pictures; these two also "
        "answer for the catalogue and video frames until those have models of their own), catalogue, videos (words → "
        "frames), sounds, sounds-text (the text model sound tags are matched with: words → sounds), text (documents and "
        "transcripts).",
    )
    mu.add_argument("kind", metavar="KIND", help="photos, photos-text, catalogue, videos, sounds, sounds-text or text")
    mu.add_argument("model", metavar="ID", help="an encoder id, e.g. open_clip:ViT-B-16-SigLIP/webli (see `mmsearch models list`)")
    mu.add_argument("--no-fill", action="store_true", help="only record the choice; the next `mmsearch index …` fills its collection")
    mu.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    mu.set_defaults(func=cmd_models_use)
    mr = models.add_parser("prune", parents=[common], help="drop collections of models no longer in use")
    mr.add_argument("--yes", action="store_true", help="drop them (without it, only list them)")
    mr.set_defaults(func=cmd_models_prune)
    mp = models.add_parser(
        "pull", parents=[common], help="download weights (needs a network)",
        description="Downloads an encoder's or a transcriber's weights into the project's cache. For ollama:MODEL, the "
        "running Ollama server (OLLAMA_HOST) pulls the model itself; openai:MODEL has nothing to pull (the service hosts it).",
    )
    mp.add_argument("model", metavar="ID", help="an encoder or transcriber id, e.g. open_clip:ViT-B-32/laion2b_s34b_b79k or ollama:nomic-embed-text")
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
    for kind, eid in active_by_kind(args).items():
        out(f"  {kind:<12} {eid or '(none)'}")
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


def active_by_kind(args: argparse.Namespace) -> dict[str, str]:
    """The model of each kind of library: the profile with the recorded choices laid over it."""
    from encoders.profiles import active_models

    ctx = context(args)
    try:
        documents = ctx.text_encoder_choice()[0]
    except Exception as exc:  # the database may be held by a server: the profile still answers
        documents = ctx.settings.text_encoder or "?"
        err(f"mmsearch: the database could not be read ({str(exc).splitlines()[0][:160]}); showing the profile's models")
    return active_models(ctx.profile, documents)


def cmd_models_list(args: argparse.Namespace) -> int:
    from encoders import get_encoder
    from encoders.registry import KNOWN_IDS, MODEL_FACTS

    uses: dict[str, list[str]] = {}
    for kind, eid in active_by_kind(args).items():
        uses.setdefault(eid, []).append(kind)
    out(f"{'id':<56} {'':<9} {'size':<21} {'licence':<19} {'weights':<16} active for")
    for eid in [*KNOWN_IDS, *[e for e in uses if e and e not in KNOWN_IDS]]:
        try:
            enc = get_encoder(eid, args.device)
            service = eid.partition(":")[0] in ("ollama", "openai")  # no weights here: a server answers or not
            missing = "not answering" if service else "weights missing"
            dim, here = str(enc.spec.dim or "?"), "available" if enc.weights_available() else missing
        except Exception:  # an id the registry cannot build (e.g. recorded on another machine)
            dim, here = "?", "?"
        size, licence = MODEL_FACTS.get(eid, ("?", "?"))
        mark = f"← {', '.join(uses[eid])}" if eid in uses else ""
        out(f"{eid:<56} dim {dim:<5} {size:<21} {licence:<19} {here:<16} {mark}".rstrip())
    out("")
    out("← the active model of each kind. Choose with `mmsearch models use KIND ID` (KIND: photos, photos-text, catalogue, videos, sounds, sounds-text, text); "
        "any open_clip MODEL/TAG and sentence_transformers NAME works too.")
    return 0


def cmd_models_use(args: argparse.Namespace) -> int:
    from encoders import get_encoder
    from encoders.profiles import choice_fields, choice_kind
    from indexers.library_models import switch
    from milvus.client import is_lite

    client = server(args)
    ctx = context(args)
    if client is not None and is_lite(ctx.settings.db):
        return _use_through_server(client, args)
    enc = get_encoder(args.model, args.device)
    choice_fields(choice_kind(args.kind), enc.spec)  # a model that cannot serve the kind is refused first
    if not args.no_fill:
        if not enc.weights_available():
            enc.load()  # "weights not found; run `mmsearch models pull …`" before anything is said or recorded
        err(f"mmsearch: filling the {args.kind} collections of {args.model} from the stored sources; "
            "search answers from the current model until this is done (interrupted? run it again to resume)")
    report = switch(open_store(args), args.kind, args.model, args.device, progress=not args.quiet, fill_now=not args.no_fill, profile=ctx.profile)
    out(report.summary())
    if args.no_fill:
        out("  its collections fill on the next `mmsearch index …`; the old ones stay until `mmsearch models prune --yes`")
    else:
        out("  the old collections stay until `mmsearch models prune --yes`")
    return 0


def _use_through_server(client: Any, args: argparse.Namespace) -> int:
    """`models use` while `mmsearch serve` holds the Lite file: the server runs the switch as a job."""
    from app.server.client import follow_job

    if args.no_fill:
        raise CliError(f"the server at {client.info.url} fills the new collection as it switches: drop --no-fill, or stop the server first")
    job = client.call("POST", "/models", {"kind": args.kind, "encoder": args.model})
    err(f"mmsearch: the server at {client.info.url} fills the {args.kind} collections of {args.model}; "
        "search answers from the current model until this is done")
    job = follow_job(client, job, f"switching {args.kind} (server)", progress=not args.quiet)
    if job["state"] != "done":
        raise CliError(f"the switch did not finish ({job['state']}): {job.get('error') or 'cancelled'}")
    out(f"{args.kind}: now {args.model} ({job['indexed']} filled, {job['unchanged']} already there); "
        "the old collections stay until `mmsearch models prune --yes`")
    return 0


def cmd_models_prune(args: argparse.Namespace) -> int:
    from indexers.library_models import prunable, prune

    ctx = context(args)
    store = open_store(args)
    gone = prunable(store, ctx.profile, ctx.text_encoder_choice()[0], args.device)
    if not gone:
        out("nothing to prune: every collection belongs to an active model")
        return 0
    for info in gone:
        out(f"  {info.count:>8}  {info.name}  ({info.encoder}, dim {info.dim})")
    if not args.yes:
        out(f"{len(gone)} collection(s) of models no longer active; run `mmsearch models prune --yes` to drop them")
        return 0
    prune(store, gone)
    out(f"dropped {len(gone)} collection(s)")
    return 0


def cmd_models_pull(args: argparse.Namespace) -> int:
    from encoders import EncoderError, get_encoder
    from encoders.service_encoders import ServiceEncoder
    from encoders.transcribe import BACKENDS, Transcriber

    try:  # a Whisper transcriber (`faster-whisper:base`, `openai-whisper:tiny`) or an encoder
        is_speech = args.model.partition(":")[0] in BACKENDS
        enc = Transcriber(args.model, args.device) if is_speech else get_encoder(args.model, args.device)
        if isinstance(enc, ServiceEncoder):  # Ollama pulls into its own store; an OpenAI-compatible service hosts its models
            out(f"{args.model}: {enc.pull_model()}")
            return 0
        parts = [] if is_speech else list(enc.parts())  # a bridge: pull the models it is made of
        for part in parts:
            if (got := part.pull()) is not None:
                out(f"{part.spec.id}: weights in {got}")
        path = enc.pull()
    except EncoderError as exc:  # one sentence already (encoders.pull.PullError and the like)
        raise CliError(f"could not pull {args.model}: {exc}") from None
    except Exception as exc:  # no network is the common case
        raise CliError(f"could not download weights for {args.model}: {str(exc).splitlines()[0][:200]}") from exc
    if path is None:
        if not parts:
            out(f"{args.model}: weights are packaged or need no download")
        return 0
    out(f"{args.model}: weights in {path}")
    return 0
