"""Per-encoder "good match" thresholds, so search can say "no good match" instead of
padding the results with unrelated items.

Two sources, the better one wins:
- `eval`: `mmsearch eval … --save` stores the score that best separates relevant from
  irrelevant hits (F1) on the user's labelled data;
- `distribution`: after indexing, from the collection's own scores: for photo queries,
  the 99th percentile of similarities between random pairs of stored items; for text
  queries, the 95th percentile of the best scores that meaningless queries ("qwerty",
  "the", …) reach. Anything scoring above both is better than chance.

Thresholds live in `$MMSEARCH_HOME/calibration.json`, keyed by encoder, item kind and
query kind (a property of the model and the data, not of one database file).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
_lock = threading.Lock()

NULL_QUERIES = (
    "qwerty", "the", "asdf jkl", "something", "a", "lorem ipsum dolor", "xyzzy", "untitled",
    "random words here", "nothing in particular", "12345", "hello",
)


def _path() -> Path:
    from encoders.weights import mmsearch_home

    return Path(os.environ.get("MMSEARCH_CALIBRATION") or mmsearch_home() / "calibration.json")


def _key(encoder_id: str, item_kind: str, query_kind: str) -> str:
    return f"{encoder_id}|{item_kind}|{query_kind}"


def load() -> dict[str, dict]:
    p = _path()
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def save(encoder_id: str, item_kind: str, query_kind: str, threshold: float, basis: str) -> None:
    """Record a threshold; a distribution-based one never replaces one from an eval."""
    with _lock:
        data = load()
        key = _key(encoder_id, item_kind, query_kind)
        if basis == "distribution" and data.get(key, {}).get("basis") == "eval":
            return
        data[key] = {"threshold": round(float(threshold), 4), "basis": basis}
        p = _path()
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, p)


def threshold_for(encoder_id: str, item_kind: str, query_kind: str) -> float | None:
    entry = load().get(_key(encoder_id, item_kind, query_kind))
    return float(entry["threshold"]) if entry else None


def calibrate_from_distribution(collection, encoder, sample: int = 400, seed: int = 0) -> dict[str, float]:
    """Thresholds from the stored vectors' own score distribution (see the module docstring)."""
    if encoder.spec.id.startswith("fake"):
        return {}  # hash vectors carry no meaning to calibrate
    rows = collection.query(limit=sample, with_vectors=True)
    if len(rows) < 5:
        return {}
    vecs = np.asarray([r["vector"] for r in rows], dtype=np.float32)
    out: dict[str, float] = {}
    if "image" in encoder.spec.query_kinds:
        sims = vecs @ vecs.T
        pairs = sims[np.triu_indices(len(vecs), k=1)]
        out["image"] = float(np.percentile(pairs, 99))
    if "text" in encoder.spec.query_kinds:
        q = encoder.embed_queries(list(NULL_QUERIES))
        best = (q @ vecs.T).max(axis=1)
        out["text"] = float(np.percentile(best, 95))
    for query_kind, thr in out.items():
        save(encoder.spec.id, collection.kind, query_kind, thr, "distribution")
        log.info("calibrated %s (%s queries): good match ≥ %.3f", collection.name, query_kind, thr)
    return out
