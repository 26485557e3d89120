"""`mmsearch models pull` leaves models that run offline, found by the lookup `doctor`,
`--profile auto` and the encoders use, proven against a loopback stand-in for the model hubs
(tests/model_hub.py: Hugging Face's resolve API and the direct-URL hosts, serving random-init
weights of the real architectures under the real file names, and tokenizer files built here).

The pulls run the real command line in a process of its own, as a user would (HF_ENDPOINT and
MMSEARCH_MODELS_MIRROR pointed at the stand-in, empty HF and torch caches). One thing is
replaced there: the sha256 prefix in torchvision's file name, which random weights cannot match
(`python -m tests.model_hub`; the real CLI refusing them is tested below). Then the stand-in is
shut and every encoder loads and embeds with HF_HUB_OFFLINE=1 and nothing to connect to.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from encoders.ids import PANNS_ID, RESNET50_ID
from tests.conftest import apply_env
from tests.model_hub import (
    CLIP_REPO,
    RESNET50_FILE,
    SIGLIP_REPO,
    build_standin_files,
    run_cli,
    serve,
    user_env,
)

pytestmark = pytest.mark.slow

CLIP = "open_clip:ViT-B-32/laion2b_s34b_b79k"
SIGLIP = "open_clip:ViT-B-16-SigLIP/webli"
WHISPER = "faster-whisper:tiny.en"
PULLED = (CLIP, SIGLIP, RESNET50_ID, PANNS_ID)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


_env = user_env
_cli = run_cli


@pytest.fixture(scope="module")
def pulled(pulled_models):
    """The session's pull of every full-profile model, SigLIP and Whisper tiny.en (CLIP's and
    CNN14's downloads cut short once, to be resumed), then `doctor` (tests/integration/conftest.py)."""
    assert set(pulled_models["runs"]) == {*PULLED, WHISPER}
    return pulled_models


def test_pull_prints_where_the_weights_are_and_resumes_cut_downloads(pulled):
    for mid, run in pulled["runs"].items():
        assert run.returncode == 0, f"{mid}: {run.stderr[-2000:]}"
        assert f"{mid}: weights in {pulled['home'] / 'weights'}" in run.stdout
    reqs = pulled["requests"]
    clip_gets = [r for m, p, r in reqs if m == "GET" and p.startswith(f"/{CLIP_REPO}/") and p.endswith("open_clip_model.safetensors")]
    assert clip_gets == [None, f"bytes={20 << 20}-"]  # huggingface_hub resumes after its last whole 10 MiB chunk
    panns_gets = [r for m, p, r in reqs if m == "GET" and "Cnn14" in p]
    assert panns_gets == [None, f"bytes={40 << 20}-"]
    siglip_files = {p.rsplit("/", 1)[1] for m, p, _ in reqs if m == "GET" and p.startswith(f"/{SIGLIP_REPO}/")}
    assert {"open_clip_model.safetensors", "tokenizer.json", "tokenizer_config.json", "spiece.model", "special_tokens_map.json"} <= siglip_files


def test_doctor_reports_the_pulled_models_ok_and_profile_auto_full(pulled):
    run = pulled["doctor"]
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for mid in PULLED:
        assert f"  ok       {mid}" in lines, run.stdout
    assert any(line.startswith("profile     full: auto: CLIP, ResNet50 and PANNs CNN14 weights found") for line in lines), run.stdout


def test_after_pull_every_encoder_embeds_offline(pulled, monkeypatch, test_images):
    """The stand-in is shut and HF_HUB_OFFLINE=1 (tests/conftest.py): fresh encoders (not the
    registry's shared ones) load what the pull left and embed photos, texts and a sound."""
    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE
    home = pulled["home"]
    apply_env(monkeypatch, MMSEARCH_HOME=str(home))
    monkeypatch.setenv("TORCH_HOME", str(pulled["tmp"] / "torch_home"))
    from encoders.open_clip_encoder import OpenClipEncoder
    from encoders.panns_encoder import PannsEncoder
    from encoders.profiles import resolve_profile
    from encoders.torchvision_encoder import TorchvisionResNet50Encoder
    from encoders.transcribe import Transcriber

    profile, why = resolve_profile("auto", "cpu")
    assert profile.name == "full" and profile.audio == PANNS_ID, why

    def unit(x: np.ndarray) -> bool:
        return bool(np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-4))

    for model, tag, dim in (("ViT-B-32", "laion2b_s34b_b79k", 512), ("ViT-B-16-SigLIP", "webli", 768)):
        enc = OpenClipEncoder(model, tag, device="cpu")
        assert enc.weights_available()
        img = enc.embed_documents(test_images[:2])
        txt = enc.embed_queries(["a photo of a red car", "a dog"])
        assert img.shape == (2, dim) and txt.shape == (2, dim) and unit(img) and unit(txt)
        assert Path(enc.weights_source).is_relative_to(home / "weights"), enc.weights_source
        del enc
    resnet = TorchvisionResNet50Encoder(device="cpu")
    vecs = resnet.embed_documents(test_images[:2])
    assert vecs.shape == (2, 2048) and unit(vecs) and Path(resnet.weights_source) == home / "weights" / "torchvision_resnet50" / RESNET50_FILE
    del resnet
    panns = PannsEncoder(device="cpu")
    clip = np.sin(np.linspace(0, 2000, 32000, dtype=np.float32))
    assert panns.embed_documents([clip]).shape == (1, 2048) and Path(panns.weights_source).is_relative_to(home / "weights")
    assert len(panns.tags([clip], top=3)[0]) == 3
    del panns
    whisper = Transcriber(WHISPER, device="cpu")
    assert whisper.weights_available() and whisper.load().weights_source.startswith(f"cache {home / 'weights'}")
    assert whisper.transcribe(np.zeros(16000, dtype=np.float32)).duration_s == 1.0


