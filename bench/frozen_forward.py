"""What freezing a CNN's forward (`encoders.frozen`) gives end to end: `index_images` over the same
photos with an eager and a frozen copy of each encoder, interleaved in one process.

    python -m bench.frozen_forward [--n 256] [--rounds 3] [--encoders ID,ID]

One encoder (random weights for ResNet50, the packaged ones for EfficientNet-Lite0), frozen
before the first timed run, indexes with its frozen graph and, in alternate runs, eagerly
(`Encoder.allow_freezing(False)`). Each run indexes into a fresh Milvus Lite `.db`; medians
of the rounds.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from bench.common import index_images_timed, markdown_table, warmed_encoder, write_result
from bench.index_images import make_images

log = logging.getLogger("bench.frozen_forward")
DEFAULT_ENCODERS = ("timm:efficientnet_lite0", "torchvision:resnet50/random")


def compare(encoder_id: str, images: Path, n: int, rounds: int, root: Path) -> list[str]:
    """One table row: eager and frozen images/s end to end (medians), their ratio and the rounds."""
    from indexers.image_io import open_image

    sample = [open_image(p) for p in sorted(images.glob("*.jpg"))[:4]]
    enc = warmed_encoder(encoder_id, "cpu", sample, n)  # frozen, and the frozen graph warmed up
    if not enc.forward_frozen:
        raise SystemExit(f"{encoder_id} did not freeze (not a CNN that freezes on a CPU?)")
    rates: dict[str, list[float]] = {"eager": [], "frozen": []}
    for r in range(rounds):
        order = ["eager", "frozen"] if r % 2 == 0 else ["frozen", "eager"]
        for name in order:
            enc.allow_freezing(name == "frozen")
            seconds = index_images_timed(images, enc, root / f"{name}_{r}" / "bench.db", n)
            rates[name].append(n / seconds)
            log.info("%s round %d %s: %.1f images/s", encoder_id, r + 1, name, n / seconds)
    med = {k: statistics.median(v) for k, v in rates.items()}
    return [
        encoder_id, f"{med['eager']:.1f}", f"{med['frozen']:.1f}", f"{med['frozen'] / med['eager']:.2f}×",
        "; ".join(f"{k}: " + " / ".join(f"{x:.1f}" for x in v) for k, v in rates.items()),
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="photos (default 256)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--encoders", default=",".join(DEFAULT_ENCODERS))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    root = Path(tempfile.mkdtemp(prefix="mmsearch-frozen-"))
    try:
        images = root / "images"
        images.mkdir()
        make_images(images, args.n)
        load_before = os.getloadavg()[0]
        rows = [compare(e, images, args.n, args.rounds, root / "db") for e in args.encoders.split(",")]
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table = markdown_table(("encoder", "eager images/s", "frozen images/s", "frozen ÷ eager", "rounds (images/s)"), rows)
    notes = (
        f"`index_images` end to end (decode, thumbnails, embed, upsert, calibration), {args.n} JPEGs of 640-1024 px, "
        f"eager and frozen interleaved, medians of {args.rounds} rounds. Load average (1 min) before / after: "
        f"{load_before:.1f} / {load_after:.1f}.\nCommand: `python -m bench.frozen_forward --n {args.n} --rounds {args.rounds}`."
    )
    write_result("frozen_forward", "A frozen CNN forward, end to end", f"n={args.n}, rounds={args.rounds}, device=cpu", table, notes, pkgs=("torch", "timm", "torchvision"))


if __name__ == "__main__":
    main()
