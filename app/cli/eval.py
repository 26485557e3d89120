"""`mmsearch eval`: search quality of the active encoders on labelled data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.common import CliError, choose_profile, err, out


def register(sub, common: argparse.ArgumentParser) -> None:
    ev = sub.add_parser("eval", parents=[common], help="Recall@k, mAP@10, nDCG@10 of the encoders on labelled data")
    src = ev.add_mutually_exclusive_group(required=True)
    src.add_argument("folder", nargs="?", help="a folder with one sub-folder of images per class (image→image)")
    src.add_argument(
        "--dataset",
        choices=["fashion-mnist", "sample-photos", "freedesktop-sounds", "librivox-wer", "docs-qa"],
        help="a shipped labelled set: fashion-mnist (image→image), sample-photos (text→image), "
        "freedesktop-sounds (audio→audio near-duplicates), librivox-wer (speech transcribers' word error rate), "
        "docs-qa (questions over licence texts and Korean articles: passage and file hit rates of dense, BM25, hybrid)",
    )
    ev.add_argument("--queries", help="CSV query,relevant (file names separated by ;) for text→image over FOLDER")
    ev.add_argument("--per-class", type=int, default=30, help="fashion-mnist: images per class (default 30)")
    ev.add_argument("--limit", type=int, help="freedesktop-sounds: this many sounds (spread evenly); librivox-wer: the first N clips; "
                    "docs-qa: N questions per language (spread evenly)")
    ev.add_argument(
        "--transcriber", action="append",
        help="librivox-wer: a transcriber to evaluate (repeatable; default faster-whisper:tiny.en, faster-whisper:base, openai-whisper:tiny.en)",
    )
    ev.add_argument(
        "--encoder", action="append",
        help="docs-qa: a text encoder to evaluate (repeatable; default sentence_transformers:all-MiniLM-L6-v2)",
    )
    ev.add_argument(
        "--fusion", action="append",
        help="docs-qa: also score hybrid with this fusion (repeatable), e.g. rrf:k=60,w=2, dense-first:b=0.3, "
        "convex:a=0.7; `all` compares every candidate",
    )
    ev.add_argument("--save", action="store_true", help="store the calibrated good-match thresholds for image and sound search")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from app.demo.photos import prepare_photos
    from app.eval import images as evaluate
    from encoders import get_encoder
    from indexers.calibration import save

    if args.dataset == "librivox-wer" and args.save:
        raise CliError("--save stores good-match thresholds of search; librivox-wer measures transcription and has none")
    if args.dataset == "docs-qa" and args.save:
        raise CliError("--save stores good-match thresholds of photo and sound search; docs-qa measures document retrieval and has none")
    if args.dataset == "librivox-wer":
        return _eval_speech(args)
    if args.dataset == "docs-qa":
        return _eval_docs_qa(args)
    profile = choose_profile(args)
    results = []
    if args.dataset == "freedesktop-sounds":
        from app.eval import audio as evaluate_audio

        if not profile.audio:
            raise CliError(f"profile {profile.name} names no audio encoder")
        clips = evaluate_audio.load_sound_set(limit=args.limit)
        results.append(evaluate_audio.eval_near_duplicates(get_encoder(profile.audio, args.device), clips))
    elif args.dataset == "sample-photos":
        folder = prepare_photos(Path("data") / "samples" / "photos")
        files = sorted(p for p in folder.iterdir() if p.is_file())
        enc = get_encoder(profile.text_to_image, args.device)
        results.append(evaluate.eval_text_to_image(enc, files, evaluate.sample_photo_queries()))
    else:
        if args.dataset == "fashion-mnist":
            folder = evaluate.prepare_fashion_mnist(Path("data") / "eval" / "fashion-mnist", per_class=args.per_class)
        else:
            folder = Path(args.folder)
            if not folder.is_dir():
                raise CliError(f"no such folder: {folder}")
        files, labels = evaluate.load_labelled_folder(folder)
        if args.queries:
            enc = get_encoder(profile.text_to_image, args.device)
            results.append(evaluate.eval_text_to_image(enc, files, evaluate.read_queries_csv(Path(args.queries))))
        else:
            for eid in profile.image_encoders:
                enc = get_encoder(eid, args.device)
                if "image" in enc.spec.query_kinds:
                    results.append(evaluate.eval_image_to_image(enc, files, labels))
    if args.save:
        for r in results:
            query_kind, item_kind = r.task.split("→")  # e.g. "text→image"
            save(r.encoder, item_kind, query_kind, r.threshold)
    if args.json:
        out(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
        return 0
    out("| encoder | task | queries | R@1 | R@5 | R@10 | mAP@10 | nDCG@10 | ms/item | model MB | good match ≥ (F1) |")
    out("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        out(
            f"| {r.encoder} | {r.task} | {r.queries} | {r.recall[1]:.3f} | {r.recall[5]:.3f} | {r.recall[10]:.3f} | "
            f"{r.map10:.3f} | {r.ndcg10:.3f} | {r.encode_ms:.1f} | {r.model_mb:.0f} | {r.threshold:.3f} ({r.threshold_f1:.2f}) |"
        )
    for r in results:
        for note in r.notes:
            out(f"{r.encoder}: {note}")
    if args.save:
        err("mmsearch: thresholds saved; search now uses them to say 'no good match'")
    return 0


def _eval_speech(args: argparse.Namespace) -> int:
    """`--dataset librivox-wer`: WER, speed and memory of each transcriber; missing ones say why."""
    from app.eval import speech as evaluate_speech

    clips = evaluate_speech.librivox_clips(limit=args.limit)
    ids = args.transcriber or list(evaluate_speech.DEFAULT_TRANSCRIBERS)
    results = [evaluate_speech.eval_transcriber(tid, clips, args.device) for tid in ids]
    if args.json:
        out(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
    else:
        out("| transcriber | task | clips | audio s | WER | wall s | RTF | memory MB | weights |")
        out("|---|---|---|---|---|---|---|---|---|")
        for r in results:
            if r.error:
                out(f"| {r.transcriber} | speech→text | {r.clips} | {r.audio_s:.1f} | – | – | – | – | {r.error} |")
            else:
                out(
                    f"| {r.transcriber} | speech→text | {r.clips} | {r.audio_s:.1f} | {r.wer:.3f} | {r.wall_s:.1f} | "
                    f"{r.rtf:.3f} | {r.memory_mb:.0f} | {r.weights} |"
                )
    if all(r.error for r in results):
        raise CliError(f"no transcriber could run: {results[0].error}")
    return 0


def _eval_docs_qa(args: argparse.Namespace) -> int:
    """`--dataset docs-qa`: passage@3 and file@1 of dense, BM25 and hybrid, per language and encoder."""
    from app.eval import docs_qa
    from app.search.fusion import DEFAULT_FUSION, parse_fusion

    specs = args.fusion or []
    try:
        fusions = [DEFAULT_FUSION] + [parse_fusion(f) for f in (docs_qa.FUSION_CANDIDATES if "all" in specs else specs)]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    fusions = list(dict.fromkeys(fusions))
    questions = docs_qa.pick_questions(args.limit)
    ids = args.encoder or list(docs_qa.DEFAULT_ENCODERS)
    try:
        results = [docs_qa.eval_docs_qa(eid, questions, fusions, device=args.device or "auto") for eid in ids]
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        out(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
    else:
        n_en = sum(q.lang == "en" for q in questions)
        out(f"docs-qa: {n_en} English and {len(questions) - n_en} Korean questions; passage@3 = the key phrase in one of "
            f"the first 3 passages, passage@1 = in the first, file@1 = the first passage from the expected file; "
            f"(default) = `hybrid`'s fusion")
        out("| encoder | retrieval | EN passage@3 | EN passage@1 | EN file@1 | KO passage@3 | KO passage@1 | KO file@1 | "
            "all passage@3 | all passage@1 | all file@1 |")
        out("|---|---|---|---|---|---|---|---|---|---|---|")

        def f(x: float | None) -> str:
            return "–" if x is None else f"{x:.3f}"

        for r in results:
            if r.error:
                out(f"| {r.encoder} | – | – | – | – | – | – | – | – | – | – |  {r.error}")
                continue
            for name, s in r.scores.items():
                label = name + (" (default)" if name == f"hybrid {DEFAULT_FUSION.spec}" else "")
                out(f"| {r.encoder} | {label} | " + " | ".join(f(s.rate(lang, i)) for lang in ("en", "ko", None) for _, i in docs_qa.METRICS) + " |")
        for r in results:
            if not r.error:
                out(f"{r.encoder}: {r.chunks} passages indexed in {r.index_s:.0f} s")
    if all(r.error for r in results):
        raise CliError(f"no text encoder could run: {results[0].error}")
    return 0
