"""Encoder plumbing that needs no model: the fake encoder, the registry, profiles, weights paths."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from encoders import EncoderError, WeightsNotFoundError, get_encoder
from encoders.base import l2_normalise
from encoders.profiles import PROFILES, resolve_profile
from encoders.weights import local_weights, mmsearch_home, override_env_var, slug


def test_fake_encoder_is_deterministic_unit_norm_and_batch_independent():
    enc = get_encoder("fake:16")
    texts = [f"text {i}" for i in range(70)]
    enc.batch_size = 32
    all_at_once = enc.embed_documents(texts)
    one_by_one = np.concatenate([enc.embed_documents([t]) for t in texts])
    assert all_at_once.shape == (70, 16) and all_at_once.dtype == np.float32
    assert np.allclose(np.linalg.norm(all_at_once, axis=1), 1.0, atol=1e-6)
    assert np.allclose(all_at_once, one_by_one)
    assert not np.allclose(all_at_once[0], all_at_once[1])
    img = Image.new("RGB", (8, 8), (1, 2, 3))
    assert np.allclose(enc.embed_queries([img]), enc.embed_documents([img.copy()]))
    assert enc.embed_documents([]).shape == (0, 16)


def test_registry_shares_instances_and_lists_known_ids_for_unknown():
    assert get_encoder("fake:16") is get_encoder("fake:16")
    assert get_encoder("fake:8").spec.dim == 8
    with pytest.raises(EncoderError) as exc:
        get_encoder("nonsense:model")
    assert "open_clip:ViT-B-32/laion2b_s34b_b79k" in str(exc.value) and "timm:efficientnet_lite0" in str(exc.value)
    with pytest.raises(EncoderError):
        get_encoder("open_clip:No-Such-Model/random")


def test_l2_normalise_leaves_zero_rows_at_zero():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    out = l2_normalise(x)
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]]) and out.dtype == np.float32


def test_profiles():
    off = PROFILES["offline"]
    assert not off.shared_text_image_space  # label bridge for text, EfficientNet for photos
    assert PROFILES["full"].shared_text_image_space
    assert resolve_profile("offline")[0] is off
    with pytest.raises(EncoderError, match="unknown profile"):
        resolve_profile("fastest")


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("MMSEARCH_PROFILE", "OFFLINE")
    profile, why = resolve_profile(None)
    assert profile.name == "offline" and "explicitly" in why


def test_weights_resolution_order(tmp_path, monkeypatch):
    eid = "open_clip:ViT-B-32/laion2b_s34b_b79k"
    env = override_env_var(eid)
    assert env == "MMSEARCH_WEIGHTS_OPEN_CLIP_VIT_B_32_LAION2B_S34B_B79K"
    home = tmp_path / "home"
    monkeypatch.setenv("MMSEARCH_HOME", str(home))
    assert mmsearch_home() == home
    assert local_weights(eid, "w.bin") is None
    cached = home / "weights" / slug(eid) / "w.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert local_weights(eid, "w.bin") == cached
    explicit = tmp_path / "mine.bin"
    explicit.write_bytes(b"y")
    monkeypatch.setenv(env, str(explicit))
    assert local_weights(eid, "w.bin") == explicit  # the explicit path wins
    monkeypatch.setenv(env, str(tmp_path / "missing.bin"))
    assert local_weights(eid, "w.bin") is None  # a wrong explicit path is not silently replaced


def test_weights_not_found_message_names_the_fix():
    err = WeightsNotFoundError("open_clip:ViT-B-32/x", "MMSEARCH_WEIGHTS_X")
    assert "mmsearch models pull open_clip:ViT-B-32/x" in str(err) and "MMSEARCH_WEIGHTS_X" in str(err)
