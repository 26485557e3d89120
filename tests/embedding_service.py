"""A loopback stand-in for the embedding services (tests only): Ollama's `/api/embed`,
`/api/embeddings`, `/api/tags` and `/api/pull`, and the OpenAI-compatible `/v1/embeddings` and
`/v1/models`.

No model runs here, so the vectors carry no meaning; they are deterministic and lexical: the
normalised sum of one hash-seeded random vector per word of the text, after its task prefix
(`search_query: `, `passage: `, …). Texts that share words are near, so search over them can
be tested; a text with its prefix and without gets the same vector, so the tests check the
prefixes in the recorded requests instead.

It can be told to fail the next N embedding requests (`fail(n, 503)`), to require an API key
(answering 401 otherwise), to lack `/api/embed` like an Ollama before 0.3 (`legacy_ollama`),
and it records every request (path, headers, JSON body) so tests can check batching,
prefixes and the Authorization header. OpenAI answers come in reverse order with their
`index`, as the API allows, so a client that ignores the index is caught.

It serves only the models in `dims` (any other is answered as Ollama and OpenAI answer an
unknown model). `/api/pull` streams what Ollama streams (`pulling manifest`, a `pulling
DIGEST` line per layer with `digest`/`total`/`completed`, `verifying sha256 digest`, `writing
manifest`, `removing any unused layers`, `success`) for the models of its `library`, and adds
the model to `dims`; for any other name it answers `{"error": "pull model manifest: file does
not exist"}` in the stream, as Ollama does. `break_pull_after` cuts a pull's stream off after
that many lines.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

TASK_PREFIXES = ("search_query: ", "search_document: ", "query: ", "passage: ",
                 "Represent this sentence for searching relevant passages: ")
DEFAULT_DIMS = {"nomic-embed-text": 768, "text-embedding-3-small": 1536, "multilingual-e5-small-q4": 384}
# What `/api/pull` can fetch: model → (vector size, bytes of its layers: the weights, then the
# licence, the template and the parameters, as the Ollama library's embedding models have them).
LIBRARY = {
    "nomic-embed-text": (768, (274_290_656, 11_357, 17, 420)),
    "mxbai-embed-large": (1024, (669_603_712, 11_357, 16, 408)),
    "all-minilm": (384, (45_949_216, 11_357, 15, 394)),
}
PULL_STEPS = 4  # progress lines per layer after its first


def layer_digest(model: str, i: int) -> str:
    """The stand-in's digest of a model's i-th layer (`sha256:…`)."""
    return "sha256:" + hashlib.sha256(f"{model}/{i}".encode()).hexdigest()


def pull_events(model: str, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """The lines Ollama streams for a pull of `model` whose layers have `sizes` bytes: the first
    line of a layer has no `completed` (as Ollama's before any byte arrived)."""
    events: list[dict[str, Any]] = [{"status": "pulling manifest"}]
    for i, total in enumerate(sizes):
        digest = layer_digest(model, i)
        status = f"pulling {digest.removeprefix('sha256:')[:12]}"
        events.append({"status": status, "digest": digest, "total": total})
        events += [{"status": status, "digest": digest, "total": total, "completed": total * k // PULL_STEPS} for k in range(1, PULL_STEPS + 1)]
    events += [{"status": s} for s in ("verifying sha256 digest", "writing manifest", "removing any unused layers", "success")]
    return events


def strip_prefix(text: str) -> str:
    """The text without its task prefix, if it has one."""
    for prefix in TASK_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def word_vector(word: str, dim: int) -> np.ndarray:
    """The hash-seeded random vector of one word."""
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim)


def stand_in_vector(text: str, dim: int) -> np.ndarray:
    """What the stand-in answers for `text`: a unit vector, the sum of its words' vectors."""
    words = re.findall(r"\w+", strip_prefix(text).lower()) or ["<empty>"]
    v = sum(word_vector(w, dim) for w in words)
    return (v / np.linalg.norm(v)).astype(np.float32)


@dataclass
class Recorded:
    """One request the stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class EmbeddingService:
    """The stand-in server; `with EmbeddingService() as svc:` serves on 127.0.0.1 at `svc.url`."""

    dims: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DIMS))  # model → vector size
    api_key: str | None = None  # when set, /v1/* wants `Authorization: Bearer KEY`
    legacy_ollama: bool = False  # no /api/embed (Ollama before 0.3)
    library: dict[str, tuple[int, tuple[int, ...]]] = field(default_factory=lambda: dict(LIBRARY))  # what /api/pull fetches
    break_pull_after: int | None = None  # cut a pull's stream off after this many lines
    requests: list[Recorded] = field(default_factory=list)
    _failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # -- control ---------------------------------------------------------------------------
    def fail(self, n: int, status: int = 503, retry_after: str | None = None) -> None:
        """Answer the next `n` POSTs (embedding requests, and pulls) with HTTP `status`."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._lock:
            self._failures.extend([(status, headers)] * n)

    def embed_requests(self, prefix: str = "") -> list[Recorded]:
        """The embedding requests received (POSTs but pulls), optionally only those whose path starts with `prefix`."""
        return [r for r in self.requests if r.method == "POST" and r.path != "/api/pull" and r.path.startswith(prefix)]

    def pull_requests(self) -> list[Recorded]:
        """The pulls received (POST /api/pull)."""
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/pull"]

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> EmbeddingService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _record(self, body: Any) -> None:
                with service._lock:
                    service.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))

            def do_GET(self) -> None:
                self._record(None)
                if self.path == "/api/tags":
                    self._send(200, {"models": [{"name": f"{m}:latest", "model": f"{m}:latest"} for m in service.dims]})
                elif self.path == "/v1/models":
                    if not self._authorised():
                        return
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in service.dims]})
                else:
                    self._send(404, "404 page not found")

            def _authorised(self) -> bool:
                if service.api_key is None or self.headers.get("Authorization") == f"Bearer {service.api_key}":
                    return True
                self._send(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}})
                return False

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(n) or b"{}")
                except ValueError:
                    self._record(None)
                    self._send(400, {"error": "invalid JSON"})
                    return
                self._record(body)
                with service._lock:
                    failure = service._failures.pop(0) if service._failures else None
                if failure is not None:
                    status, headers = failure
                    self._send(status, {"error": "the stand-in was told to fail"}, headers)
                    return
                if self.path == "/api/pull":
                    self._pull(body)
                elif self.path == "/api/embed" and not service.legacy_ollama:
                    self._ollama(body, batched=True)
                elif self.path == "/api/embeddings":
                    self._ollama(body, batched=False)
                elif self.path == "/v1/embeddings":
                    self._openai(body)
                else:
                    self._send(404, "404 page not found")

            def _dim(self, model: str) -> int | None:
                return service.dims.get(model.removesuffix(":latest"))

            def _ollama(self, body: dict[str, Any], batched: bool) -> None:
                model = str(body.get("model", ""))
                dim = self._dim(model)
                if dim is None:
                    self._send(404, {"error": f'model "{model}" not found, try pulling it first'})
                    return
                if not batched:
                    self._send(200, {"embedding": stand_in_vector(str(body.get("prompt", "")), dim).tolist()})
                    return
                texts = body.get("input")
                texts = [texts] if isinstance(texts, str) else list(texts or [])
                self._send(200, {"model": model, "embeddings": [stand_in_vector(t, dim).tolist() for t in texts]})

            def _pull(self, body: dict[str, Any]) -> None:
                model = str(body.get("model") or body.get("name") or "")
                if not model:
                    self._send(400, {"error": "model is required"})
                    return
                found = service.library.get(model.removesuffix(":latest"))
                if found is None:
                    events: list[dict[str, Any]] = [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]
                else:
                    events = pull_events(model, found[1])
                if body.get("stream") is False:  # one answer at the end
                    last = events[-1]
                    if found is not None:
                        with service._lock:
                            service.dims[model.removesuffix(":latest")] = found[0]
                    self._send(500 if "error" in last else 200, last)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for n, event in enumerate(events):
                    if service.break_pull_after is not None and n == service.break_pull_after:
                        self.close_connection = True  # no last chunk: the stream is cut short
                        return
                    if event.get("status") == "success" and found is not None:
                        with service._lock:
                            service.dims[model.removesuffix(":latest")] = found[0]
                    data = json.dumps(event).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def _openai(self, body: dict[str, Any]) -> None:
                if not self._authorised():
                    return
                model = str(body.get("model", ""))
                dim = self._dim(model)
                if dim is None:
                    self._send(404, {"error": {"message": f"The model `{model}` does not exist.", "type": "invalid_request_error"}})
                    return
                texts = body.get("input")
                texts = [texts] if isinstance(texts, str) else list(texts or [])
                data = [{"object": "embedding", "index": i, "embedding": stand_in_vector(t, dim).tolist()} for i, t in enumerate(texts)]
                self._send(200, {"object": "list", "data": data[::-1], "model": model, "usage": {"prompt_tokens": 0, "total_tokens": 0}})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="embedding-stand-in", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> EmbeddingService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
