"""Pulling a model into Ollama through its API (`encoders.pull.pull_ollama_model`, behind
`mmsearch models pull ollama:MODEL`), against the loopback stand-in (tests/embedding_service.py),
which streams what Ollama streams: progress per layer, then success, or an error line. Also the
stream reader under it (`services.stream_json_lines`)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pytest
import tqdm.auto

from encoders import services
from encoders.base import EncoderError
from encoders.pull import PullError, pull_ollama_model
from encoders.service_encoders import OllamaEncoder, OpenAIEncoder
from milvus.servers import free_port
from tests.conftest import apply_env
from tests.embedding_service import LIBRARY, EmbeddingService, layer_digest


@pytest.fixture
def svc(monkeypatch):
    with EmbeddingService() as s:
        apply_env(monkeypatch, OLLAMA_HOST=s.url, MMSEARCH_EMBED_URL=f"{s.url}/v1")
        services.configure(**{**dataclasses.asdict(services.current()), "backoff_s": 0.001})
        yield s


class Bars:
    """Stands in for tqdm: records each bar's description, total and updates."""

    made: ClassVar[list[Bars]] = []

    def __init__(self, total: int | None = None, desc: str = "", **kw: Any) -> None:
        self.total, self.desc, self.n, self.closed = total, desc, 0, False
        Bars.made.append(self)

    def update(self, n: int) -> None:
        self.n += n

    def close(self) -> None:
        self.closed = True

    @staticmethod
    def write(text: str, **kw: Any) -> None:
        pass


@pytest.fixture
def bars(monkeypatch):
    Bars.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", Bars)
    return Bars.made


def test_pull_streams_progress_and_the_model_then_embeds(svc, bars):
    enc = OllamaEncoder("mxbai-embed-large")
    assert not enc.weights_available()
    with pytest.raises(EncoderError, match=r"does not have the model mxbai-embed-large; run `mmsearch models pull ollama:mxbai-embed-large`"):
        enc.embed_documents(["a heron"])  # the stand-in knows only what it has pulled

    size = pull_ollama_model(svc.url, "mxbai-embed-large")
    layers = LIBRARY["mxbai-embed-large"][1]
    assert size == sum(layers)
    assert [r.body for r in svc.pull_requests()] == [{"model": "mxbai-embed-large", "stream": True}]
    assert [(b.desc, b.total, b.n, b.closed) for b in bars] == [
        (f"pulling {layer_digest('mxbai-embed-large', i).removeprefix('sha256:')[:12]}", total, total, True)
        for i, total in enumerate(layers)
    ]
    assert enc.weights_available()
    assert enc.embed_documents(["a heron"]).shape == (1, 1024)


def test_the_encoder_says_what_it_pulled_in_one_sentence(svc, bars):
    said = OllamaEncoder("all-minilm:latest").pull_model(progress=False)
    assert said == f"the Ollama server at {svc.url} now has all-minilm:latest (46 MB); it is ready to use"
    assert OpenAIEncoder("text-embedding-3-small").pull_model() == (
        f"nothing to pull; the OpenAI-compatible endpoint at {svc.url}/v1 hosts text-embedding-3-small"
    )
    assert svc.pull_requests()[-1].body["model"] == "all-minilm:latest"  # only Ollama was asked


def test_unknown_model_is_ollamas_error_in_one_sentence(svc, bars):
    with pytest.raises(PullError) as exc:
        pull_ollama_model(svc.url, "no-such-embedder")
    assert str(exc.value) == (
        f"the Ollama server at {svc.url} could not pull no-such-embedder: pull model manifest: file does not exist; "
        "check the name (and tag) at https://ollama.com/library"
    )
    assert "no-such-embedder" not in svc.dims


def test_ollama_not_running_is_one_sentence(monkeypatch):
    port = free_port()
    services.configure(backoff_s=0.001)
    with pytest.raises(PullError) as exc:
        pull_ollama_model(f"http://127.0.0.1:{port}/", "nomic-embed-text", progress=False)
    assert str(exc.value) == (
        f"the Ollama server at http://127.0.0.1:{port} is not answering (nothing is listening there); "
        "start it with `ollama serve`, or set OLLAMA_HOST to where it runs"
    )


def test_a_stream_cut_short_says_to_pull_again(svc, bars):
    svc.break_pull_after = 3  # the manifest, then two lines of the first layer
    with pytest.raises(PullError) as exc:
        pull_ollama_model(svc.url, "nomic-embed-text")
    assert str(exc.value) == (
        f"the Ollama server at {svc.url} stopped answering part-way (the connection was dropped) while pulling "
        "nomic-embed-text; run the pull again and Ollama resumes it"
    )
    assert bars and all(b.closed for b in bars)


def test_passing_failures_are_retried_and_lasting_ones_said(svc, bars):
    svc.fail(1, 503)
    assert pull_ollama_model(svc.url, "nomic-embed-text", progress=False) == sum(LIBRARY["nomic-embed-text"][1])
    svc.fail(2, 503)
    with pytest.raises(PullError, match=r"could not pull nomic-embed-text \(HTTP 503\): the stand-in was told to fail$"):
        pull_ollama_model(svc.url, "nomic-embed-text", progress=False)


def test_no_pull_api_there_is_not_ollama(svc):
    with pytest.raises(PullError) as exc:
        pull_ollama_model(f"{svc.url}/v1", "nomic-embed-text", progress=False)  # a 404 page, not Ollama's JSON
    assert str(exc.value) == (
        f"the Ollama server at {svc.url}/v1 has no /api/pull (HTTP 404), so it is not Ollama; set OLLAMA_HOST to where Ollama runs"
    )


def test_stream_json_lines_reads_each_line_as_it_comes(svc):
    lines = services.stream_json_lines(f"{svc.url}/api/pull", {"model": "all-minilm"}, service="the stand-in", fix="")
    first = next(lines)
    assert first == {"status": "pulling manifest"}
    rest = list(lines)
    assert rest[-1] == {"status": "success"} and rest[0]["digest"] == layer_digest("all-minilm", 0)
    assert "completed" not in rest[0] and rest[1]["completed"] > 0  # no bytes yet on a layer's first line
    whole = services.stream_json_lines(f"{svc.url}/api/pull", {"model": "all-minilm", "stream": False}, service="the stand-in", fix="")
    assert list(whole) == [{"status": "success"}]  # one object, no newline after it
