"""The label bridge's cache of label vectors, written by two threads (the pipeline's two lanes)
or two processes at once."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from encoders import label_bridge
from encoders.fake import FakeEncoder

LABELS = [f"label {i}" for i in range(50)]


def test_two_writers_at_once_both_get_the_vectors_and_leave_one_file(monkeypatch, tmp_path):
    monkeypatch.setattr(label_bridge, "mmsearch_home", lambda: tmp_path)
    # both writers have saved their file before either renames it: the moment a shared
    # temporary name lost one writer's file (FileNotFoundError in a first offline index run)
    both_saved = threading.Barrier(2, timeout=60)
    real_replace = os.replace

    def replace_when_both_saved(src, dst):
        both_saved.wait()
        return real_replace(src, dst)

    monkeypatch.setattr(label_bridge.os, "replace", replace_when_both_saved)
    text = FakeEncoder(dim=8)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: label_bridge.cached_label_vectors(text, LABELS, "labels"), range(2)))

    expected = text.embed_documents(LABELS)
    for vecs in results:
        np.testing.assert_array_equal(vecs, expected)
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].startswith("labels_") and files[0].endswith(".npy") and ".tmp" not in files[0]
    monkeypatch.setattr(label_bridge.os, "replace", real_replace)
    np.testing.assert_array_equal(label_bridge.cached_label_vectors(text, LABELS, "labels"), expected)  # read back


def test_a_failed_write_leaves_no_temporary_file(monkeypatch, tmp_path):
    monkeypatch.setattr(label_bridge, "mmsearch_home", lambda: tmp_path)

    def no_room(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(label_bridge.os, "replace", no_room)
    try:
        label_bridge.cached_label_vectors(FakeEncoder(dim=8), LABELS, "labels")
    except OSError as exc:
        assert exc.errno == 28
    else:
        raise AssertionError("the write error was swallowed")
    assert list((tmp_path / "cache").iterdir()) == []
