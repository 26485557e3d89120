"""Image indexing throughput: end to end vs the encoder's batched forward vs a one-image loop.

    python -m bench.index_images [--n 96] [--encoder timm:efficientnet_lite0] [--device cpu|cuda]

- end to end: `indexers.images.index_images` on N JPEG files (hash; decode, thumbnail and
  prepare the model input on worker threads; embed in batches; upsert into Milvus Lite).
- forward only: the encoder's `embed_documents` on N already-decoded images, batched:
  the ceiling the indexer can reach.
- one-image loop: the Milvus bootcamp's way: for each file, open it, embed it alone,
  insert one row.
Model load time is excluded from all three (the encoder is warmed up first).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from bench.common import fresh_dir, markdown_table, timer, write_result


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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=96, help="images (default 96)")
    ap.add_argument("--encoder", default="timm:efficientnet_lite0")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=None, help="the model's batch; default: the encoder's preferred size for the device")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from encoders import get_encoder
    from indexers.files import file_digest, item_id
    from indexers.image_io import open_image
    from indexers.images import index_images
    from indexers.model_inputs import pipeline_batch
    from milvus import VectorStore
    from milvus.client import close

    enc = get_encoder(args.encoder, args.device, args.batch_size)
    args.batch_size = enc.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = make_images(fresh_dir(root / "images"), args.n)
        decoded = [open_image(p) for p in files]
        enc.embed_documents(decoded[: min(4, len(decoded))])  # load + warm up

        with timer() as t_forward:
            enc.embed_documents(decoded)

        store = VectorStore(str(root / "e2e.db"))
        with timer() as t_e2e:
            report = index_images([root / "images"], store, [enc], progress=False)
        assert report.indexed == args.n, report.summary()
        close(store.uri)

        loop_store = VectorStore(str(root / "loop.db"))
        coll = loop_store.collection("image", enc.spec.id, enc.spec.dim)
        with timer() as t_loop:
            for p in files:
                img = open_image(p)
                vec = enc.embed_documents([img])[0]
                coll.upsert([{"id": item_id(file_digest(p)), "vector": vec, "source": str(p), "kind": "image"}])
        close(loop_store.uri)

    n = args.n
    e2e, fwd, loop = n / t_e2e[0], n / t_forward[0], n / t_loop[0]
    rows = [
        ["end to end (mmsearch index images)", f"{e2e:.1f}", f"{e2e / fwd:.2f}×", f"{e2e / loop:.2f}×"],
        ["encoder batched forward only", f"{fwd:.1f}", "1.00×", f"{fwd / loop:.2f}×"],
        ["one image per call loop (bootcamp style)", f"{loop:.1f}", f"{loop / fwd:.2f}×", "1.00×"],
    ]
    table = markdown_table(["path", "images/s", "vs forward", "vs loop"], rows)
    write_result(
        "index_images",
        "Image indexing throughput",
        f"n={n}, encoder={args.encoder}, device={args.device}, model batch={args.batch_size}, pipeline step={pipeline_batch([enc])}",
        table,
        notes="Goal: end to end ≥ 0.9× forward-only and ≥ 5× the loop (the 5× is a GPU figure; on 2 CPU cores batching buys far less).",
        pkgs=("torch", "timm", "open-clip-torch"),
    )


if __name__ == "__main__":
    main()
