"""Per-encoder "good match" thresholds, so search can say "no good match" instead of
padding the results with unrelated items.

Two sources, the better one wins:
- `eval`: `mmsearch eval … --save` stores the score that best separates relevant from
  irrelevant hits (F1) on the user's labelled data;
- `distribution`: after indexing, from the collection's own scores: for queries of the
  stored items' own kind (a photo, a sound clip), the 99th percentile of similarities
  between random pairs of stored items from different files; for text queries (photos by
  words, questions over documents), the 95th percentile of the best scores that
  meaningless queries ("qwerty", "the", …) reach.
  Anything scoring above both is better than chance.

Thresholds live in `$MMSEARCH_HOME/calibration.json`: those from an eval keyed by encoder,
item kind and query kind (they hold wherever that model is used), those from a distribution
by database and collection (a small test folder must not move the cut-off of a large
library indexed with the same model).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from pathlib import Path

import numpy as np

from indexers import config

log = logging.getLogger(__name__)
_lock = threading.Lock()

# (item kind, query kind) of the searches whose scores are one model's similarities, so a
# cut-off applies; text over sounds, videos and documents fuses rankings that are not comparable.
CUT_OFF_SEARCHES = (("image", "text"), ("image", "image"), ("audio", "audio"))
_QUERY_NAMES = {"text": "words", "image": "photo", "audio": "clip"}

NULL_QUERIES = (
    "qwerty", "the", "asdf jkl", "something", "a", "lorem ipsum dolor", "xyzzy", "untitled",
    "random words here", "nothing in particular", "12345", "hello",
)


def _path() -> Path:
    from encoders.weights import mmsearch_home

    return config.current().calibration_path or mmsearch_home() / "calibration.json"


def _key(encoder_id: str, item_kind: str, query_kind: str) -> str:
    return f"{encoder_id}|{item_kind}|{query_kind}"


def _collection_key(store_uri: str, collection_name: str, query_kind: str) -> str:
    from milvus.client import normalise_uri

    return f"{normalise_uri(store_uri)}#{collection_name}|{query_kind}"


def load() -> dict[str, dict]:
    p = _path()
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def save(encoder_id: str, item_kind: str, query_kind: str, threshold: float) -> None:
    """Record the threshold an eval found for a model (it wins over distribution ones)."""
    _write(_key(encoder_id, item_kind, query_kind), threshold, "eval")


def save_for_collection(store_uri: str, collection_name: str, query_kind: str, threshold: float) -> None:
    """Record the threshold of one collection's own score distribution."""
    _write(_collection_key(store_uri, collection_name, query_kind), threshold, "distribution")


def _write(key: str, threshold: float, basis: str) -> None:
    with _lock:
        data = load()
        data[key] = {"threshold": round(float(threshold), 4), "basis": basis}
        p = _path()
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, p)


def threshold_for(encoder_id: str, item_kind: str, query_kind: str, store_uri: str | None = None) -> float | None:
    """The good-match score for `query_kind` queries over `item_kind` items embedded by
    `encoder_id`: from an eval if there was one, else from the collection in `store_uri`."""
    entry = _entry(load(), encoder_id, item_kind, query_kind, store_uri)
    return float(entry["threshold"]) if entry else None


def _entry(data: dict[str, dict], encoder_id: str, item_kind: str, query_kind: str, store_uri: str | None) -> dict | None:
    """The recorded threshold that applies (see `threshold_for`), with its basis."""
    from milvus.store import collection_name

    model = data.get(_key(encoder_id, item_kind, query_kind))
    if model and model.get("basis") == "eval":
        return model
    if store_uri is not None:
        own = data.get(_collection_key(store_uri, collection_name(item_kind, encoder_id), query_kind))
        if own:
            return own
    return model  # model-wide, as earlier versions recorded every threshold


