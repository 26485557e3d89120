"""Reading documents: chunking with overlap and exact offsets, Markdown headings, HTML main
text, PDF pages, text encodings and the reasons bad inputs are refused."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from indexers.chunking import Section, chunk_sections, regex_token_spans
from indexers.docs import DocError, decode_text, markdown_sections, parse_document
from indexers.html_text import extract_html
from tests.doc_samples import HTML, MARKDOWN, make_pdf

LICENCE = Path("/usr/share/common-licenses/Apache-2.0")


def _licence_text() -> str:
    if not LICENCE.exists():
        pytest.skip("Debian's base-files licence texts are not installed")
    return LICENCE.read_text()


# -- chunking -------------------------------------------------------------------------------
def test_chunks_keep_exact_offsets_token_budget_and_overlap():
    text = _licence_text()
    chunks = chunk_sections([Section(text, 0)], regex_token_spans, max_tokens=120, overlap=24)
    assert len(chunks) > 10
    for c in chunks:
        assert text[c.start : c.end] == c.text  # offsets point at the chunk in the document
        assert c.tokens <= 120 and len(regex_token_spans(c.text)) == c.tokens
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "consecutive chunks overlap"
        assert b.start > a.start, "and always move forward"
    spans = [(c.start, c.end) for c in chunks]
    for a, b in regex_token_spans(text):  # every word is in some chunk
        assert any(s <= a and b <= e for s, e in spans)
    # chunks prefer to end at a sentence or paragraph, not mid-sentence
    ends = [c.text.rstrip()[-1] for c in chunks[:-1]]
    assert sum(e in ".;:)\"" for e in ends) >= 0.7 * len(ends)


def test_no_overlap_means_chunks_tile_the_text():
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = chunk_sections([Section(text, 100)], regex_token_spans, max_tokens=50, overlap=0)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start >= a.end
    assert chunks[0].start == 100 and all(c.tokens <= 50 for c in chunks)


def test_a_sentence_longer_than_the_budget_is_cut_by_tokens():
    text = "word " * 500
    chunks = chunk_sections([Section(text, 0)], regex_token_spans, max_tokens=64, overlap=8)
    assert all(c.tokens <= 64 for c in chunks) and len(chunks) >= 500 // 56


def test_hf_tokenizer_spans(monkeypatch):
    from indexers.chunking import hf_token_spans

    class Tok:  # the slice of a Hugging Face fast tokenizer that chunking uses
        def __call__(self, text, add_special_tokens, return_offsets_mapping, verbose):
            assert add_special_tokens is False and return_offsets_mapping
            return {"offset_mapping": [(0, 3), (3, 3), (4, 9)]}

    assert hf_token_spans(Tok())("abc defgh") == [(0, 3), (4, 9)]


# -- markdown, html, pdf -------------------------------------------------------------------------
def test_markdown_sections_have_heading_paths_and_offsets():
    secs = markdown_sections(MARKDOWN)
    paths = [s.heading_path for s in secs]
    assert paths == [("Field guide",), ("Field guide", "Owls"), ("Field guide", "Owls", "Barn owl"), ("Field guide", "Herons")]
    for s in secs:
        assert MARKDOWN[s.start : s.start + len(s.text)] == s.text
    owls = secs[1].text
    assert "# not a heading" in owls  # a comment inside fenced code is not a heading


def test_html_main_text_without_scripts_navigation_or_hidden_text():
    page = extract_html(HTML)
    assert page.title == "Kettle manual"
    assert "Fill the kettle with cold water & press the switch." in page.text
    for gone in ("alert", "color:red", "Home", "ACME site header", "Hidden coupon", "Copyright ACME", "<"):
        assert gone not in page.text
    assert [s.heading_path for s in page.sections] == [("Kettle manual",), ("Kettle manual", "Descaling"), ("Kettle manual", "Safety")]
    for s in page.sections:
        assert page.text[s.start : s.start + len(s.text)] == s.text


def test_html_without_main_keeps_the_body():
    page = extract_html("<html><body><h2>Notes</h2><p>First.<br>Second line.</p><div>Third</div></body></html>")
    assert page.text == "Notes\n\nFirst.\n\nSecond line.\n\nThird"
    assert page.title == "" and page.sections[0].heading_path == ("Notes",)


def test_pdf_pages_and_title():
    data = make_pdf(["Chapter one\nThe heron waits in the reeds.", "Chapter two\nThe owl (Tyto alba) hunts."], title="Bird notes")
    doc = parse_document(data, "/tmp/birds.pdf")
    assert doc.format == "pdf" and doc.title == "Bird notes"
    assert [s.page for s in doc.sections] == [1, 2]
    assert "heron waits" in doc.sections[0].text and "Tyto alba" in doc.sections[1].text
    for s in doc.sections:
        assert doc.text[s.start : s.start + len(s.text)] == s.text


@pytest.mark.parametrize(
    "data, name, reason",
    [
        (b"", "empty.txt", "empty file"),
        (b"  \n\t ", "blank.txt", "empty file"),
        (b"%PDF-1.4\n garbage that is not a pdf", "bad.pdf", "not a readable PDF"),
        (make_pdf([""]), "scan.pdf", "no text (a scanned PDF?"),
        (bytes(range(256)) * 4, "blob", "binary file"),
    ],
)
def test_bad_documents_say_why(data, name, reason):
    with pytest.raises(DocError, match=reason.replace("(", r"\(").replace("?", r"\?")):
        parse_document(data, f"/tmp/{name}")


def test_titles_and_formats_from_names():
    assert parse_document(b"plain words", "/x/LGPL-2.1").title == "LGPL-2.1"  # a version, not a suffix
    assert parse_document(b"plain words", "/x/notes.txt").title == "notes"
    md = parse_document(MARKDOWN.encode(), "/x/guide.md")
    assert md.format == "markdown" and md.title == "Field guide"
    html = parse_document(HTML.encode(), "https://example.org/kettle", ctype="text/html")
    assert html.format == "html" and html.title == "Kettle manual"


# -- encodings -------------------------------------------------------------------------------------
def test_decoding_utf8_bom_utf16_declared_and_detected():
    assert decode_text("naïve café".encode()) == ("naïve café", "utf-8")
    assert decode_text(codecs.BOM_UTF8 + "ok".encode()) == ("ok", "utf-8-sig")
    assert decode_text("Grüße".encode("utf-16")) == ("Grüße", "utf-16")
    assert decode_text("Grüße".encode("latin-1"), declared="iso-8859-1") == ("Grüße", "iso-8859-1")
    text = ("Grüße aus München: schöne Äpfel, süße Birnen und große Nüsse. " * 20).encode("cp1252")
    decoded, enc = decode_text(text)  # not UTF-8: the encoding is detected
    assert "Grüße aus München: schöne Äpfel" in decoded and enc != "utf-8"


def test_a_wrong_declared_charset_is_ignored():
    assert decode_text("Grüße".encode(), declared="no-such-charset") == ("Grüße", "utf-8")
