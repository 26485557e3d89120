"""The answer generators: Ollama and OpenAI-compatible clients against a local HTTP server on
loopback that stands in for a real LLM server (tests/fake_llm.py: same APIs, canned answers),
the fallback to the offline extractive answerer, and the extractive answerer itself."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from app.answer.generators import (
    ExtractiveGenerator,
    GeneratorChoice,
    GeneratorError,
    OllamaGenerator,
    OpenAICompatibleGenerator,
    answer_stream,
    build_messages,
    make_generator,
    split_sentences,
)
from tests.fake_llm import FakeLLM, FakeLLMServer
from tests.ui.conftest import free_port


@dataclass
class Ctx:
    text: str
    where: str = "BSD — /usr/share/common-licenses/BSD"

    def label(self) -> str:
        return self.where


CONTEXTS = [
    Ctx("Redistribution and use in source and binary forms are permitted provided that the above copyright notice is kept."),
    Ctx("The rocket launch is scheduled for Tuesday at dawn. Bring a jacket.", "talk.mp4 at 0:42–0:47 — /videos/talk.mp4"),
]


@pytest.fixture
def llm():
    with FakeLLMServer() as server:
        yield server


def _closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_prompt_numbers_the_sources_and_asks_for_citations():
    msgs = build_messages("May I redistribute it?", CONTEXTS)
    assert msgs[0]["role"] == "system" and "[1]" in msgs[0]["content"]
    user = msgs[1]["content"]
    assert "[1] BSD — /usr/share/common-licenses/BSD\nRedistribution" in user
    assert "[2] talk.mp4 at 0:42–0:47" in user and user.rstrip().endswith("Answer (cite sources as [n]):")


def test_ollama_chat_streams_pieces(llm):
    gen = OllamaGenerator("fake-llm:1b", llm.url)
    pieces = list(gen.stream("May I redistribute it?", CONTEXTS))
    assert pieces == llm.pieces
    (req,) = [r for r in llm.requests if r["path"] == "/api/chat"]
    assert req["body"]["model"] == "fake-llm:1b" and req["body"]["stream"] is True
    assert "Redistribution and use" in req["body"]["messages"][1]["content"]


def test_ollama_unknown_model_is_one_sentence(llm):
    with pytest.raises(GeneratorError, match=r"HTTP 404: model 'nope' not found"):
        list(OllamaGenerator("nope", llm.url).stream("q", CONTEXTS))


def test_openai_compatible_streams_with_the_key():
    with FakeLLMServer(FakeLLM(api_key="sk-test")) as llm:
        gen = OpenAICompatibleGenerator("gpt-test", llm.url + "/v1", api_key="sk-test")
        assert "".join(gen.stream("q", CONTEXTS)) == "".join(llm.pieces)
        req = llm.requests[-1]
        assert req["headers"]["Authorization"] == "Bearer sk-test"
        assert req["body"]["model"] == "gpt-test" and req["body"]["stream"] is True
        with pytest.raises(GeneratorError, match="HTTP 401: Incorrect API key provided"):
            list(OpenAICompatibleGenerator("gpt-test", llm.url + "/v1", api_key="wrong").stream("q", CONTEXTS))


def test_make_generator_auto_prefers_a_configured_endpoint_then_ollama(llm, monkeypatch):
    for var in ("MMSEARCH_LLM", "MMSEARCH_LLM_URL", "OPENAI_BASE_URL", "MMSEARCH_LLM_MODEL", "OLLAMA_HOST", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", llm.url.removeprefix("http://"))  # Ollama's own host:port form
    choice = make_generator()
    assert isinstance(choice.generator, OllamaGenerator) and choice.generator.model == "fake-llm:1b" and choice.note is None
    choice = make_generator("openai:gpt-x", url=llm.url + "/v1")
    assert isinstance(choice.generator, OpenAICompatibleGenerator) and choice.generator.base_url == llm.url + "/v1"
    assert isinstance(make_generator("extractive").generator, ExtractiveGenerator)
    with pytest.raises(GeneratorError, match="unknown generator"):
        make_generator("gpt5")


def test_no_reachable_llm_falls_back_to_extractive_and_says_so(monkeypatch):
    monkeypatch.delenv("MMSEARCH_LLM_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OLLAMA_HOST", _closed_port_url())
    choice = make_generator("auto")
    assert isinstance(choice.generator, ExtractiveGenerator)
    assert "no language model is reachable" in choice.note and "Ollama at http://127.0.0.1:" in choice.note
    text = "".join(answer_stream("When is the rocket launch?", CONTEXTS, choice))
    assert text.startswith("Extractive answer (no language model was reachable)")
    assert "“The rocket launch is scheduled for Tuesday at dawn.” [2]" in text


def test_llm_error_before_the_first_word_falls_back(llm):
    llm.status = 503
    choice = GeneratorChoice(OpenAICompatibleGenerator("gpt-test", llm.url + "/v1"))
    text = "".join(answer_stream("When is the rocket launch?", CONTEXTS, choice))
    assert isinstance(choice.generator, ExtractiveGenerator)
    assert "openai:gpt-test failed" in choice.note and "HTTP 503" in choice.note
    assert "[2]" in text


def test_llm_dying_mid_answer_keeps_what_came(llm):
    llm.fail_after = 2
    choice = GeneratorChoice(OllamaGenerator("fake-llm:1b", llm.url))
    text = "".join(answer_stream("q", CONTEXTS, choice))
    assert text.startswith("Redistribution is allowed if the notice is kept")
    assert isinstance(choice.generator, OllamaGenerator)
    # a dropped connection either ends the stream early or raises mid-way: never a traceback
    assert "[the answer was cut off" in text or text == "".join(llm.pieces[:2])


def test_openai_server_that_ignores_stream_true(llm, monkeypatch):
    gen = OpenAICompatibleGenerator("gpt-test", llm.url + "/v1")
    import app.answer.generators as g

    real_post = g._post
    monkeypatch.setattr(g, "_post", lambda url, payload, timeout, headers=None: real_post(url, {**payload, "stream": False}, timeout, headers))
    assert list(gen.stream("q", CONTEXTS)) == ["".join(llm.pieces)]


def test_extractive_ranks_by_meaning_when_given_an_embedder():
    def embed(texts):  # a toy "meaning": going up and launches share a topic; no shared words needed
        v = np.array([[1.0, 0.1] if ("launch" in t or "go up" in t) else [0.1, 1.0] for t in texts], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    picked = ExtractiveGenerator(embed=embed).pick("When do we go up?", CONTEXTS)
    assert picked[0][:2] == (2, "The rocket launch is scheduled for Tuesday at dawn.")


def test_extractive_says_when_nothing_matches():
    text = "".join(ExtractiveGenerator().stream("quantum chromodynamics lattice", CONTEXTS))
    assert "do not seem to answer" in text


def test_sentence_split_keeps_list_items_apart():
    assert split_sentences("One sentence. Another one!\n\n- item one\n- item two") == ["One sentence.", "Another one!", "- item one", "- item two"]
