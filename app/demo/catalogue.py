"""A small demo product catalogue built from Debian's Fashion-MNIST (`dataset-fashion-mnist`).

`prepare_catalogue(dest)` writes `dest/catalogue.csv` and `dest/images/*.png`: real
product photos (28×28 grey, upscaled and inverted onto white like shop photos),
generated titles ("Ankle boot #123"), per-class prices with a spread, a `brand`
column (kept as metadata) and a few planted cheaper near-duplicates (a shifted,
slightly brightened copy of an item at 30–60 % less) so "similar but cheaper"
has something to find. Everything is seeded, and re-running it rewrites nothing
that is already there.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import struct
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"), Path("/usr/share/fashion-mnist"))
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CATEGORIES = ("tops", "trousers", "knitwear", "dresses", "coats", "sandals", "shirts", "sneakers", "bags", "boots")
BASE_PRICE = (18.0, 39.0, 45.0, 55.0, 120.0, 35.0, 32.0, 75.0, 60.0, 95.0)  # EUR, per class
BRANDS = ("Nordlys", "Atelier Vine", "Basics Co", "Kestrel", "Umbra", "Lumen & Sons", "Pebble", "Marlow")
COLUMNS = ("id", "title", "price", "currency", "category", "image", "brand", "class_index")
IMAGE_SIDE = 224  # thumbnails fill the UI cards; the models resize to 224 anyway


class DemoDataMissing(RuntimeError):
    """Fashion-MNIST is not installed."""


def fashion_mnist_dir() -> Path:
    for d in FASHION_MNIST_DIRS:
        if (d / "t10k-images-idx3-ubyte.gz").exists():
            return d
    raise DemoDataMissing(
        "Fashion-MNIST is not installed; run `sudo apt-get install dataset-fashion-mnist` (or `make sysdeps`)"
    )


def read_idx(path: Path) -> np.ndarray:
    """An idx file (the MNIST format), gzipped or not, as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(split: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    d = fashion_mnist_dir()
    return read_idx(d / f"{split}-images-idx3-ubyte.gz"), read_idx(d / f"{split}-labels-idx1-ubyte.gz")


def product_png(pixels: np.ndarray) -> bytes:
    """A 28×28 Fashion-MNIST image as a PNG product shot: dark item on white, upscaled."""
    from PIL import Image

    img = Image.fromarray(255 - pixels.astype(np.uint8), mode="L").resize((IMAGE_SIDE, IMAGE_SIDE), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False)
    return buf.getvalue()


def near_duplicate(pixels: np.ndarray) -> np.ndarray:
    """A lookalike of an item: shifted by one pixel and a little brighter."""
    out = np.roll(pixels.astype(np.int16), shift=1, axis=1)
    out = np.clip(out * 0.92, 0, 255)
    return out.astype(np.uint8)


def _price(rng: np.random.Generator, base: float) -> float:
    p = base * float(np.exp(rng.normal(0.0, 0.35)))
    return round(max(2.0, round(p)) - 0.01, 2)


def build_rows(images: np.ndarray, labels: np.ndarray, per_class: int = 60, n_duplicates: int = 10, seed: int = 7):
    """The catalogue rows and, per row, the pixels of its image."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    pixels: list[np.ndarray] = []
    for cls in range(len(CLASSES)):
        picks = np.flatnonzero(labels == cls)[:per_class]
        for j, idx in enumerate(picks):
            number = int(idx)
            rows.append({
                "id": f"FM-{number:05d}",
                "title": f"{CLASSES[cls]} #{number}",
                "price": _price(rng, BASE_PRICE[cls]),
                "currency": "EUR",
                "category": CATEGORIES[cls],
                "image": f"images/FM-{number:05d}.png",
                "brand": BRANDS[int(rng.integers(len(BRANDS)))],
                "class_index": cls,
            })
            pixels.append(images[idx])
    # Planted cheaper near-duplicates of every k-th item, spread over the classes.
    step = max(1, len(rows) // max(1, n_duplicates))
    for i in range(0, min(len(rows), step * n_duplicates), step):
        orig = rows[i]
        dup_id = f"{orig['id']}-L"
        rows.append({
            **orig,
            "id": dup_id,
            "title": f"{orig['title']} lookalike",
            "price": round(float(orig["price"]) * float(rng.uniform(0.4, 0.7)), 2),
            "image": f"images/{dup_id}.png",
            "brand": "Basics Co",
        })
        pixels.append(near_duplicate(pixels[i]))
    return rows, pixels


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def prepare_catalogue(dest_dir: str | Path, per_class: int = 60, n_duplicates: int = 10) -> Path:
    """Build (or keep) the demo catalogue in `dest_dir`; returns the CSV's path.

    600 items by default (60 per Fashion-MNIST class) + `n_duplicates` planted cheaper lookalikes.
    """
    dest = Path(dest_dir)
    (dest / "images").mkdir(parents=True, exist_ok=True)
    images, labels = load_fashion_mnist()
    rows, pixels = build_rows(images, labels, per_class=per_class, n_duplicates=n_duplicates)
    written = 0
    for row, px in zip(rows, pixels):
        written += _write_if_changed(dest / str(row["image"]), product_png(px))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({**row, "price": f"{float(row['price']):.2f}"})
    csv_path = dest / "catalogue.csv"
    changed = _write_if_changed(csv_path, buf.getvalue().encode())
    log.info("demo catalogue: %d items in %s (%d new images, csv %s)", len(rows), dest, written, "written" if changed else "unchanged")
    return csv_path


if __name__ == "__main__":  # python -m app.demo_catalogue [DEST]
    import sys

    logging.basicConfig(level=logging.INFO)
    sys.stdout.write(f"{prepare_catalogue(sys.argv[1] if len(sys.argv) > 1 else 'data/samples/catalogue')}\n")
