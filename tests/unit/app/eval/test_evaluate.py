"""Ranking metrics and threshold calibration, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from app.eval.metrics import best_threshold, ranking_metrics


def test_perfect_and_missing_rankings():
    recall, map10, ndcg = ranking_metrics([[1, 2, 3]], [{1, 2}])
    assert recall == {1: 1.0, 5: 1.0, 10: 1.0}
    assert map10 == pytest.approx(1.0) and ndcg == pytest.approx(1.0)
    recall, map10, ndcg = ranking_metrics([[7, 8, 9]], [{1}])
    assert recall[10] == 0.0 and map10 == 0.0 and ndcg == 0.0


def test_hand_computed_values():
    # relevant at ranks 2 and 4 of 2 relevant items
    recall, map10, ndcg = ranking_metrics([[9, 1, 8, 2]], [{1, 2}])
    assert recall[1] == 0.0 and recall[5] == 1.0
    assert map10 == pytest.approx((1 / 2 + 2 / 4) / 2)
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    idcg = 1 + 1 / np.log2(3)
    assert ndcg == pytest.approx(dcg / idcg)


def test_queries_without_relevant_items_are_left_out():
    recall, _, _ = ranking_metrics([[1], [5]], [{1}, set()])
    assert recall[1] == 1.0


def test_threshold_separates_the_classes():
    scores = np.array([0.9, 0.85, 0.8, 0.4, 0.3, 0.2])
    labels = np.array([1, 1, 1, 0, 0, 0])
    thr, f1 = best_threshold(scores, labels)
    assert thr == pytest.approx(0.8) and f1 == pytest.approx(1.0)


def test_chance_similarities_skip_pairs_from_one_file():
    from indexers.calibration import _cross_file_similarities

    vecs = np.eye(4, dtype=np.float32)
    vecs[1] = vecs[0]  # two windows of one file: identical, yet not evidence of a match
    sims = _cross_file_similarities(vecs, ["a.wav", "a.wav", "b.wav", None])
    assert sims.size == 5 and sims.max() == 0.0  # 6 pairs less the one inside a.wav


def test_thresholds_per_collection_and_eval_ones_win(tmp_path, monkeypatch):
    from indexers import config
    from indexers.calibration import save, save_for_collection, threshold_for

    config.configure(calibration_path=tmp_path / "cal.json")  # restored by the conftest
    library, scratch = str(tmp_path / "library.db"), str(tmp_path / "a" / ".." / "scratch.db")
    assert threshold_for("aisfx", "audio", "audio", library) is None
    save_for_collection(library, "audio__aisfx", "audio", 0.95)
    save_for_collection(scratch, "audio__aisfx", "audio", 0.80)  # a small folder in another database
    assert threshold_for("aisfx", "audio", "audio", library) == 0.95
    assert threshold_for("aisfx", "audio", "audio", str(tmp_path / "scratch.db")) == 0.80  # same file, other spelling
    assert threshold_for("aisfx", "audio", "audio", str(tmp_path / "other.db")) is None
    save("aisfx", "audio", "audio", 0.97)  # `mmsearch eval --save`: the model's, everywhere
    assert threshold_for("aisfx", "audio", "audio", library) == 0.97
    assert threshold_for("aisfx", "audio", "audio", str(tmp_path / "other.db")) == 0.97
    assert threshold_for("aisfx", "image", "audio", library) is None