def describe_thresholds(encoder_id: str, item_kind: str, store_uri: str) -> str:
    """e.g. "words ≥ 0.412 · photo ≥ 0.630 (eval)" for a collection, "" when none applies."""
    parts = []
    data = load()
    for kind, query_kind in CUT_OFF_SEARCHES:
        entry = _entry(data, encoder_id, kind, query_kind, store_uri) if kind == item_kind else None
        if entry:
            basis = " (eval)" if entry.get("basis") == "eval" else ""
            parts.append(f"{_QUERY_NAMES[query_kind]} ≥ {float(entry['threshold']):.3f}{basis}")
    return " · ".join(parts)


def finish_collections(collections, changed: bool) -> None:
    """The end of an index run: flush each (encoder, collection) so its rows are searchable, and
    re-calibrate its good-match thresholds when the run `changed` anything."""
    for encoder, collection in collections:
        collection.flush()
        if changed:
            calibrate_from_distribution(collection, encoder)


def calibrate_from_distribution(collection, encoder, sample: int = 400, seed: int = 0) -> dict[str, float]:
    """Thresholds from the stored vectors' own score distribution (see the module docstring)."""
    if encoder.spec.id.startswith("fake"):
        return {}  # hash vectors carry no meaning to calibrate
    out: dict[str, float] = {}
    # queries of the stored items' own kind (a photo, a clip): pairs of stored items
    own_kinds = [k for k in encoder.spec.query_kinds if k != "text" and k in encoder.spec.document_kinds]
    if own_kinds:
        # ids first, then the chosen rows' vectors: Milvus Lite took 223 s to return 2,000 rows
        # with 1280-d vectors in one query, against 0.9 s for this (1,000 rows: 5.4 s)
        ids = [r["id"] for r in collection.query(limit=sample * 5)]
        if len(ids) > sample:  # a spread of the collection, not only its first files
            keep = np.random.default_rng(seed).choice(len(ids), sample, replace=False)
            ids = [ids[i] for i in sorted(keep)]
        rows = [r for i in range(0, len(ids), 100) for r in collection.get(ids[i : i + 100], with_vectors=True)]
        if len(rows) >= 5:
            vecs = np.asarray([r["vector"] for r in rows], dtype=np.float32)
            pairs = _cross_file_similarities(vecs, [r.get("source") for r in rows])
            if pairs.size >= 10:
                out.update(dict.fromkeys(own_kinds, float(np.percentile(pairs, 99))))
    if "text" in encoder.spec.query_kinds and collection.count() >= 5:  # the best score over the whole collection
        from encoders.base import EncoderError

        try:
            hits = collection.search(null_query_vectors(encoder), k=1)
        except EncoderError as exc:  # e.g. a text tower whose tokenizer is missing: the rows are stored all the same
            log.warning("%s: no good-match threshold for words (%s)", collection.name, exc)
            hits = []
        best = [h[0]["score"] for h in hits if h]
        if best:
            out["text"] = float(np.percentile(best, 95))
    for query_kind, thr in out.items():
        save_for_collection(collection.store.uri, collection.name, query_kind, thr)
        log.info("calibrated %s (%s queries): good match ≥ %.3f", collection.name, query_kind, thr)
    return out


def null_query_vectors(encoder) -> np.ndarray:
    """The meaningless queries embedded by `encoder`, once per loaded model in a process: with
    CLIP's text tower they cost ~0.35 s on 2 cores, a tenth of indexing 96 photos."""
    origin = getattr(encoder, "_origin", None) or encoder
    with _lock:
        vecs = _NULL_VECTORS.get(origin)
    if vecs is None:
        vecs = encoder.embed_queries(list(NULL_QUERIES))
        with _lock:
            _NULL_VECTORS[origin] = vecs
    return vecs


_NULL_VECTORS: "weakref.WeakKeyDictionary[object, np.ndarray]" = weakref.WeakKeyDictionary()


def _cross_file_similarities(vecs: np.ndarray, sources: list[str | None]) -> np.ndarray:
    """Similarities of every pair of rows from different files (windows or frames of one
    file resemble each other and would say nothing about chance)."""
    sims = vecs @ vecs.T
    src = np.asarray([s or f"row{i}" for i, s in enumerate(sources)], dtype=object)
    upper = np.triu(np.ones(sims.shape, dtype=bool), k=1)
    return sims[upper & (src[:, None] != src[None, :])]
