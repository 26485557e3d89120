"""A stand-in for a real LLM server, on loopback, for the generator tests.

It speaks the two APIs mmsearch uses — Ollama (`GET /api/tags`, `POST /api/chat`, NDJSON
stream) and OpenAI-compatible (`POST /v1/chat/completions`, server-sent events, or one JSON
body when `stream` is false) — and answers with canned text pieces. It records every request
so tests can check what a real server would have been sent. No model runs here.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeLLM:
    pieces: list[str] = field(default_factory=lambda: ["Redistribution is allowed ", "if the notice is kept ", "[1]."])
    models: list[str] = field(default_factory=lambda: ["fake-llm:1b"])
    status: int = 200  # answer chat calls with this HTTP status (errors carry a JSON message)
    api_key: str | None = None  # when set, OpenAI calls must carry it as a Bearer token
    delay_s: float = 0.0  # pause between streamed pieces
    fail_after: int | None = None  # drop the connection after this many pieces
    hold_before: int | None = None  # send this many pieces, then wait for `release` (a signalled point, not a delay)
    release: threading.Event = field(default_factory=threading.Event)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """Answer a loopback stand-in's request with one JSON body (shared by the tests' stand-in servers)."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        send_json(self, status, body)

    def do_GET(self) -> None:
        llm = self.server.llm
        llm.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
        if self.path == "/api/tags":
            self._json(200, {"models": [{"name": m, "model": m} for m in llm.models]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        llm = self.server.llm
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        llm.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body})
        if self.path == "/api/chat":
            if llm.status != 200:
                return self._json(llm.status, {"error": f"model '{body.get('model')}' not found"})
            if body.get("model") not in llm.models:
                return self._json(404, {"error": f"model '{body.get('model')}' not found, try pulling it first"})
            self._stream("application/x-ndjson", [
                json.dumps({"model": body["model"], "message": {"role": "assistant", "content": p}, "done": False}) + "\n"
                for p in llm.pieces
            ] + [json.dumps({"model": body["model"], "message": {"role": "assistant", "content": ""}, "done": True}) + "\n"])
        elif self.path == "/v1/chat/completions":
            if llm.api_key and self.headers.get("Authorization") != f"Bearer {llm.api_key}":
                return self._json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
            if llm.status != 200:
                return self._json(llm.status, {"error": {"message": "the server is overloaded"}})
            if not body.get("stream"):
                return self._json(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(llm.pieces)}}]})
            events = [f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': p}}]})}\n\n" for p in llm.pieces]
            self._stream("text/event-stream", [": keep-alive\n\n", *events, "data: [DONE]\n\n"])
        else:
            self._json(404, {"error": "not found"})

    def _stream(self, ctype: str, parts: list[str]) -> None:
        llm = self.server.llm
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Connection", "close")
        self.end_headers()
        for n, part in enumerate(parts):
            if llm.fail_after is not None and n >= llm.fail_after:
                self.wfile.flush()
                self.connection.shutdown(2)  # the server dies mid-answer
                return
            if llm.hold_before is not None and n == llm.hold_before:
                llm.release.wait(timeout=600)  # the test releases the rest once it has seen the first pieces
            self.wfile.write(part.encode())
            self.wfile.flush()
            if llm.delay_s:
                time.sleep(llm.delay_s)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    llm: FakeLLM


class FakeLLMServer:
    """`with FakeLLMServer() as llm:` serves on http://127.0.0.1:PORT (`llm.url`) until the block ends."""

    def __init__(self, llm: FakeLLM | None = None) -> None:
        self.llm = llm or FakeLLM()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.llm = self.llm
        self.llm.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self.llm

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
