"""`encoders.pull` against the loopback model-hub stand-in (tests/model_hub.py): hub files land in
the project's cache where the lookup finds them, interrupted downloads resume, a wrong checksum
or a missing file or an unreachable host is one sentence. Small random files; no models."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from encoders.pull import (
    PullError,
    download_url,
    find_hub_file,
    find_model_file,
    mirrored,
    pull_hub_file,
    sha256_prefix_of,
)
from encoders.weights import weights_cache_dir
from tests.conftest import apply_env
from tests.model_hub import ModelHub

REPO = "org/tiny-model"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "src"
    d.mkdir()
    (d / "model.safetensors").write_bytes(os.urandom(24 << 20))  # an LFS file: ETag = sha256
    (d / "tokenizer.json").write_text('{"version": "1.0"}')  # a small one: ETag = git blob sha1
    (d / "w-abc.pth").write_bytes(os.urandom(2 << 20))
    return {p.name: p for p in d.iterdir()}


@pytest.fixture
def hub(files, tmp_path, monkeypatch):
    """The stand-in, with huggingface_hub pointed at it (in this process: HF_ENDPOINT and
    HF_HUB_OFFLINE are read at import) and the mirror setting at its /direct files."""
    from huggingface_hub import constants

    with ModelHub() as h:
        h.add(REPO, "model.safetensors", files["model.safetensors"])
        h.add(REPO, "tokenizer.json", files["tokenizer.json"])
        h.add_direct("w-abc.pth", files["w-abc.pth"])
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", h.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", h.url + "/{repo_id}/resolve/{revision}/{filename}")
        apply_env(monkeypatch, MMSEARCH_HOME=str(tmp_path / "home"), MMSEARCH_MODELS_MIRROR=h.mirror)
        yield h


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_hub_file_lands_in_the_project_cache_where_the_lookup_finds_it(hub, files):
    path = pull_hub_file(REPO, ("open_clip_model.safetensors", "model.safetensors"))  # first is absent: the next
    assert path is not None and path.name == "model.safetensors"
    assert weights_cache_dir() in path.parents and "models--org--tiny-model" in str(path)
    assert _sha(path) == _sha(files["model.safetensors"])
    assert find_hub_file(REPO, "model.safetensors") == path
    assert find_model_file("x:tiny", ("model.safetensors",), REPO) == path
    small = pull_hub_file(REPO, ("tokenizer.json",))  # checked against its git blob sha1
    assert small is not None and small.read_text() == files["tokenizer.json"].read_text()


def test_flat_cache_and_explicit_paths_come_first(hub, files, monkeypatch, tmp_path):
    pulled = pull_hub_file(REPO, ("model.safetensors",))
    flat = weights_cache_dir() / "x_tiny" / "model.safetensors"
    flat.parent.mkdir(parents=True)
    flat.write_bytes(b"flat")
    assert find_model_file("x:tiny", ("model.safetensors",), REPO) == flat
    other = tmp_path / "mine.safetensors"
    apply_env(monkeypatch, MMSEARCH_WEIGHTS_X_TINY=str(other))
    assert find_model_file("x:tiny", ("model.safetensors",), REPO) is None  # explicit but absent: only there
    other.write_bytes(b"x")
    assert find_model_file("x:tiny", ("model.safetensors",), REPO) == other
    assert pulled.is_file()


def test_interrupted_hub_download_resumes_with_a_range_request(hub, files):
    """huggingface_hub writes in 10 MiB chunks: cut in the second, it resumes after the first."""
    hub.cut_once("model.safetensors", at=15 << 20)
    path = pull_hub_file(REPO, ("model.safetensors",))
    assert _sha(path) == _sha(files["model.safetensors"])
    ranges = hub.ranges("model.safetensors")
    assert ranges, hub.requests
    assert ranges[0] is None and ranges[1:] == [f"bytes={10 << 20}-"], hub.requests


def test_corrupted_hub_file_fails_its_checksum_and_is_removed(hub):
    hub.corrupt("model.safetensors")
    with pytest.raises(PullError) as exc:
        pull_hub_file(REPO, ("model.safetensors",))
    msg = str(exc.value)
    assert "does not match the sha256" in msg and "pull again" in msg and "\n" not in msg
    assert find_hub_file(REPO, "model.safetensors") is None


def test_missing_file_and_unknown_repo_are_one_sentence(hub):
    assert pull_hub_file(REPO, ("vocab.txt",), optional=True) is None
    with pytest.raises(PullError, match=r"org/tiny-model on http://127\.0\.0\.1:\d+ has no file a\.bin or b\.bin$"):
        pull_hub_file(REPO, ("a.bin", "b.bin"))
    with pytest.raises(PullError, match="has no repository org/nothing"):
        pull_hub_file("org/nothing", ("model.safetensors",))


def test_unreachable_hub_is_one_sentence(hub, monkeypatch):
    from huggingface_hub import constants

    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    with pytest.raises(PullError) as exc:
        pull_hub_file(REPO, ("model.safetensors",))
    assert str(exc.value) == f"could not reach the model hub at {url} to download {REPO}/model.safetensors; check the network, or set HF_ENDPOINT to a mirror"


def test_direct_url_through_the_mirror_with_its_checksum(hub, files, tmp_path):
    want = _sha(files["w-abc.pth"])
    assert mirrored("https://example.org/a/w-abc.pth") == hub.mirror + "/w-abc.pth"
    dest = download_url("https://example.org/a/w-abc.pth", tmp_path / "out" / "w-abc.pth", sha256=want)
    assert _sha(dest) == want and not dest.with_name("w-abc.pth.part").exists()


def test_direct_url_resumes_after_a_cut_and_from_a_left_part(hub, files, tmp_path):
    data = files["w-abc.pth"].read_bytes()
    hub.cut_once("w-abc.pth", at=700_000)
    dest = download_url("https://example.org/w-abc.pth", tmp_path / "a" / "w-abc.pth", sha256_prefix=_sha(files["w-abc.pth"])[:8])
    assert dest.read_bytes() == data
    assert hub.ranges("w-abc.pth") == [None, "bytes=700000-"]
    # A .part left by a killed pull: the next pull asks only for the rest.
    dest2 = tmp_path / "b" / "w-abc.pth"
    dest2.parent.mkdir()
    dest2.with_name("w-abc.pth.part").write_bytes(data[:123_456])
    download_url("https://example.org/w-abc.pth", dest2)
    assert dest2.read_bytes() == data and hub.ranges("w-abc.pth")[-1] == "bytes=123456-"


def test_direct_url_checksum_mismatch_and_errors_are_one_sentence(hub, tmp_path):
    assert sha256_prefix_of("resnet50-11ad3fa6.pth") == "11ad3fa6" and sha256_prefix_of("Cnn14_mAP=0.431.pth") is None
    dest = tmp_path / "c" / "w-abc.pth"
    with pytest.raises(PullError, match=r"w-abc\.pth from .* does not match its published sha256 \(00000000…, got [0-9a-f]{8}"):
        download_url("https://example.org/w-abc.pth", dest, sha256_prefix="00000000")
    assert not dest.exists() and not dest.with_name("w-abc.pth.part").exists()
    with pytest.raises(PullError, match=r"/direct/nope\.pth does not exist \(HTTP 404\)"):
        download_url("https://example.org/nope.pth", tmp_path / "nope.pth")
    port = _closed_port()
    from encoders import weights

    weights.configure(mirror=f"http://127.0.0.1:{port}/m")
    with pytest.raises(PullError, match=rf"could not reach 127\.0\.0\.1:{port} to download w-abc\.pth .*MMSEARCH_MODELS_MIRROR"):
        download_url("https://example.org/w-abc.pth", tmp_path / "d" / "w-abc.pth")


def test_openai_whisper_checkpoint_is_checked_against_the_sha256_in_its_url(hub, files, monkeypatch):
    """openai-whisper publishes each checkpoint at `…/models/<sha256>/<name>.pt`: the pull checks
    that digest and leaves the file where the transcriber looks (here a placeholder, never loaded)."""
    whisper = pytest.importorskip("whisper")
    from encoders.transcribe import Transcriber

    blob = files["w-abc.pth"]
    hub.add_direct("tiny.pt", blob)
    monkeypatch.setitem(whisper._MODELS, "tiny", f"https://openaipublic.example/main/whisper/models/{_sha(blob)}/tiny.pt")
    t = Transcriber("openai-whisper:tiny", device="cpu")
    assert not t.weights_available()
    path = t.pull()
    assert path == weights_cache_dir() / "openai_whisper_tiny" / "tiny.pt" and _sha(path) == _sha(blob)
    assert t.weights_available()
    monkeypatch.setitem(whisper._MODELS, "base", f"https://openaipublic.example/main/whisper/models/{'0' * 64}/base.pt")
    hub.add_direct("base.pt", blob)
    with pytest.raises(PullError, match=r"base\.pt from .* does not match its published sha256"):
        Transcriber("openai-whisper:base", device="cpu").pull()
