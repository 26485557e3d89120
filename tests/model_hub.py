"""A loopback stand-in for the model hubs (Hugging Face and direct-URL hosts), for tests only:
no test can reach huggingface.co, download.pytorch.org or zenodo.org.

`ModelHub` is a small `http.server` in a thread that speaks what `huggingface_hub` and
`encoders.pull` use:
- HEAD/GET `/{repo}/resolve/{rev}/{file}` → 200 with `X-Repo-Commit` (40 hex), `ETag` (sha256
  for LFS-sized files, the git blob sha1 for small ones, as the real hub), `Content-Length`,
  `Accept-Ranges`; `Range: bytes=N-` → 206; a missing file → 404 `X-Error-Code: EntryNotFound`,
  an unknown repository → 404 `X-Error-Code: RepoNotFound`;
- HEAD/GET `/direct/{file}` for direct-URL weights (point `MMSEARCH_MODELS_MIRROR` at `/direct`).
Faults on demand: `cut_once(name, at)` sends the full `Content-Length` but closes after `at`
bytes (an interrupted download); `corrupt(name)` serves changed bytes under the true ETag.
`requests` records (method, path, Range) for assertions.

`build_standin_files(folder)` writes random-init weights of the real architectures in the real
file names and formats (fp16, to halve the size; loading casts them) and the tokenizer files the
real repositories hold, built here with `tokenizers` and protobuf (tiny vocabularies).

`python -m tests.model_hub ARGS…` runs the real `mmsearch` command line with one thing replaced:
torchvision's file name carries the sha256 prefix of the real ResNet50 weights, which random
weights cannot match, so the prefix expected for `resnet50-11ad3fa6.pth` is read from
`MMSEARCH_TEST_PUBLISHED_SHA256` (JSON: file name → sha256 of the stand-in file).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

CLIP_REPO = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
SIGLIP_REPO = "timm/ViT-B-16-SigLIP"
MCLIP_REPO = "laion/CLIP-ViT-B-32-xlm-roberta-base-laion5B-s13B-b90k"
XLMR_REPO = "xlm-roberta-base"
RESNET50_FILE = "resnet50-11ad3fa6.pth"
PANNS_FILE = "Cnn14_mAP=0.431.pth"
_LFS_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".model")
_WORDS = ["a", "photo", "of", "cat", "dog", "red", "blue", "car", "house", "tree", "the", "and", "sound", "bird", "music"]


def _etag(path: Path) -> str:
    """sha256 for LFS files (weights, sentencepiece models, anything over 100 kB), else the git blob sha1."""
    size = path.stat().st_size
    h = hashlib.sha256() if path.suffix in _LFS_SUFFIXES or size > 100_000 else hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


class ModelHub:
    """The stand-in server: `add(repo, name, path)`, `add_direct(name, path)`, then `url`."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], Path] = {}  # (repo or "/direct", file) → path
        self.etags: dict[Path, str] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self._cuts: dict[str, int] = {}
        self._corrupt: set[str] = set()
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                hub._serve(self, body=False)

            def do_GET(self) -> None:
                hub._serve(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- setup -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The hub's base URL (`HF_ENDPOINT`)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def mirror(self) -> str:
        """The base URL of the direct-URL files (`MMSEARCH_MODELS_MIRROR`)."""
        return self.url + "/direct"

    def add(self, repo: str, name: str, path: Path) -> None:
        """Serve `path` as file `name` of hub repository `repo`."""
        self.files[(repo, name)] = path
        self.etags.setdefault(path, _etag(path))

    def add_direct(self, name: str, path: Path) -> None:
        """Serve `path` at `/direct/<name>`."""
        self.add("/direct", name, path)

    def cut_once(self, name: str, at: int) -> None:
        """The next GET of file `name` stops after `at` bytes (the headers promise all of it)."""
        self._cuts[name] = at

    def corrupt(self, name: str) -> None:
        """Serve file `name` with its first bytes changed, under its true ETag."""
        self._corrupt.add(name)

    def ranges(self, name: str) -> list[str | None]:
        """The Range headers of the GETs of file `name` so far."""
        return [r for m, p, r in self.requests if m == "GET" and unquote(p).endswith("/" + name)]

    def __enter__(self) -> ModelHub:
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving (later requests are refused: no network)."""
        self._server.shutdown()
        self._server.server_close()

    # -- serving -----------------------------------------------------------------------------
    def _lookup(self, path: str) -> tuple[str, Path | None, str]:
        path = unquote(urlsplit(path).path).lstrip("/")
        if path.startswith("direct/"):
            name = path[len("direct/") :]
            return "", self.files.get(("/direct", name)), name
        m = re.fullmatch(r"(.+?)/resolve/([^/]+)/(.+)", path)
        if not m:
            return "RepoNotFound", None, path
        repo, _rev, name = m.groups()
        if not any(r == repo for r, _ in self.files):
            return "RepoNotFound", None, name
        return "EntryNotFound", self.files.get((repo, name)), name

    def _serve(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        rng = h.headers.get("Range")
        with self._lock:
            self.requests.append((h.command, h.path, rng))
        code, path, name = self._lookup(h.path)
        if path is None:
            msg = f"{code}: {name}".encode()
            h.send_response(404)
            h.send_header("X-Error-Code", code or "EntryNotFound")
            h.send_header("X-Error-Message", code or "not found")
            h.send_header("Content-Length", str(len(msg)))
            h.end_headers()
            if body:
                h.wfile.write(msg)
            return
        size = path.stat().st_size
        start = 0
        if rng and (m := re.fullmatch(r"bytes=(\d+)-", rng.strip())):
            start = int(m.group(1))
            if start >= size:
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{size}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
        h.send_response(206 if start else 200)
        repo_part = urlsplit(h.path).path.split("/resolve/")[0]
        h.send_header("X-Repo-Commit", hashlib.sha1(repo_part.encode()).hexdigest())
        h.send_header("ETag", f'"{self.etags[path]}"')
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(size - start))
        if start:
            h.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        h.end_headers()
        if not body:
            return
        with self._lock:
            cut = self._cuts.pop(name, None)
        left = size - start if cut is None else max(0, cut - start)
        with open(path, "rb") as f:
            f.seek(start)
            first = start == 0 and name in self._corrupt
            while left > 0:
                chunk = f.read(min(1 << 20, left))
                if not chunk:
                    break
                if first:
                    chunk, first = bytes(b ^ 0xFF for b in chunk[:16]) + chunk[16:], False
                try:
                    h.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                left -= len(chunk)
        if cut is not None:
            h.close_connection = True
            h.wfile.flush()
            import socket

            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# -- stand-in files -------------------------------------------------------------------------------
def _save_open_clip(model_name: str, dest: Path, **kwargs: Any) -> Path:
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model(model_name, pretrained=None, **kwargs)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(dest))
    return dest


def _sentencepiece_model(path: Path, specials: list[tuple[str, int]]) -> None:
    """A tiny SentencePiece unigram model, written with protobuf (no sentencepiece package)."""
    from transformers.utils import sentencepiece_model_pb2_new as pb

    m = pb.ModelProto()
    for piece, kind in specials:  # kind 2 unknown, 3 control
        p = m.pieces.add()
        p.piece, p.score, p.type = piece, 0.0, kind
    for i, w in enumerate(["▁" + w for w in _WORDS] + list("abcdefghijklmnopqrstuvwxyz")):
        p = m.pieces.add()
        p.piece, p.score, p.type = w, -float(i + 1), 1
    m.trainer_spec.model_type = 1
    m.trainer_spec.unk_id = next(i for i, (_, k) in enumerate(specials) if k == 2)
    m.normalizer_spec.name = "nmt_nfkc"
    m.normalizer_spec.add_dummy_prefix = True
    path.write_bytes(m.SerializeToString())


def _tokenizer_json(path: Path, specials: list[str], unk: str, template: str) -> None:
    """A tiny unigram `tokenizer.json` (the fast tokenizer the hub repositories hold)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = [(s, 0.0) for s in specials] + [("▁" + w, -float(i + 1)) for i, w in enumerate(_WORDS)]
    vocab += [(c, -20.0) for c in "▁abcdefghijklmnopqrstuvwxyz"]
    tok = Tokenizer(models.Unigram(vocab, unk_id=specials.index(unk), byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    ids = {s: i for i, s in enumerate(specials)}
    used = sorted({t for t in template.split() if t in ids})
    tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[(t, ids[t]) for t in used])
    tok.save(str(path))


def build_standin_files(folder: Path, models: tuple[str, ...] = ("clip", "siglip", "resnet50", "panns")) -> dict[tuple[str, str], Path]:
    """Write the stand-in files for `models` (clip, siglip, mclip, resnet50, panns) into `folder`;
    returns (repo or "/direct", file name) → path, for `ModelHub.add`."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[tuple[str, str], Path] = {}
    if "clip" in models:
        out[(CLIP_REPO, "open_clip_model.safetensors")] = _save_open_clip("ViT-B-32", folder / "clip.safetensors")
        cfg = folder / "clip_open_clip_config.json"
        cfg.write_text(json.dumps({"model_cfg": {"embed_dim": 512}}))
        out[(CLIP_REPO, "open_clip_config.json")] = cfg
    if "siglip" in models:
        d = folder / "siglip"
        d.mkdir(exist_ok=True)
        out[(SIGLIP_REPO, "open_clip_model.safetensors")] = _save_open_clip("ViT-B-16-SigLIP", d / "open_clip_model.safetensors")
        specials = ["<pad>", "</s>", "<unk>"]
        _sentencepiece_model(d / "spiece.model", [("<pad>", 3), ("</s>", 3), ("<unk>", 2)])
        _tokenizer_json(d / "tokenizer.json", specials, "<unk>", "$A </s>")
        (d / "tokenizer_config.json").write_text(
            json.dumps({"tokenizer_class": "T5Tokenizer", "model_max_length": 64, "eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>", "extra_ids": 0, "additional_special_tokens": []})
        )
        (d / "special_tokens_map.json").write_text(json.dumps({"eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>"}))
        for name in ("spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            out[(SIGLIP_REPO, name)] = d / name
    if "mclip" in models:
        from tests.integration.test_random_weight_encoders import (
            XLM_ROBERTA_BASE_CONFIG,
        )

        d = folder / "xlmr"
        d.mkdir(exist_ok=True)
        (d / "config.json").write_text(json.dumps(XLM_ROBERTA_BASE_CONFIG))
        specials = ["<s>", "<pad>", "</s>", "<unk>"]
        _sentencepiece_model(d / "sentencepiece.bpe.model", [("<s>", 3), ("<pad>", 3), ("</s>", 3), ("<unk>", 2)])
        _tokenizer_json(d / "tokenizer.json", specials, "<unk>", "<s> $A </s>")
        for name in ("config.json", "sentencepiece.bpe.model", "tokenizer.json"):
            out[(XLMR_REPO, name)] = d / name
        import open_clip

        text_cfg = {**open_clip.get_model_config("xlm-roberta-base-ViT-B-32")["text_cfg"], "hf_model_name": str(d), "hf_tokenizer_name": str(d), "hf_model_pretrained": False}
        out[(MCLIP_REPO, "open_clip_model.safetensors")] = _save_open_clip("xlm-roberta-base-ViT-B-32", folder / "mclip.safetensors", text_cfg=text_cfg)
    if "resnet50" in models:
        from torchvision.models import resnet50

        torch.manual_seed(0)
        state = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in resnet50(weights=None).state_dict().items()}
        torch.save(state, folder / RESNET50_FILE)
        out[("/direct", RESNET50_FILE)] = folder / RESNET50_FILE
    if "panns" in models:
        from encoders.panns_encoder import panns_models_module

        torch.manual_seed(0)
        m = panns_models_module().Cnn14(sample_rate=32000, window_size=1024, hop_size=320, mel_bins=64, fmin=50, fmax=14000, classes_num=527)
        state = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in m.state_dict().items()}
        torch.save({"model": state, "iteration": 0}, folder / PANNS_FILE)
        out[("/direct", PANNS_FILE)] = folder / PANNS_FILE
    return out


#: What the session's pull (tests/integration/conftest.py) fetches: every full-profile model and SigLIP, and Whisper.
PULLED_MODELS = ("open_clip:ViT-B-32/laion2b_s34b_b79k", "open_clip:ViT-B-16-SigLIP/webli", "torchvision:resnet50", "panns:Cnn14")
PULLED_WHISPER = "faster-whisper:tiny.en"


def published_sha256(hub: ModelHub, files: dict[tuple[str, str], Path]) -> dict[str, str]:
    """torchvision's published checksum, replaced by the stand-in's (`MMSEARCH_TEST_PUBLISHED_SHA256`)."""
    return {RESNET50_FILE: hub.etags[files[("/direct", RESNET50_FILE)]]}


def user_env(tmp: Path, home: Path, endpoint: str, mirror: str, published: dict[str, str] | None = None, db: Path | None = None) -> dict[str, str]:
    """A user's environment on a networked machine: no offline flags, empty HF and torch caches
    under `tmp`, MMSEARCH_HOME `home`, the hub at `endpoint` and the direct-URL files at `mirror`."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(tmp / "hf_home"),
        TORCH_HOME=str(tmp / "torch_home"),
        MMSEARCH_HOME=str(home),
        MMSEARCH_MODELS_MIRROR=mirror,
        MMSEARCH_DB=str(db or tmp / "doctor.db"),
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    if published:
        env["MMSEARCH_TEST_PUBLISHED_SHA256"] = json.dumps(published)
    return env


def run_cli(args: list[str], env: dict[str, str], module: str = "tests.model_hub", timeout: float = 900) -> Any:
    """`python -m MODULE ARGS…` from the repository root (the CLI in a process of its own);
    the `subprocess.CompletedProcess`, text captured."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, "-m", module, *args], check=False, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def serve(files: dict[tuple[str, str], Path]) -> ModelHub:
    """A started `ModelHub` serving `files` (close it, or use it as a context manager)."""
    hub = ModelHub()
    for (repo, name), path in files.items():
        hub.add(repo, name, path)
    hub.__enter__()
    return hub


def _main(argv: list[str]) -> int:
    """The real CLI, with the torchvision file-name checksum taken from the stand-in (see above)."""
    published = json.loads(os.environ.get("MMSEARCH_TEST_PUBLISHED_SHA256") or "{}")
    if published:
        import encoders.pull
        import encoders.torchvision_encoder as tv

        real = encoders.pull.sha256_prefix_of
        tv.sha256_prefix_of = lambda name: published[name][:8] if name in published else real(name)  # type: ignore[assignment]
    from app.cli.main import main

    return main(argv)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
