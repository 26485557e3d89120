"""Search-quality evaluation on the user's own labelled data (`mmsearch eval`).

Two kinds of labelled set:
- a folder per class (image→image): every image is a query; relevant = the other images
  of its class;
- a CSV with columns `query,relevant` (text→image): `relevant` lists file names
  separated by `;`, relative to the image folder.

Metrics, per encoder, with binary relevance and k = 10:
- Recall@k: the share of queries with at least one relevant item in the top k (the
  usual image-retrieval definition, as in CUB/SOP R@k);
- mAP@10: mean over queries of average precision over the top 10
  (normalised by min(10, number relevant));
- nDCG@10: DCG of the top 10 over the ideal DCG.
Plus encode time per item, the model's memory, and a calibrated "good match" threshold
(the score that best separates relevant from irrelevant hits, by F1).
"""

from __future__ import annotations

import csv
import gzip
import logging
import time
from pathlib import Path

import numpy as np

from app.errors import QueryError
from app.eval.metrics import (
    EvalResult,
    best_threshold,
    model_mb,
    rank_against_each_other,
    ranking_metrics,
    rss_mb,
)

log = logging.getLogger(__name__)
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_labelled_folder(root: Path) -> tuple[list[Path], list[str]]:
    """Images under root/CLASS/… and their class names."""
    from indexers.files import discover
    from indexers.image_io import IMAGE_EXTENSIONS

    files, _ = discover([root], IMAGE_EXTENSIONS)
    labels = [p.relative_to(root.resolve()).parts[0] if len(p.relative_to(root.resolve()).parts) > 1 else "" for p in files]
    keep = [(p, c) for p, c in zip(files, labels) if c]
    if len({c for _, c in keep}) < 2:
        raise QueryError(f"{root} needs one sub-folder per class (at least two classes) with images in them")
    return [p for p, _ in keep], [c for _, c in keep]


def _encode_images(encoder, files: list[Path]) -> tuple[np.ndarray, float]:
    from indexers.image_io import open_image

    images = [open_image(p, short_side=encoder.image_side) for p in files]
    encoder.embed_documents(images[:2])  # load + warm up, not timed
    t = time.perf_counter()
    vecs = encoder.embed_documents(images)
    return vecs, (time.perf_counter() - t) / len(images) * 1000


def eval_image_to_image(encoder, files: list[Path], labels: list[str]) -> EvalResult:
    """Every image queries the others; relevant = same class."""
    rss0 = rss_mb()
    vecs, ms = _encode_images(encoder, files)
    ranked, (recall, map10, ndcg), (thr, f1) = rank_against_each_other(vecs @ vecs.T, np.asarray(labels))
    mem = model_mb(encoder) or max(0.0, rss_mb() - rss0)
    return EvalResult(encoder.spec.id, "image→image", len(files), recall, map10, ndcg, ms, mem, thr, f1)


def eval_text_to_image(encoder, files: list[Path], queries: list[tuple[str, set[str]]]) -> EvalResult:
    """Text queries against the images; relevant = the named files."""
    vecs, ms = _encode_images(encoder, files)
    names = [p.name for p in files]
    qv = encoder.embed_queries([q for q, _ in queries])
    sims = qv @ vecs.T
    ranked = np.argsort(-sims, axis=1)[:, :10]
    relevant = [{i for i, n in enumerate(names) if n in rel} for _, rel in queries]
    recall, map10, ndcg = ranking_metrics(ranked.tolist(), relevant)
    top_scores = np.take_along_axis(sims, ranked, axis=1).ravel()
    top_labels = np.asarray([[r in rel for r in row] for row, rel in zip(ranked.tolist(), relevant)]).ravel()
    thr, f1 = best_threshold(top_scores, top_labels)
    return EvalResult(encoder.spec.id, "text→image", len(queries), recall, map10, ndcg, ms, model_mb(encoder), thr, f1)


def read_queries_csv(path: Path) -> list[tuple[str, set[str]]]:
    """Rows of `query,relevant` with `;`-separated file names."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or {"query", "relevant"} - set(reader.fieldnames):
            raise QueryError(f"{path} needs the columns query,relevant")
        for row in reader:
            q = (row.get("query") or "").strip()
            rel = {r.strip() for r in (row.get("relevant") or "").split(";") if r.strip()}
            if q and rel:
                out.append((q, rel))
    if not out:
        raise QueryError(f"{path} has no usable rows")
    return out


def prepare_fashion_mnist(dest: Path, per_class: int = 30, split: str = "t10k") -> Path:
    """A folder-per-class set of Fashion-MNIST PNGs (Debian `dataset-fashion-mnist`)."""
    from PIL import Image

    images = FASHION_MNIST_DIR / f"{split}-images-idx3-ubyte.gz"
    labels = FASHION_MNIST_DIR / f"{split}-labels-idx1-ubyte.gz"
    if not images.exists():
        raise QueryError("Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist")
    with gzip.open(labels) as f:
        lab = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    with gzip.open(images) as f:
        pix = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    counts = {c: 0 for c in range(10)}
    for i, c in enumerate(lab.tolist()):
        if counts[c] >= per_class:
            continue
        folder = dest / FASHION_CLASSES[c].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{split}_{i:05d}.png"
        if not path.exists():
            # white background, like product photos: invert the dark MNIST canvas
            Image.fromarray(255 - pix[i]).resize((112, 112), Image.BICUBIC).convert("RGB").save(path)
        counts[c] += 1
        if all(v >= per_class for v in counts.values()):
            break
    return dest


def sample_photo_queries() -> list[tuple[str, set[str]]]:
    """Text→image queries over the sample photos (scikit-image + opencv-doc) with known answers."""
    pairs = [
        ("a cat", {"chelsea.png"}),
        ("a rocket", {"rocket.jpg"}),
        ("a cup of coffee", {"coffee.png"}),
        ("a horse", {"horse.png"}),
        ("a butterfly", {"butterfly.jpg"}),
        ("oranges", {"orange.jpg", "fruits.jpg"}),
        ("a motorcycle", {"motorcycle_left.png"}),
        ("a baboon", {"baboon.jpg"}),
        ("a fish", {"HappyFish.jpg"}),
        ("a sudoku puzzle", {"sudoku.png"}),
    ]
    return pairs
