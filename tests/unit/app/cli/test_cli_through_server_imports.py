"""`mmsearch search text` through a running server, in a fresh interpreter: the answer is the
server's, and the process imports neither numpy, pymilvus, pandas, torch nor the encoders,
indexers' calibration or the vector store (read from `sys.modules` after the command; no timing).

The server is a stand-in: a standard-library HTTP server in this test process that answers the
two calls the CLI makes (health, search), announced beside the database the way `mmsearch
serve` announces itself (`app.server.discovery.announce`, this process's pid)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.fake_llm import send_json
from tests import fresh_python

TOKEN = "test-token"
HIT = {"id": "doc1#0", "score": 0.75, "source": "/docs/owls.md", "kind": "doc", "title": "Owls", "text": "Owls hunt at night."}
HEAVY = ("numpy", "pymilvus", "pandas", "torch", "encoders", "milvus", "indexers.calibration", "app.search.engine")
PROBE = """
import json, sys
from app.cli.main import main
code = main(sys.argv[1:])
loaded = sorted(m for m in {heavy!r} if m in sys.modules)
print("PROBE " + json.dumps({{"code": code, "loaded": loaded}}))
"""


class StandIn(BaseHTTPRequestHandler):
    """Answers GET /api/health and POST /api/search/text, for the bearer of TOKEN."""

    requests: list[tuple[str, str, Any]] = []

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def answer(self, body: Any, status: int = 200) -> None:
        send_json(self, status, body)

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.answer({"detail": "no"}, 401)
        self.requests.append(("GET", self.path, None))
        self.answer({"status": "ok"} if self.path == "/api/health" else {"detail": "not found"}, 200 if self.path == "/api/health" else 404)

    def do_POST(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.answer({"detail": "no"}, 401)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.requests.append(("POST", self.path, body))
        if self.path == "/api/ask":  # a streamed answer: JSON lines
            lines = [{"type": "text", "text": "Owls hunt at night [1]."},
                     {"type": "answer", "citations": [{**HIT, "relevance": 0.81}], "generator": "extractive (stand-in)"}]
            data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        if self.path != "/api/search/text":
            return self.answer({"detail": "not found"}, 404)
        self.answer({"hits": [HIT], "good_match": None})


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[Path]:
    """A database path with a stand-in server announced beside it; yields the path."""
    from app.server.discovery import announce, withdraw
    from app.settings import Settings

    StandIn.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    db = tmp_path / "lib.db"
    settings = Settings.load(overrides={"db": str(db)})
    announce(settings, f"http://127.0.0.1:{httpd.server_address[1]}", TOKEN)
    try:
        yield db
    finally:
        withdraw(settings)
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def run_probe(args: list[str], cwd: Path) -> dict[str, Any]:
    """`mmsearch ARGS` in a fresh interpreter; its exit code, output and the heavy modules it loaded."""
    return fresh_python.run_probe(PROBE.format(heavy=HEAVY), args, cwd, fresh_python.probe_env())


def test_text_query_through_a_server_loads_no_models_nor_database(stand_in: Path) -> None:
    got = run_probe(["search", "text", "when do owls hunt", "--kind", "doc", "--db", str(stand_in), "--json"], stand_in.parent)
    assert got["code"] == 0, got["stderr"][-3000:]
    assert "through the server at http://127.0.0.1:" in got["stderr"]
    hits = json.loads([line for line in got["stdout"].splitlines() if line.startswith("[")][0])
    assert [(h["id"], h["source"], h["score"]) for h in hits] == [(HIT["id"], HIT["source"], HIT["score"])]
    assert ("POST", "/api/search/text", {"q": "when do owls hunt", "kind": "doc", "k": 10}) in StandIn.requests
    assert got["loaded"] == [], got["loaded"]


def test_a_numeric_min_score_through_a_server_still_cuts_only_photo_searches(stand_in: Path) -> None:
    """`--min-score 0.9` on a document search: no cut-off applies (as without a server)."""
    got = run_probe(["search", "text", "owls", "--kind", "doc", "--db", str(stand_in), "--min-score", "0.9"], stand_in.parent)
    assert got["code"] == 0, got["stderr"][-3000:]
    assert "Owls" in got["stdout"] and "no good match" not in got["stderr"]


def test_ask_through_a_server_loads_no_models_nor_database(stand_in: Path) -> None:
    got = run_probe(["ask", "when do owls hunt", "--db", str(stand_in)], stand_in.parent)
    assert got["code"] == 0, got["stderr"][-3000:]
    assert "Owls hunt at night [1]." in got["stdout"] and "[1] /docs/owls.md  (similarity score 0.81)" in got["stdout"], got["stdout"]
    assert "answered by extractive (stand-in)" in got["stderr"]
    assert any(r[:2] == ("POST", "/api/ask") and r[2]["question"] == "when do owls hunt" for r in StandIn.requests)
    assert got["loaded"] == [], got["loaded"]
