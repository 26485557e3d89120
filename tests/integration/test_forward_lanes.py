"""A batch forwarded in two lanes at once gives the vectors and labels of one whole forward,
in the same order: EfficientNet-Lite0 (its packaged real weights, frozen as in a long run),
the label bridge that reuses its forward pass, and CLIP's open_clip path (tiny architecture)."""

from __future__ import annotations

import numpy as np
import pytest

from encoders import get_encoder
from indexers.forward_plan import ForwardPlan
from indexers.images import embed_and_label
from indexers.model_inputs import inputs_for, prepare_inputs

pytestmark = pytest.mark.slow


def _both_schedules(encoders, images):
    prepared = [prepare_inputs(im, encoders) for im in images]
    out = {}
    for start in ("whole", "lanes"):
        with ForwardPlan(encoders, cores=2, start=start) as plan:
            assert plan.current.name == start
            out[start] = [embed_and_label(enc, inputs_for(enc, images, prepared), plan) for enc in encoders]
    return out


def test_efficientnet_and_its_label_bridge_in_lanes_equal_one_pass(test_images):
    net = get_encoder("timm:efficientnet_lite0", "cpu")
    bridge = get_encoder("label_bridge:efficientnet_lite0+all-MiniLM-L6-v2", "cpu")
    for enc in (net, bridge):
        enc.expect_documents(1000)  # frozen, as in a run of many photos
    images = [im.copy() for im in test_images] * 2  # 12: lanes of 6
    out = _both_schedules([net, bridge], images)
    assert net.forward_frozen and bridge.image_encoder.forward_frozen
    for (v_whole, l_whole), (v_lanes, l_lanes) in zip(out["whole"], out["lanes"]):
        assert v_whole.shape == v_lanes.shape == (12, v_whole.shape[1])
        assert np.allclose(v_whole, v_lanes, atol=1e-4)
        assert [lab.split(" (")[0] if lab else lab for lab in l_whole] == [lab.split(" (")[0] if lab else lab for lab in l_lanes]
    assert out["lanes"][0][1] == [None] * 12  # the plain CNN does not label; the bridge does
    labels = out["lanes"][1][1]
    assert all(lab and lab.count(";") == 4 for lab in labels)  # five ImageNet labels per photo
    assert labels[:6] == labels[6:]  # the same photos twice: the same labels, in order


def test_open_clip_in_lanes_equals_one_pass(tiny_clip_id, test_images):
    enc = get_encoder(tiny_clip_id, "cpu")
    out = _both_schedules([enc], [im.copy() for im in test_images])
    (v_whole, l_whole), (v_lanes, l_lanes) = out["whole"][0], out["lanes"][0]
    assert np.allclose(v_whole, v_lanes, atol=1e-5)
    assert l_whole == l_lanes == [None] * len(test_images)
    assert not np.allclose(v_lanes[0], v_lanes[1])  # different photos, different vectors


def test_index_images_decodes_in_lanes_and_stores_what_one_pass_stores(photos_dir, tmp_path, monkeypatch):
    """In lanes, each lane decodes its own share of a step (on the two lane threads, not the
    decode workers); one pass at a time decodes ahead on the workers. Both store the same
    rows, and both skip and report the unreadable file."""
    import threading
    from functools import partial

    import indexers.images as images
    from milvus import VectorStore
    from milvus.client import close

    (photos_dir / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    decoded_on: list[str] = []
    real_decode = images._safe_decode

    def watched_decode(*args):
        decoded_on.append(threading.current_thread().name)
        return real_decode(*args)

    monkeypatch.setattr(images, "_safe_decode", watched_decode)
    net = get_encoder("timm:efficientnet_lite0", "cpu")
    stored, threads = {}, {}
    for start in ("lanes", "whole"):
        monkeypatch.setattr(images, "ForwardPlan", partial(ForwardPlan, cores=2, start=start))
        decoded_on.clear()
        uri = str(tmp_path / f"{start}.db")
        store = VectorStore(uri)
        report = images.index_images([photos_dir], store, [net], batch_size=8, progress=False)
        assert report.indexed >= 20
        assert [f for f, _ in report.failed] == [str(photos_dir / "broken.jpg")]
        assert report.failed[0][1].startswith(("not an image", "corrupt")), report.failed
        coll = store.collection("image", net.spec.id, net.spec.dim, net.spec.metric)
        stored[start] = {r["id"]: np.asarray(r["vector"]) for r in coll.get([r["id"] for r in coll.query(limit=1000)], with_vectors=True)}
        threads[start] = set(decoded_on)
        close(uri)
    assert threads["lanes"] == {"forward-lane0_0", "forward-lane1_0"}
    assert threads["whole"] and all(name.startswith("ThreadPoolExecutor") for name in threads["whole"])
    assert stored["lanes"].keys() == stored["whole"].keys() and len(stored["lanes"]) >= 20
    for rid, vec in stored["lanes"].items():
        assert np.allclose(vec, stored["whole"][rid], atol=1e-4)
