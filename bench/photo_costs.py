"""CPU time a photo costs at each step of indexing, per encoder, and the bound it sets.

    python -m bench.photo_costs [--n 128] [--encoders ID,ID,...]

Over the same JPEGs as `bench.index_images` (crops and scales of the sample photos, 640-1024 px),
each step on its own, as CPU milliseconds per photo (process time, so a forward on two threads
counts both):

- decode: `indexers.image_io.open_image` (JPEG at a reduced DCT scale, EXIF turn, RGB, ≤ 512 px);
- thumbnail: `save_thumbnail` (256-px letterboxed JPEG, written to a temporary folder);
- prepare: the encoder's `prepare_document` (resize, crop, normalise into its input tensor);
- forward, one pass: `embed_documents` over the prepared inputs on every core, batched as the
  encoder batches, with the CNNs' forward frozen as in a run of 256 photos or more;
- forward, in lanes: the same inputs cut in two and forwarded at once on one thread each
  (`indexers.forward_plan.ForwardPlan`'s lanes), as a long photo run does on a CPU.

Then the forward alone (images/s, wall: prepare + forward from decoded photos, on every core,
as `bench.index_images` measures it), and the most an end-to-end run in lanes can reach, every core busy:
cores ÷ (decode + thumbnail + prepare + forward in lanes). Their ratio bounds end to end ÷
forward alone. Writes bench/results/photo_costs.md.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.common import fresh_dir, markdown_table, warmed_encoder, write_result
from bench.index_images import DEFAULT_ENCODERS, make_images
from indexers.forward_plan import ForwardPlan

log = logging.getLogger("bench.photo_costs")


def cpu_ms(fn: Callable[[Any], Any], items: list[Any]) -> float:
    """CPU milliseconds of the process per item for `fn` over `items`."""
    t0 = time.process_time()
    for item in items:
        fn(item)
    return 1000 * (time.process_time() - t0) / len(items)


def costs(encoder_id: str, files: list[Path], thumbs: Path) -> list[str]:
    """One table row for `encoder_id`."""
    import torch

    from encoders.frozen import FREEZE_AT
    from indexers.image_io import open_image, save_thumbnail

    decoded = [open_image(p) for p in files]
    enc = warmed_encoder(encoder_id, "cpu", decoded, max(FREEZE_AT, len(files)))  # as a run of 256+ photos
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the steps on the decode workers run one to a thread
    try:
        decode = cpu_ms(open_image, files)
        thumbnail = cpu_ms(lambda im: save_thumbnail(im, thumbs / "t.jpg"), decoded)
        prepared: list[Any] = []
        prepare = cpu_ms(lambda im: prepared.append(enc.prepare_document(im)), decoded)
    finally:
        torch.set_num_threads(threads)
    if not enc.prepare_key:
        raise SystemExit(f"{encoder_id} prepares no input ahead of its forward: not a photo encoder this bench covers")
    # the batch shape warmed up on fresh inputs (an encoder may keep the outputs of the last ones)
    enc.embed_documents([enc.prepare_document(im) for im in decoded[:8]])
    forward = _cpu_ms_of(lambda: enc.embed_documents(prepared), len(prepared))
    with ForwardPlan([enc], start="lanes") as plan:
        plan.in_lanes(enc.embed_documents, fresh(prepared[:8]))  # one thread each: warmed up too
        lanes = _cpu_ms_of(lambda: plan.in_lanes(enc.embed_documents, fresh(prepared)), len(prepared))
        cores = plan.cores
    t0 = time.perf_counter()
    enc.embed_documents([im.copy() for im in decoded])  # fresh objects: none is answered from the recent outputs
    alone = len(decoded) / (time.perf_counter() - t0)
    bound = 1000 * cores / (decode + thumbnail + prepare + lanes)
    log.info("%s: decode %.1f, thumbnail %.1f, prepare %.1f, forward %.1f (lanes %.1f) ms", encoder_id, decode, thumbnail, prepare, forward, lanes)
    return [
        encoder_id + (" (frozen)" if enc.forward_frozen else ""),
        f"{decode:.1f}", f"{thumbnail:.1f}", f"{prepare:.1f}", f"{forward:.1f}", f"{lanes:.1f}",
        f"{alone:.1f}", f"{bound:.1f}", f"{bound / alone:.2f}×",
    ]


def _cpu_ms_of(fn: Callable[[], Any], items: int) -> float:
    """CPU milliseconds of the process per item for one call of `fn` over `items` items."""
    c0 = time.process_time()
    fn()
    return 1000 * (time.process_time() - c0) / items


def fresh(prepared: list[Any]) -> list[Any]:
    """New input objects with the same tensors (EfficientNet answers repeats of the very same
    objects from its recent outputs)."""
    from encoders.base import PreparedInput

    return [PreparedInput(p.key, p.tensor) if isinstance(p, PreparedInput) else p for p in prepared]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128, help="photos (default 128)")
    ap.add_argument("--encoders", default=",".join(DEFAULT_ENCODERS), help="comma-separated encoder ids")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = make_images(fresh_dir(root / "images"), args.n)
        thumbs = fresh_dir(root / "thumbs")
        rows = [costs(enc_id, files, thumbs) for enc_id in encoders]
    table = markdown_table(
        ("encoder", "decode ms", "thumbnail ms", "prepare ms", "forward ms, one pass", "forward ms, in lanes",
         "forward alone images/s", "end to end bound images/s", "bound ÷ forward alone"),
        rows,
    )
    notes = (
        "CPU milliseconds per photo (process time: a forward on every core counts each core's share). "
        "decode, thumbnail and prepare run one to a thread, as a lane runs them; the forward in one pass "
        "on every core, and in lanes (two at once, one thread each), batched as the encoder batches. "
        "Forward alone: wall images/s of `embed_documents` over decoded photos on every core "
        "(prepare included), the encoder choosing its batch size (`bench.index_images` takes the best "
        "of its fixed sizes). The end-to-end bound is cores ÷ "
        "(decode + thumbnail + prepare + forward in lanes): every core busy, nothing waiting.\n"
        f"Command: `python -m bench.photo_costs --n {args.n}`."
    )
    write_result("photo_costs", "CPU a photo costs at each step of indexing", f"n={args.n}, CPU", table, notes, pkgs=("torch", "pillow"))


if __name__ == "__main__":
    main()
