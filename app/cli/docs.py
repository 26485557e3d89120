"""CLI commands for documents and questions (RAG).

- `mmsearch index docs PATH_OR_URL...` — txt, md, html, pdf files, folders and http(s) URLs.
- `mmsearch ask "QUESTION" [--json]` — an answer that cites its sources as [n].
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.cli.common import CliError, context, err, finish_report, index_through_server, open_store, out, server


def register(sub, index_sub, common: argparse.ArgumentParser) -> None:
    """Add `index docs` and `ask` to the `mmsearch` parser."""
    from indexers.defaults import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP

    enc_help = ("text encoder id, e.g. sentence_transformers:all-MiniLM-L6-v2 (default: env MMSEARCH_TEXT_ENCODER, "
                "then the encoder already used by the database, then nomic-embed-text-v1.5 if its weights are here, else MiniLM)")
    dim_help = "Matryoshka dimension: truncate and renormalise the encoder's vectors (for models trained for it, e.g. nomic-embed-text-v1.5)"

    d = index_sub.add_parser(
        "docs",
        parents=[common],
        help="index documents (txt, md, html, pdf, http(s) URLs) for `ask`",
        description="Files, folders (recursively) and http(s) URLs are split into overlapping chunks of the encoder's "
        "tokens and stored with their source, title, heading path and character offsets. Bad inputs are skipped "
        "with their reason; re-indexing writes only what changed.",
    )
    d.add_argument("paths", nargs="+", metavar="PATH_OR_URL")
    d.add_argument("--encoder", default=None, help=enc_help)
    d.add_argument("--dim", type=int, default=None, help=dim_help)
    d.add_argument("--chunk-tokens", type=int, default=DEFAULT_CHUNK_TOKENS, help=f"tokens per chunk (default {DEFAULT_CHUNK_TOKENS}; capped below the model's limit)")
    d.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help=f"tokens shared by neighbouring chunks (default {DEFAULT_OVERLAP})")
    d.add_argument("--url-timeout", type=float, default=10.0, help="seconds per URL download in all (default 10)")
    d.add_argument("--max-mb", type=float, default=50.0, help="skip files and downloads larger than this (default 50 MB)")
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_index_docs)

    a = sub.add_parser(
        "ask",
        parents=[common],
        help="ask a question of the indexed documents and transcripts",
        description="Retrieves the best passages (hybrid dense + BM25 by default), then answers with a language model "
        "(Ollama or an OpenAI-compatible endpoint) or, when none is reachable, with the best sentences of the passages. "
        "Sources are cited as [n]. Environment: MMSEARCH_LLM (e.g. ollama:llama3.2, openai:gpt-4o-mini, extractive), "
        "MMSEARCH_LLM_URL, MMSEARCH_LLM_API_KEY or OPENAI_API_KEY, OLLAMA_HOST.",
    )
    a.add_argument("question")
    a.add_argument("-k", type=int, default=5, help="passages to retrieve and cite (default 5)")
    a.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "bm25"], help="retrieval (default hybrid)")
    a.add_argument("--bm25", default="auto", choices=["auto", "milvus", "client"],
                   help="who ranks the full text: Milvus's BM25 function or the client (default auto: Milvus on a server, "
                   "the client on Milvus Lite, whose BM25 statistics are per segment)")
    a.add_argument("--rerank", default=None, metavar="MODEL", help="re-score candidates with a sentence-transformers CrossEncoder (hub id or folder)")
    a.add_argument("--llm", default=None, help="auto (default), extractive, ollama[:MODEL] or openai:MODEL")
    a.add_argument("--llm-url", default=None, help="base URL of Ollama or of the OpenAI-compatible API (…/v1)")
    a.add_argument("--llm-model", default=None, help="model name, if not given in --llm")
    a.add_argument("--encoder", default=None, help=enc_help)
    a.add_argument("--dim", type=int, default=None, help=dim_help)
    a.add_argument("--json", action="store_true", help='print {"answer", "citations": [{"source", "start_s", "end_s", "chunk_text", "score", "relevance"}]}')
    a.set_defaults(func=cmd_ask)


def _encoder_id(args: argparse.Namespace, store) -> str | None:
    """The encoder the user asked for, with `--dim` applied (`ID@DIM`); None leaves the choice to
    the store. sentence_transformers, ollama and openai ids can be truncated; others are refused."""
    if args.dim is None:
        return args.encoder
    if args.dim < 8:
        raise CliError("--dim must be at least 8")
    eid = context(args).text_encoder_choice(args.encoder)[0]
    family, _, name = eid.partition(":")
    if family == "sentence_transformers":
        return _sentence_transformers_dim(name.split("@")[0], args.dim)
    if family in _SERVICE_FAMILIES:
        return _service_dim(family, name, args.dim, args.device)
    raise CliError(f"--dim applies to sentence-transformers encoders and to ollama: and openai: ones (ID@DIM), not {eid}; "
                   "drop --dim, or choose one of those with --encoder")


_SERVICE_FAMILIES = ("ollama", "openai")


def _sentence_transformers_dim(name: str, dim: int) -> str:
    """`sentence_transformers:NAME@DIM`, with a warning for a model not trained for truncation."""
    from encoders.sentence_transformers_encoder import KNOWN_TEXT_MODELS

    if name in KNOWN_TEXT_MODELS and not KNOWN_TEXT_MODELS[name].get("matryoshka"):
        err(f"mmsearch: warning: {name} was not trained for Matryoshka truncation; {dim}-d vectors may retrieve worse")
    return f"sentence_transformers:{name}@{dim}"


def _service_dim(family: str, name: str, dim: int, device: str) -> str:
    """`ollama:MODEL@DIM` or `openai:MODEL@DIM` (a `@DIM` already there is replaced), checked
    against what is known of the model without asking the service: a model not trained for
    Matryoshka truncation, or with fewer dimensions, is refused in one sentence."""
    from encoders import EncoderError, get_encoder
    from encoders.service_encoders import ServiceEncoder, parse_model_dim

    model = parse_model_dim(name)[0]
    if not model:
        raise CliError(f"--dim needs a model name: {family}:MODEL")
    eid = f"{family}:{model}@{dim}"
    try:
        enc = get_encoder(eid, device)  # checks the size and Matryoshka training it knows of; sends nothing
    except EncoderError as exc:
        raise CliError(f"--dim {dim} cannot apply to {family}:{model}: {exc}") from None
    if isinstance(enc, ServiceEncoder) and enc.info.matryoshka is None:
        err(f"mmsearch: warning: {model} is not known to be trained for Matryoshka truncation; {dim}-d vectors may retrieve worse")
    return eid


def cmd_index_docs(args: argparse.Namespace) -> int:
    from encoders import get_encoder
    from indexers.docs import index_docs

    if not args.encoder and (code := index_through_server(args, "docs", args.paths)) is not None:
        return code
    store = open_store(args)
    eid, why = context(args).text_encoder_choice(_encoder_id(args, store))
    err(f"mmsearch: text encoder {eid} ({why})")
    report = index_docs(
        args.paths, store, get_encoder(eid, args.device), chunk_tokens=args.chunk_tokens, overlap=args.overlap,
        url_timeout=args.url_timeout, max_bytes=int(args.max_mb * 1024 * 1024), progress=not args.quiet,
    )
    return finish_report(report, args.json)


def _ask_through_server(client: Any, args: argparse.Namespace) -> int:
    """`ask` while `mmsearch serve` holds the database: the server retrieves and answers, streamed."""
    from app.search.hits import score_label

    for flag in ("rerank", "llm_url", "encoder", "dim"):
        if getattr(args, flag, None):
            raise CliError(f"--{flag.replace('_', '-')} is not available through the running server at {client.info.url}; "
                           "drop it (the server uses its own settings), or stop the server")
    body = {"question": args.question, "k": args.k, "mode": args.mode, "llm": args.llm, "model": args.llm_model}
    answer: dict[str, Any] = {}
    for line in client.stream("POST", "/ask", body):
        if line["type"] == "text" and not args.json:
            sys.stdout.write(line["text"])
            sys.stdout.flush()
        elif line["type"] == "answer":
            answer = line
        elif line["type"] == "error":
            raise CliError(line["detail"])
    if args.json:
        out(json.dumps({k: v for k, v in answer.items() if k != "type"}, ensure_ascii=False))
    else:
        out("\n")
        if answer.get("citations"):
            out("Sources:")
        for n, c in enumerate(answer.get("citations", []), 1):
            at = f" at {c['start_s']:.1f}s" if c.get("start_s") is not None else ""
            out(f"  [{n}] {c['source']}{at}  ({score_label(c.get('relevance'), c['score'])})")
    if answer.get("weak_match"):
        err(f"mmsearch: {answer['weak_match']}")
    if answer.get("note"):
        err(f"mmsearch: {answer['note']}")
    err(f"mmsearch: answered by {answer.get('generator')}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from app.search.queries import clean_text_query

    clean_text_query(args.question)  # an empty question fails before models and the database are touched
    client = server(args)
    if client is not None:
        return _ask_through_server(client, args)  # imports no models, numpy or database client
    from app.answer.ask import ask_stream, hit_label
    from app.search.hits import score_label
    from app.search.docs import Retriever

    store = open_store(args)
    retriever = Retriever(
        store, _encoder_id(args, store), device=args.device, mode=args.mode, rerank=args.rerank, bm25=args.bm25,
        configured_encoder=context(args).settings.text_encoder,
    )
    stream = ask_stream(args.question, retriever, k=args.k, llm=args.llm, llm_url=args.llm_url, model=args.llm_model, settings=context(args).settings)
    if args.json:
        answer = stream.answer()
        out(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        for piece in stream:
            sys.stdout.write(piece)
            sys.stdout.flush()
        answer = stream.answer()
        out("\n")
        if answer.hits:
            out("Sources:")
        for n, h in enumerate(answer.hits, 1):
            out(f"  [{n}] {hit_label(h)}  ({score_label(h.relevance, h.score)})")
    if answer.weak:
        err(f"mmsearch: {answer.weak}")
    if answer.note:
        err(f"mmsearch: {answer.note}")
    err(f"mmsearch: answered by {answer.generator}")
    return 0
