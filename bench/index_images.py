"""Photo indexing throughput beside its peers, per encoder, over the same JPEGs.

    python -m bench.index_images [--n 96] [--rounds 3] [--encoders ID,ID,...] [--device cpu|cuda] [--no-rclip]

For each encoder (default: CLIP ViT-B-32, EfficientNet-Lite0, ResNet50, SigLIP ViT-B-16; random
weights where a real checkpoint is not on this machine: the same speed), each contender indexes
the same N JPEGs (crops and scales of the sample photos, 640-1024 px):

- mmsearch end to end: `indexers.images.index_images` into a fresh Milvus Lite database (hash;
  decode, thumbnail and prepare the model input on worker threads; embed in batches; upsert;
  calibrate).
- naive loop: for each file, PIL decode, the library's own preprocess, one forward pass.
- DataLoader batches: a `torch.utils.data.DataLoader(num_workers=2)` of batches of 32 that
  decode and preprocess in worker processes, the library's own model in the main process
  (clip-retrieval style); open_clip, timm and torchvision used directly, not through mmsearch.
- batched forward alone: the encoder's `embed_documents` over images decoded beforehand
  (preprocess included), torch on every core: the ceiling for the model. An encoder that
  measures its CPU batch size (`Encoder.cpu_batch_sizes`, EfficientNet-Lite0) runs here at
  each of its candidate sizes, fixed, and the round keeps the fastest: the best fixed size
  in hindsight, which mmsearch has to find while it indexes.
- rclip (CLIP encoders only): rclip 3.x's own indexer (onnxruntime, ViT-B-32 at 256 px) in a
  throwaway virtualenv, with a random-weight model exported to its ONNX layout (it downloads
  its weights otherwise). Skipped with a note when it cannot be installed.

Model loading is outside every timing (each contender is warmed up first); mmsearch's measured
batch size starts afresh in every round, as in a new `mmsearch index` process. The rounds are
interleaved (every contender once per round, in a rotating order) so that the load of a shared
machine falls on all of them alike; the table gives the median of the rounds and each
contender's ratio to the best peer.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.common import fresh_dir, index_images_timed, markdown_table, warmed_encoder, write_result

log = logging.getLogger("bench.index_images")

DEFAULT_ENCODERS = (
    "open_clip:ViT-B-32/random",
    "timm:efficientnet_lite0",
    "torchvision:resnet50/random",
    "open_clip:ViT-B-16-SigLIP/random",
)
# The goal per contender kind: mmsearch ÷ peer (issue 18).
GOALS = {"dataloader": 1.0, "forward": 0.9}
RCLIP_DIR = Path(os.environ.get("MMSEARCH_BENCH_RCLIP", Path(tempfile.gettempdir()) / "mmsearch-bench-rclip"))


def make_images(dest: Path, n: int) -> list[Path]:
    """N distinct JPEGs (crops and scales of the sample photos, ~640-1024 px)."""
    from PIL import Image, ImageOps

    from app.demo.photos import prepare_photos

    src = sorted(prepare_photos(dest.parent / "src").glob("*"))
    bases = [ImageOps.exif_transpose(Image.open(p)).convert("RGB") for p in src]
    out = []
    for i in range(n):
        base = bases[i % len(bases)]
        scale = 1.0 + 0.05 * (i // len(bases))
        w, h = base.size
        im = base.resize((max(64, int(w * scale)), max(64, int(h * scale))))
        im = im.crop((i % 7, i % 5, im.width - (i % 3), im.height - (i % 4)))
        if max(im.size) < 640:
            f = 640 / max(im.size)
            im = im.resize((int(im.width * f), int(im.height * f)))
        path = dest / f"img_{i:05d}.jpg"
        im.save(path, "JPEG", quality=90)
        out.append(path)
    return out


# -- the library's own model and preprocess, as a user of that library writes it ------------
def native_model(encoder_id: str, device: str) -> tuple[Any, Callable[[Any], Any]]:
    """(forward: batch tensor → features, preprocess: PIL → tensor) straight from the library."""
    import torch

    family, _, name = encoder_id.partition(":")
    if family == "open_clip":
        import open_clip

        arch = name.split("/")[0]
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None, device=device)
        return model.eval().encode_image, preprocess
    if family == "timm":
        import timm

        model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).eval().to(device)  # pooled features
        cfg = timm.data.resolve_data_config({}, model=model)
        return model, timm.data.create_transform(**cfg)
    if family == "torchvision":
        from torchvision.models import ResNet50_Weights, resnet50

        model = resnet50(weights=None)
        model.fc = torch.nn.Identity()
        return model.eval().to(device), ResNet50_Weights.IMAGENET1K_V2.transforms()
    raise SystemExit(f"no native peer for {encoder_id}")


class _Files:
    """A map-style dataset of image files through a preprocess (picklable for workers)."""

    def __init__(self, files: list[Path], preprocess: Callable[[Any], Any]) -> None:
        self.files, self.preprocess = files, preprocess

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Any:
        from PIL import Image

        with Image.open(self.files[i]) as im:
            return self.preprocess(im.convert("RGB"))


def run_dataloader(files: list[Path], forward: Callable, preprocess: Callable, device: str, batch: int = 32, workers: int = 2) -> int:
    """clip-retrieval style: decode + preprocess in DataLoader worker processes, batched forward."""
    import torch
    from torch.utils.data import DataLoader

    done = 0
    loader = DataLoader(_Files(files, preprocess), batch_size=batch, num_workers=workers)
    with torch.inference_mode():
        for x in loader:
            feats = forward(x.to(device))
            feats = torch.nn.functional.normalize(feats.flatten(1) if feats.dim() > 2 else feats, dim=-1)
            done += len(feats.cpu())
    return done


def run_naive(files: list[Path], forward: Callable, preprocess: Callable, device: str) -> int:
    """One image per forward: PIL decode, preprocess, forward, normalise."""
    import torch
    from PIL import Image

    done = 0
    with torch.inference_mode():
        for p in files:
            with Image.open(p) as im:
                x = preprocess(im.convert("RGB")).unsqueeze(0).to(device)
            feats = forward(x)
            torch.nn.functional.normalize(feats.flatten(1), dim=-1).cpu()
            done += 1
    return done


# -- rclip in a throwaway virtualenv ---------------------------------------------------------
_RCLIP_DRIVER = r'''
import json, os, pathlib, sys, tempfile, time
models, images = sys.argv[1], sys.argv[2]
data = tempfile.mkdtemp()
for name in os.listdir(models):
    os.symlink(os.path.join(models, name), os.path.join(data, name))
os.environ["RCLIP_DATADIR"] = data
from PIL import Image
from rclip import db, main, model
m = model.Model()
m.ensure_downloaded()
first = sorted(pathlib.Path(images).glob("*.jpg"))[0]
m.compute_image_features([Image.open(first)])  # load the session outside the timing
r = main.RClip(model_instance=m, database=db.DB(pathlib.Path(data) / "db.sqlite3"), indexing_batch_size=8, exclude_dirs=None)
t0 = time.perf_counter()
r.ensure_index(images)
seconds = time.perf_counter() - t0
r.close()
print(json.dumps({"seconds": seconds}))
'''

_RCLIP_EXPORT = r'''
import shutil, sys
from pathlib import Path
import open_clip, torch
out = Path(sys.argv[1])
model, _, _ = open_clip.create_model_and_transforms("ViT-B-32-256", pretrained=None)
model.eval()
class Visual(torch.nn.Module):
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, x): return self.m.encode_image(x)
class Textual(torch.nn.Module):
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, x): return self.m.encode_text(x)
d = out / "ViT-B-32-256-datacomp_s34b_b86k"
d.mkdir(parents=True, exist_ok=True)
(out / "tokenizer").mkdir(exist_ok=True)
# grad mode on: the export must not take torch's fused attention fast path (no ONNX op for it)
kw = dict(dynamo=False, input_names=["input"], output_names=["output"], dynamic_axes={"input": {0: "b"}, "output": {0: "b"}}, opset_version=17)
torch.onnx.export(Visual(model), (torch.randn(2, 3, 256, 256),), str(d / "visual.onnx"), **kw)
torch.onnx.export(Textual(model), (torch.zeros(2, 77, dtype=torch.long),), str(d / "textual.onnx"), **kw)
shutil.copy(Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz", out / "tokenizer")
'''


def prepare_rclip(root: Path = RCLIP_DIR) -> tuple[Path, Path] | str:
    """(python of a virtualenv with rclip, its model folder), set up once; or why not."""
    py, models = root / "venv" / "bin" / "python", root / "models"
    ok = models / "ViT-B-32-256-datacomp_s34b_b86k" / "visual.onnx"

    def run(cmd: list[str], **kw: Any) -> None:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900, **kw)

    try:
        if not py.exists():
            run([sys.executable, "-m", "venv", str(root / "venv")])
        if subprocess.run([str(py), "-c", "import rclip"], capture_output=True).returncode != 0:
            run([str(py), "-m", "pip", "install", "-q", "rclip"])
        if not ok.exists():  # rclip downloads its weights: export random ones of the same architecture
            pkgs = root / "onnx-pkgs"
            if not (pkgs / "onnx").exists():
                run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--target", str(pkgs), "onnx", "ml_dtypes"])
            script = root / "export.py"
            script.write_text(_RCLIP_EXPORT)
            run([sys.executable, str(script), str(models)], env={**os.environ, "PYTHONPATH": str(pkgs)})
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"rclip could not be set up ({str(detail).strip().splitlines()[-1][:160] if detail else exc})"
    (root / "driver.py").write_text(_RCLIP_DRIVER)
    return py, models


def run_rclip(setup: tuple[Path, Path], images: Path) -> float:
    """Seconds rclip takes to index `images` (a fresh database; model loaded beforehand)."""
    py, models = setup
    res = subprocess.run([str(py), str(models.parent / "driver.py"), str(models), str(images)], capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "rclip failed")
    return float(json.loads(res.stdout.strip().splitlines()[-1])["seconds"])


# -- one encoder, all contenders ---------------------------------------------------------------
def bench_encoder(
    encoder_id: str, files: list[Path], images_dir: Path, root: Path, device: str, rounds: int, rclip: tuple[Path, Path] | str | None, naive_n: int
) -> tuple[list[list[str]], list[str]]:
    """Table rows for one encoder (median images/s, ratio to the best peer) and notes."""
    import torch

    from encoders.frozen import FREEZE_AT
    from indexers.image_io import open_image

    n = len(files)
    notes: list[str] = []
    decoded = [open_image(p) for p in files]
    enc = warmed_encoder(encoder_id, device, decoded, n)  # as index_images does: n photos may freeze a CNN
    if enc.freezes_on_cpu:
        notes.append(f"forward frozen for the CPU (encoders.frozen, from {FREEZE_AT} images): {'yes' if enc.forward_frozen else 'no'}")
    forward, preprocess = native_model(encoder_id, device)
    run_naive(files[:2], forward, preprocess, device)  # warm up the native model
    cores = torch.get_num_threads()

    def e2e() -> float:
        return index_images_timed(images_dir, enc, root / "db" / "e2e.db", n)

    def timed(fn: Callable[[], Any]) -> Callable[[], float]:
        def run() -> float:
            torch.set_num_threads(cores)
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

        return run

    # an encoder that measures its batch size: each candidate fixed, the fastest per round
    fixed_sizes = list(enc.cpu_batch_sizes) if enc.batch_plan is not None else [enc.batch_size]
    forward_by_size: dict[int, list[float]] = {b: [] for b in fixed_sizes}
    if len(fixed_sizes) > 1:  # warm every batch shape up (oneDNN builds its kernels per shape)
        for size in fixed_sizes:
            enc.with_batch_size(size).embed_documents([im.copy() for im in decoded[:size]])

    def forward_alone() -> float:
        best = float("inf")
        for size in fixed_sizes:
            # fresh image objects each time: EfficientNet keeps the outputs of the inputs it has
            # just seen (for the label bridge), which would answer a repeat of the same objects
            images = [im.copy() for im in decoded]
            fixed = enc.with_batch_size(size) if len(fixed_sizes) > 1 else enc
            torch.set_num_threads(cores)
            t0 = time.perf_counter()
            fixed.embed_documents(images)
            dt = time.perf_counter() - t0
            forward_by_size[size].append(dt)
            best = min(best, dt)
        return best

    contenders: dict[str, Callable[[], float]] = {
        "mmsearch": e2e,
        "naive": timed(lambda: run_naive(files[:naive_n], forward, preprocess, device)),
        "dataloader": timed(lambda: run_dataloader(files, forward, preprocess, device)),
        "forward": forward_alone,
    }
    if encoder_id.startswith("open_clip:ViT-B-32") and isinstance(rclip, tuple):
        contenders["rclip"] = lambda: run_rclip(rclip, images_dir)
    elif encoder_id.startswith("open_clip:ViT-B-32") and isinstance(rclip, str):
        notes.append(rclip)
    seconds: dict[str, list[float]] = {k: [] for k in contenders}
    names = list(contenders)
    loads: list[float] = []
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        loads.append(os.getloadavg()[0])
        for name in order:
            try:
                seconds[name].append(contenders[name]())
            except Exception as exc:  # a peer that fails is reported, not fatal
                notes.append(f"{name} failed: {exc}")
                contenders[name] = lambda: float("nan")
            log.info("%s round %d %s: %.2f s", encoder_id, r + 1, name, seconds[name][-1] if seconds[name] else float("nan"))
        torch.set_num_threads(cores)
    notes.append("load average (1 min) at the start of each round: " + " / ".join(f"{x:.1f}" for x in loads))
    if len(fixed_sizes) > 1:
        notes.append(
            "forward alone by fixed batch size, images/s per round: "
            + "; ".join(f"{b}: " + " / ".join(f"{n / s:.1f}" for s in v) for b, v in forward_by_size.items())
        )
    medians = {k: statistics.median(v) for k, v in seconds.items() if v}
    count = {k: naive_n if k == "naive" else n for k in seconds}
    rate = {k: count[k] / s for k, s in medians.items() if s == s}  # NaN: the peer failed
    best_peer = max((k for k in rate if k != "mmsearch"), key=rate.__getitem__)
    labels = {
        "mmsearch": "mmsearch `index_images` end to end",
        "naive": "naive loop: one image per forward (PIL decode + preprocess)",
        "dataloader": "DataLoader(num_workers=2), batches of 32",
        "forward": "encoder's batched forward alone (pre-decoded)" + (f", best of fixed batches {'/'.join(map(str, fixed_sizes))}" if len(fixed_sizes) > 1 else ""),
        "rclip": "rclip 3.x (onnxruntime, ViT-B-32 at 256 px)",
    }
    rows = []
    for k in names:
        if k not in rate:
            continue
        vs = rate["mmsearch"] / rate[k] if "mmsearch" in rate else float("nan")
        clip_only = k == "dataloader" and not encoder_id.startswith("open_clip:ViT-B-32")
        goal = f" (goal ≥ {GOALS[k]:.1f}×)" if k in GOALS and not clip_only else ""
        rows.append([
            encoder_id,
            labels[k] + (" ← best peer" if k == best_peer else ""),
            f"{rate[k]:.1f}",
            "" if k == "mmsearch" else f"{vs:.2f}×{goal}",
            " / ".join(f"{count[k] / s:.1f}" for s in seconds[k]),
        ])
    return rows, notes


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=96, help="images (default 96)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported (default 3)")
    ap.add_argument("--encoders", default=",".join(DEFAULT_ENCODERS), help="comma-separated encoder ids")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--naive-n", type=int, default=None, help="images for the (slow) naive loop; default: all")
    ap.add_argument("--no-rclip", action="store_true", help="skip rclip (else it is set up once in $MMSEARCH_BENCH_RCLIP)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)

    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    rclip: tuple[Path, Path] | str | None = None
    if not args.no_rclip and any(e.startswith("open_clip:ViT-B-32") for e in encoders):
        rclip = "rclip needs a CPU here" if args.device != "cpu" else prepare_rclip()
    rows: list[list[str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = fresh_dir(root / "images")
        files = make_images(images, args.n)
        for i, enc_id in enumerate(encoders):
            r, nt = bench_encoder(enc_id, files, images, root, args.device, args.rounds, rclip, min(args.naive_n or args.n, args.n))
            rows += r
            notes += [f"{enc_id}: {x}" for x in nt]
            shutil.rmtree(root / "db", ignore_errors=True)
            partial = [] if i + 1 == len(encoders) else [f"- partial: {i + 1} of {len(encoders)} encoders so far"]
            _write(args, encoders, rows, notes + partial, quiet=bool(partial))


def _write(args: argparse.Namespace, encoders: list[str], rows: list[list[str]], notes: list[str], quiet: bool) -> None:
    table = markdown_table(["encoder", "contender", "images/s (median)", "mmsearch ÷ it", "rounds (images/s)"], rows)
    command = f"python -m bench.index_images --n {args.n} --rounds {args.rounds}" + (f" --naive-n {args.naive_n}" if args.naive_n else "") + (
        f" --encoders {args.encoders}" if encoders != list(DEFAULT_ENCODERS) else ""
    ) + (" --no-rclip" if args.no_rclip else "")
    write_result(
        "index_images",
        "Photo indexing throughput beside its peers",
        f"n={args.n} JPEGs (640-1024 px; the naive loop: the first {min(args.naive_n or args.n, args.n)}), {args.rounds} interleaved rounds, "
        f"device={args.device}; command: `{command}`",
        table,
        notes="\n".join(
            [
                "Goals (issue 18): mmsearch end to end ≥ 1.0× the DataLoader batches with CLIP ViT-B-32, and ≥ 0.9× "
                "the encoder's batched forward alone with every encoder. Random weights run at the speed of real ones.",
                "The machine is shared with other agents' jobs: absolute figures move with their load; the interleaved "
                "rounds let every contender see the same noise, so read the ratios.",
                *(x if x.startswith("- ") else f"- {x}" for x in notes),
            ]
        ),
        pkgs=("torch", "timm", "open-clip-torch", "torchvision", "onnxruntime"),
        quiet=quiet,
    )


if __name__ == "__main__":
    main()
