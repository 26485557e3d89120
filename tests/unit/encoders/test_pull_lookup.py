"""The issue's bug, at unit scale: what `mmsearch models pull` writes (the Hugging Face cache
layout inside $MMSEARCH_HOME/weights) is what `weights_available()` (doctor, --profile auto) and
`load` find, for CLIP (weights only) and SigLIP (weights + its Hugging Face tokenizer). Files
come from the loopback stand-in hub (tests/model_hub.py); they are placeholders, never loaded."""

from __future__ import annotations

import pytest

from encoders.open_clip_encoder import OpenClipEncoder
from encoders.pull import pull_hub_file
from encoders.weights import weights_cache_dir
from tests.conftest import apply_env
from tests.model_hub import CLIP_REPO, SIGLIP_REPO, ModelHub


@pytest.fixture
def hub(tmp_path, monkeypatch):
    from huggingface_hub import constants

    src = tmp_path / "src"
    src.mkdir()
    for name in ("open_clip_model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (src / name).write_bytes(name.encode() * 10)
    with ModelHub() as h:
        h.add(CLIP_REPO, "open_clip_model.safetensors", src / "open_clip_model.safetensors")
        for name in ("open_clip_model.safetensors", "tokenizer.json", "tokenizer_config.json"):
            h.add(SIGLIP_REPO, name, src / name)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", h.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", h.url + "/{repo_id}/resolve/{revision}/{filename}")
        apply_env(monkeypatch, MMSEARCH_HOME=str(tmp_path / "home"))
        yield h


def test_pulled_clip_weights_are_found_by_weights_available(hub):
    enc = OpenClipEncoder("ViT-B-32", "laion2b_s34b_b79k", device="cpu")
    assert not enc.weights_available()
    repo, names = enc.hub_weights()
    assert (repo, names) == (CLIP_REPO, ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"))
    path = pull_hub_file(repo, names)
    assert path is not None and "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K" in str(path)
    assert enc.weights_available() and enc.resolve_files().weights == path


def test_siglip_needs_its_tokenizer_too(hub):
    enc = OpenClipEncoder("ViT-B-16-SigLIP", "webli", device="cpu")
    assert enc.hf_tokenizer_repo() == SIGLIP_REPO and enc.hf_text_model() is None
    pull_hub_file(SIGLIP_REPO, ("open_clip_model.safetensors",))
    assert enc.resolve_files().weights is not None and not enc.weights_available()  # weights alone: not usable offline
    pull_hub_file(SIGLIP_REPO, ("tokenizer.json",))
    files = enc.resolve_files()
    assert enc.weights_available() and files.tokenizer_dir == files.weights.parent
    assert weights_cache_dir() in files.weights.parents
