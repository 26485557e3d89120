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
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from app.search import QueryError

log = logging.getLogger(__name__)
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass
class EvalResult:
    encoder: str
    task: str
    queries: int
    recall: dict[int, float]
    map10: float
    ndcg10: float
    encode_ms: float  # per item, batched
    model_mb: float
    threshold: float
    threshold_f1: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        notes = {"notes": list(self.notes)} if self.notes else {}
        return {
            "encoder": self.encoder,
            "task": self.task,
            "queries": self.queries,
            **{f"recall@{k}": round(v, 4) for k, v in self.recall.items()},
            "map@10": round(self.map10, 4),
            "ndcg@10": round(self.ndcg10, 4),
            "encode_ms_per_item": round(self.encode_ms, 2),
            "model_mb": round(self.model_mb, 1),
            "good_match_threshold": round(self.threshold, 4),
            "threshold_f1": round(self.threshold_f1, 4),
            **notes,
        }


def ranking_metrics(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], ks: Sequence[int] = (1, 5, 10)) -> tuple[dict[int, float], float, float]:
    """Recall@k (hit rate), mAP@10 and nDCG@10 for ranked result lists and relevant sets."""
    recall = {k: 0.0 for k in ks}
    ap_sum = ndcg_sum = 0.0
    n = 0
    for ranks, rel in zip(ranked, relevant):
        if not rel:
            continue
        n += 1
        hits = [1.0 if r in rel else 0.0 for r in ranks[:10]]
        for k in ks:
            recall[k] += 1.0 if any(r in rel for r in ranks[:k]) else 0.0
        precisions = [sum(hits[: i + 1]) / (i + 1) for i, h in enumerate(hits) if h]
        ap_sum += sum(precisions) / min(10, len(rel))
        dcg = sum(h / np.log2(i + 2) for i, h in enumerate(hits))
        idcg = sum(1.0 / np.log2(i + 2) for i in range(min(10, len(rel))))
        ndcg_sum += dcg / idcg
    if n == 0:
        raise QueryError("no query has a relevant item: check the labels")
    return {k: v / n for k, v in recall.items()}, ap_sum / n, ndcg_sum / n


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The score cut-off that maximises F1 of 'good match' = relevant, and that F1."""
    order = np.argsort(-scores)
    s, y = scores[order], labels[order].astype(float)
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    total = y.sum()
    if total == 0:
        return float(s.max()) + 1e-6, 0.0
    f1 = 2 * tp / (tp + fp + total)
    i = int(np.argmax(f1))
    return float(s[i]), float(f1[i])


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


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _model_mb(encoder) -> float:
    """Parameter memory of the encoder's torch modules (0 when it has none)."""
    total = 0
    for attr in ("_model", "image_encoder", "text_encoder"):
        obj = getattr(encoder, attr, None)
        if obj is None:
            continue
        if hasattr(obj, "parameters"):
            total += sum(p.numel() * p.element_size() for p in obj.parameters())
        else:
            total += int(_model_mb(obj) * 2**20)
    return total / 2**20


def _encode_images(encoder, files: list[Path]) -> tuple[np.ndarray, float]:
    from indexers.image_io import open_image

    images = [open_image(p) for p in files]
    encoder.embed_documents(images[:2])  # load + warm up, not timed
    t = time.perf_counter()
    vecs = encoder.embed_documents(images)
    return vecs, (time.perf_counter() - t) / len(images) * 1000


def eval_image_to_image(encoder, files: list[Path], labels: list[str]) -> EvalResult:
    """Every image queries the others; relevant = same class."""
    rss0 = _rss_mb()
    vecs, ms = _encode_images(encoder, files)
    ranked, (recall, map10, ndcg), (thr, f1) = rank_against_each_other(vecs @ vecs.T, np.asarray(labels))
    mem = _model_mb(encoder) or max(0.0, _rss_mb() - rss0)
    return EvalResult(encoder.spec.id, "image→image", len(files), recall, map10, ndcg, ms, mem, thr, f1)


def rank_against_each_other(
    sims: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, tuple[dict[int, float], float, float], tuple[float, float]]:
    """Every item queries all the others (the diagonal of `sims` is left out); relevant =
    the same label. Returns the top-10 indices per query, (recall@k, mAP@10, nDCG@10) and
    the good-match (threshold, F1)."""
    sims = sims.copy()
    np.fill_diagonal(sims, -np.inf)
    ranked = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    others = ~np.eye(len(labels), dtype=bool)
    relevant = [set(np.flatnonzero((labels == labels[i]) & others[i]).tolist()) for i in range(len(labels))]
    metrics = ranking_metrics(ranked.tolist(), relevant)
    top_scores = np.take_along_axis(sims, ranked, axis=1).ravel()
    top_labels = (labels[ranked] == labels[:, None]).ravel()
    return ranked, metrics, best_threshold(top_scores, top_labels)


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
    return EvalResult(encoder.spec.id, "text→image", len(queries), recall, map10, ndcg, ms, _model_mb(encoder), thr, f1)


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


def env_threshold_path() -> Path:
    from encoders.weights import mmsearch_home

    return Path(os.environ.get("MMSEARCH_CALIBRATION") or mmsearch_home() / "calibration.json")