def test_the_real_cli_refuses_weights_that_are_not_the_published_file(standin_files, tmp_path):
    """Without the test's replacement, torchvision's published sha256 prefix (in the file name)
    rejects the stand-in's random ResNet50: one sentence, nothing left behind."""
    with serve({k: v for k, v in standin_files.items() if k[1] == RESNET50_FILE}) as hub:
        run = _cli(["models", "pull", RESNET50_ID], _env(tmp_path, tmp_path / "home", hub.url, hub.mirror), module="app.cli")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    err = run.stderr.strip().splitlines()[-1]
    assert err.startswith(f"mmsearch: error: could not pull {RESNET50_ID}: {RESNET50_FILE} from {hub.mirror}/{RESNET50_FILE} does not match its published sha256 (11ad3fa6…"), err
    assert not list((tmp_path / "home").rglob("resnet50*"))


@pytest.mark.parametrize("model", [CLIP, RESNET50_ID])
def test_unreachable_hub_or_mirror_is_one_sentence(model, tmp_path):
    dead = f"http://127.0.0.1:{_closed_port()}"
    run = _cli(["models", "pull", model], _env(tmp_path, tmp_path / "home", dead, dead + "/direct"), module="app.cli")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    err = run.stderr.strip().splitlines()[-1]
    if model == CLIP:
        assert err == f"mmsearch: error: could not pull {CLIP}: could not reach the model hub at {dead} to download {CLIP_REPO}/open_clip_model.safetensors; check the network, or set HF_ENDPOINT to a mirror"
    else:
        assert err.startswith(f"mmsearch: error: could not pull {RESNET50_ID}: could not reach 127.0.0.1:") and "MMSEARCH_MODELS_MIRROR" in err


def test_a_repository_without_the_weights_is_one_sentence(standin_files, tmp_path):
    only_tokenizer = {k: v for k, v in standin_files.items() if k[0] == SIGLIP_REPO and not k[1].startswith("open_clip")}
    with serve(only_tokenizer) as hub:
        run = _cli(["models", "pull", SIGLIP], _env(tmp_path, tmp_path / "home", hub.url, hub.mirror), module="app.cli")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f"mmsearch: error: could not pull {SIGLIP}: {SIGLIP_REPO} on {hub.url} has no file open_clip_model.safetensors or open_clip_pytorch_model.bin"
    )
    shutil.rmtree(tmp_path / "home", ignore_errors=True)


MCLIP = "open_clip:xlm-roberta-base-ViT-B-32/laion5b_s13b_b90k"


def test_multilingual_clip_pulls_its_text_model_config_and_tokenizer(tmp_path, monkeypatch):
    """The xlm-roberta CLIP needs two repositories: its weights, and `xlm-roberta-base`'s
    config.json and tokenizer (which open_clip loads when it builds the model). After the pull,
    with the stand-in shut and HF_HUB_OFFLINE=1, it builds and embeds Korean and English text."""
    from tests.model_hub import MCLIP_REPO, XLMR_REPO

    tmp = tmp_path
    files = build_standin_files(tmp / "files", ("mclip",))
    home = tmp / "home"
    with serve(files) as hub:
        run = _cli(["models", "pull", MCLIP], _env(tmp, home, hub.url, hub.mirror), module="app.cli")
    assert run.returncode == 0, run.stderr[-2000:]
    got = {(p.split("/resolve/")[0].lstrip("/"), p.rsplit("/", 1)[1]) for m, p, _ in hub.requests if m == "GET" and "/resolve/" in p}
    assert {(MCLIP_REPO, "open_clip_model.safetensors"), (XLMR_REPO, "config.json"), (XLMR_REPO, "tokenizer.json"), (XLMR_REPO, "sentencepiece.bpe.model")} <= got
    apply_env(monkeypatch, MMSEARCH_HOME=str(home))
    from encoders.open_clip_encoder import OpenClipEncoder

    enc = OpenClipEncoder("xlm-roberta-base-ViT-B-32", "laion5b_s13b_b90k", device="cpu")
    assert enc.weights_available()
    files_found = enc.resolve_files()
    assert files_found.text_config_dir is not None and files_found.text_config_dir.is_relative_to(home / "weights")
    vecs = enc.embed_queries(["나비 사진", "a photo of a butterfly"])
    assert vecs.shape == (2, 512) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
