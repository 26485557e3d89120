"""Indexing documents, URLs and transcript segments into Milvus Lite with the fake encoder:
row contents, skipped inputs with reasons, idempotent re-indexing, stale chunks, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli.main import main
from encoders import get_encoder
from indexers.docs import index_docs, index_segments, text_collection
from milvus import Filter
from tests.doc_samples import HTML, MARKDOWN, PageServer, make_pdf

ENC = "fake:16"


@pytest.fixture
def enc():
    return get_encoder(ENC)


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    (d / "sub").mkdir(parents=True)
    (d / "guide.md").write_text(MARKDOWN)
    (d / "kettle.html").write_text(HTML)
    (d / "birds.pdf").write_bytes(make_pdf(["The heron waits in the reeds.", "The owl hunts at night."], title="Bird notes"))
    (d / "LICENSE-1.0").write_text("Permission is granted to copy this text. " * 30)  # no suffix: read as text
    (d / "sub" / "latin1.txt").write_bytes(("Grüße aus München, schöne Äpfel und süße Birnen. " * 20).encode("latin-1"))
    (d / "empty.txt").write_bytes(b"")
    (d / "noise.dat").write_bytes(bytes(range(256)) * 8)
    (d / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # not a document type: passed over silently
    (d / ".hidden.md").write_text("# secret")
    return d


def _rows(store, enc):
    return text_collection(store, enc).query(limit=1000)


def test_folder_is_indexed_and_bad_files_are_reported(store, enc, docs_dir):
    report = index_docs([docs_dir, docs_dir / "missing.md"], store, enc, chunk_tokens=40, overlap=8, progress=False)
    assert report.indexed == 5 and report.unchanged == 0
    reasons = {Path(p).name: r for p, r in report.failed}
    assert set(reasons) == {"empty.txt", "noise.dat", "missing.md"}
    assert reasons["empty.txt"] == "empty file" and "binary" in reasons["noise.dat"] and "no such file" in reasons["missing.md"]
    assert report.ok and report.collections == ["doc__fake_16"] and report.chunks > 5

    rows = _rows(store, enc)
    assert len(rows) == report.chunks
    by_source: dict[str, list[dict]] = {}
    for r in rows:
        by_source.setdefault(Path(r["source"]).name, []).append(r)
    assert set(by_source) == {"guide.md", "kettle.html", "birds.pdf", "LICENSE-1.0", "latin1.txt"}
    md = {tuple(r["meta"]["heading_path"]) for r in by_source["guide.md"]}
    assert ("Field guide", "Owls", "Barn owl") in md
    for r in by_source["guide.md"]:  # offsets point into the file's text
        assert MARKDOWN[r["meta"]["char_start"] : r["meta"]["char_end"]] == r["text"]
        assert r["kind"] == "doc" and r["title"] == "Field guide" and r["start_s"] is None
    pdf = by_source["birds.pdf"]
    assert {r["meta"]["page"] for r in pdf} == {1, 2} and pdf[0]["title"] == "Bird notes"
    assert by_source["latin1.txt"][0]["meta"]["encoding"] != "utf-8"
    assert "München" in by_source["latin1.txt"][0]["text"]
    assert all("<" not in r["text"] for r in by_source["kettle.html"])


def test_reindex_is_idempotent_and_changes_replace_old_chunks(store, enc, docs_dir):
    first = index_docs([docs_dir], store, enc, chunk_tokens=40, overlap=8, progress=False)
    coll = text_collection(store, enc)
    n = coll.count()
    again = index_docs([docs_dir], store, enc, chunk_tokens=40, overlap=8, progress=False)
    assert (again.indexed, again.unchanged, again.chunks, again.removed) == (0, first.indexed, 0, 0)
    assert coll.count() == n

    guide = docs_dir / "guide.md"
    old = len(coll.query(Filter.eq("source", str(guide.resolve())), limit=100))
    guide.write_text("# Field guide\n\nOnly one short paragraph now.\n")
    changed = index_docs([guide], store, enc, chunk_tokens=40, overlap=8, progress=False)
    assert (changed.indexed, changed.chunks, changed.removed) == (1, 1, old)
    rows = coll.query(Filter.eq("source", str(guide.resolve())), limit=100)
    assert [r["text"] for r in rows] == ["# Field guide\n\nOnly one short paragraph now."]
    assert coll.count() == n - old + 1


def test_urls_with_timeouts_size_cap_and_errors(store, enc):
    pages = {
        "/kettle": ("text/html; charset=utf-8", HTML.encode()),
        "/notes.md": ("text/plain", MARKDOWN.encode()),
        "/manual.pdf": ("application/pdf", make_pdf(["Press the red button twice."])),
        "/big": ("text/plain", b"x" * 300_000),
        "/slow": ("text/plain", b"late"),
        "/img": ("image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
    }
    with PageServer(pages) as base:
        urls = [base + p for p in ("/kettle", "/notes.md", "/manual.pdf", "/big", "/slow", "/img", "/missing")]
        report = index_docs(urls, store, enc, url_timeout=1.0, max_bytes=200_000, progress=False)
    reasons = {u.rsplit("/", 1)[-1]: r for u, r in report.failed}
    assert report.indexed == 3
    assert reasons["big"] in ("0.286 MB is over the 0.191 MB limit", "the download passed the 0.191 MB limit")
    assert "within 1 s" in reasons["slow"]
    assert "image/png is not a document" in reasons["img"]
    assert "HTTP 404" in reasons["missing"]
    rows = _rows(store, enc)
    kettle = [r for r in rows if r["source"].endswith("/kettle")]
    assert kettle and kettle[0]["title"] == "Kettle manual" and kettle[0]["meta"]["format"] == "html"
    assert any(r["meta"]["format"] == "markdown" for r in rows)


def test_segments_are_rows_with_times_and_reindex_cleanly(store, enc, tmp_path):
    video = tmp_path / "talk.mp4"
    segs = [(0.0, 4.5, "Welcome to the talk."), {"start_s": 4.5, "end_s": 9.0, "text": "Today: owls."}, (9.0, 12.0, "  ")]
    rep = index_segments(store, video, segs, encoder=enc)
    assert (rep.indexed, rep.unchanged) == (2, 0)
    coll = text_collection(store, enc)
    rows = sorted(coll.query(Filter.eq("source", str(video)), limit=10), key=lambda r: r["start_s"])
    assert [(r["kind"], r["start_s"], r["end_s"], r["text"], r["title"]) for r in rows] == [
        ("segment", 0.0, 4.5, "Welcome to the talk.", "talk.mp4"),
        ("segment", 4.5, 9.0, "Today: owls.", "talk.mp4"),
    ]
    assert index_segments(store, video, segs, encoder=enc).unchanged == 2
    # a new transcript of the same file replaces the old segments
    rep = index_segments(store, video, [(0.0, 5.0, "Welcome, everyone.")], encoder=enc)
    assert rep.indexed == 1 and [r["text"] for r in coll.query(Filter.eq("source", str(video)), limit=10)] == ["Welcome, everyone."]


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_index_docs_and_ask_json(docs_dir, tmp_db, capsys, monkeypatch):
    monkeypatch.delenv("MMSEARCH_LLM", raising=False)
    code = main(["index", "docs", str(docs_dir), "--db", tmp_db, "--encoder", ENC, "-q", "--json", "--chunk-tokens", "40"])
    out = capsys.readouterr()
    assert code == 0
    report = json.loads(out.out)
    assert report["indexed"] == 5 and len(report["skipped"]) == 2 and report["encoder"] == ENC
    assert "text encoder fake:16 (chosen explicitly)" in out.err

    # no --encoder: `ask` uses the encoder the database was filled with
    code = main(["ask", "How do I descale the kettle?", "--db", tmp_db, "--json", "--llm", "extractive", "--mode", "bm25", "-k", "3"])
    out = capsys.readouterr()
    assert code == 0
    answer = json.loads(out.out)
    assert set(answer) == {"answer", "citations", "generator", "note", "weak_match"}
    assert answer["weak_match"] is None  # hash vectors carry no meaning to calibrate
    assert answer["generator"] == "extractive" and answer["answer"].startswith("Extractive answer (no language model was asked for)")
    assert 1 <= len(answer["citations"]) <= 3  # BM25 cites only passages that share a word with the question
    first = answer["citations"][0]
    assert set(first) == {"source", "start_s", "end_s", "chunk_text", "score", "relevance"}
    assert first["source"].endswith("kettle.html") and "vinegar" in first["chunk_text"]
    assert "“Descale the kettle monthly with white vinegar.” [1]" in answer["answer"]


def test_cli_ask_human_output_and_errors(docs_dir, tmp_db, capsys):
    assert main(["ask", "anything", "--db", tmp_db, "--encoder", ENC, "--llm", "extractive"]) == 1
    assert "no documents are indexed with fake:16 yet" in capsys.readouterr().err
    assert main(["index", "docs", str(docs_dir / "kettle.html"), "--db", tmp_db, "--encoder", ENC, "-q"]) == 0
    capsys.readouterr()
    assert main(["ask", "descale with vinegar", "--db", tmp_db, "--encoder", ENC, "--llm", "extractive", "--mode", "bm25"]) == 0
    out = capsys.readouterr()
    assert "Sources:\n  [1] Kettle manual › Descaling — " in out.out and "kettle.html" in out.out
    assert "answered by extractive" in out.err
    assert main(["ask", "   ", "--db", tmp_db]) == 1
    assert "type something" in capsys.readouterr().err
    assert main(["index", "docs", str(docs_dir / "kettle.html"), "--db", tmp_db, "--encoder", "fake:16", "--dim", "8"]) == 1
    assert "--dim applies to sentence-transformers encoders" in capsys.readouterr().err
