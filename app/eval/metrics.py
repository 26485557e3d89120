"""Ranking metrics, good-match thresholds and memory figures shared by the evaluations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from app.errors import QueryError


@dataclass
class EvalResult:
    """One evaluation's figures (`mmsearch eval --json` prints `to_dict()`)."""

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


def rss_mb() -> float:
    """This process's resident memory in MiB (Linux; 0 elsewhere)."""
    try:
        f = open("/proc/self/status")
    except OSError:
        return 0.0
    with f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def model_mb(encoder) -> float:
    """Parameter memory of the encoder's models in MiB, its parts' included (0 when it has none)."""
    return encoder.parameter_bytes() / 2**20


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
