"""Index documents (txt, md, html, pdf, http(s) URLs) and transcript segments for RAG.

Every document becomes overlapping chunks (see `indexers.chunking`) stored in the text
collection of its encoder, `doc__<encoder>`, with Milvus's BM25 function where the store
has it. A chunk row keeps `source`, `title`, `text` and, in `meta`, its heading path,
character offsets (into the extracted text), page and chunk number. Transcript segments
of audio and video (`index_segments`) go into the same collection with `kind="segment"`
and their `start_s`/`end_s`, so questions retrieve both.

Ids hash (source, content, chunking settings, offsets): re-indexing unchanged content
writes nothing, and chunks of an older version of a source are deleted.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from encoders.base import Encoder
from indexers.calibration import finish_collections
from indexers.chunking import (
    Chunk,
    Section,
    TokenSpans,
    chunk_sections,
    hf_token_spans,
    regex_token_spans,
)
from indexers.defaults import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP
from indexers.files import discover, item_id
from indexers.progress import Progress, progress_bar
from indexers.report import IndexReport
from indexers.text_encoder import DOC_KIND, resolve_text_encoder_id  # noqa: F401 (DOC_KIND: the row kind of chunks too)
from indexers.web import DownloadError, download, is_url, mb
from milvus import Collection, Filter, VectorStore

log = logging.getLogger(__name__)

SEGMENT_KIND = "segment"  # row kind of transcript segments (audio, video)
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
USER_AGENT = "mmsearch/0.1 (document indexer)"

FORMATS = {".txt": "text", ".text": "text", ".rst": "text", ".md": "markdown", ".markdown": "markdown",
           ".html": "html", ".htm": "html", ".xhtml": "html", ".pdf": "pdf"}
# In a folder, files with these suffixes are not documents and are passed over silently;
# other unknown files are read as plain text when they look like text.
NOT_DOCS = frozenset(
    ".jpg .jpeg .png .gif .webp .bmp .tif .tiff .ico .svg .heic .mp3 .wav .flac .ogg .m4a .aac .opus .mp4 .mkv .mov "
    ".avi .webm .gz .xz .bz2 .zst .zip .tar .tgz .7z .rar .deb .rpm .whl .jar .so .o .a .pyc .class .exe .dll .bin .db "
    ".sqlite .woff .woff2 .ttf .otf .eot .iso .img .npy .npz .pt .pth .safetensors .onnx .parquet .pkl .doc .docx .odt "
    ".xls .xlsx .ppt .pptx .epub .lock".split()
)


class DocError(Exception):
    """Why one document was skipped, in one sentence."""


@dataclass
class ParsedDoc:
    source: str
    title: str
    text: str
    sections: list[Section]
    format: str
    digest: str  # sha256 of the raw bytes
    encoding: str | None = None


@dataclass
class DocsIndexReport(IndexReport):
    """An IndexReport that also counts chunks written and stale chunks removed."""

    chunks: int = 0
    removed: int = 0
    encoder: str = ""

    def summary(self) -> str:
        head, *rest = super().summary().split("\n")
        head += f"; {self.chunks} chunks written, {self.removed} stale removed ({self.encoder})"
        return "\n".join([head, *rest])

    def to_dict(self) -> dict:
        return {**super().to_dict(), "chunks": self.chunks, "removed": self.removed, "encoder": self.encoder}


def text_collection(store: VectorStore, encoder: Encoder, create: bool = True) -> Collection:
    """The doc collection of `encoder` (records its id and dim); BM25 where the store has it.
    The encoder loads first when the collection may be created: a model that cannot load (a
    service without it, missing weights) leaves no empty collection behind."""
    if create or not encoder.spec.dim:
        encoder.load()  # and models unknown to the registry learn their dim on load
    return store.collection(DOC_KIND, encoder.spec.id, encoder.spec.dim, encoder.spec.metric, create=create, bm25=True)


def token_spans_for(encoder: Encoder) -> tuple[TokenSpans, int | None]:
    """The encoder's own tokenizer (and its max sequence length) when it has one, else words."""
    found = encoder.text_tokenizer()
    if found is None:
        return regex_token_spans, None
    tok, max_len = found
    return hf_token_spans(tok), max_len


# -- reading ----------------------------------------------------------------------------
def discover_docs(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to read: named files as they are; in folders (recursively) every non-hidden file
    that is not a known non-document type. Also the paths that do not exist."""
    return discover(paths, accept=lambda f: not f.name.startswith(".") and f.suffix.lower() not in NOT_DOCS and f.is_file())


def read_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    size = path.stat().st_size
    if size > max_bytes:
        raise DocError(f"{mb(size)} is over the {mb(max_bytes)} limit")
    return path.read_bytes()


def fetch_url(url: str, timeout: float = 10.0, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, str, str | None]:
    """(body, content type, charset) of an http(s) URL, within `timeout` seconds in all and `max_bytes`."""
    try:
        got = download(url, timeout, max_bytes, accept="text/html,application/xhtml+xml,application/pdf,text/plain;q=0.9,*/*;q=0.5", user_agent=USER_AGENT)
    except DownloadError as exc:
        raise DocError(str(exc)) from None
    return got.body, got.content_type, got.charset


def decode_text(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Text and the encoding it was read with: BOM → declared charset → UTF-8 → detected.
    Binary data and undetectable encodings raise DocError."""
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError:
                break
    if declared:
        try:
            return data.decode(declared), declared.lower()
        except (LookupError, UnicodeDecodeError):
            log.debug("declared charset %s does not decode; detecting", declared)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:8192]:
        raise DocError("looks like a binary file, not text")
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DocError("is not UTF-8 and its text encoding could not be detected")
    return str(best), best.encoding


def _sniff_format(name: str, data: bytes, ctype: str | None) -> str:
    if ctype:
        if ctype in ("text/html", "application/xhtml+xml"):
            return "html"
        if ctype == "application/pdf":
            return "pdf"
        if ctype in ("text/markdown", "text/x-markdown"):
            return "markdown"
    fmt = FORMATS.get(Path(name.split("?")[0]).suffix.lower())
    if fmt:
        return fmt
    head = data[:1024].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return "pdf"
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    if ctype and not ctype.startswith("text/") and ctype not in ("application/json", "application/xml"):
        raise DocError(f"content type {ctype} is not a document")
    return "text"


def parse_document(data: bytes, source: str, ctype: str | None = None, charset: str | None = None) -> ParsedDoc:
    """Bytes of a txt/md/html/pdf document → its title, text and sections."""
    if not data.strip():
        raise DocError("empty file")
    fmt = _sniff_format(source, data, ctype)
    digest = hashlib.sha256(data).hexdigest()
    name = source.rstrip("/").rsplit("/", 1)[-1] if is_url(source) else Path(source).name
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in FORMATS else name
    if fmt == "pdf":
        title, text, sections = _parse_pdf(data)
        encoding = None
    else:
        if fmt == "html":
            from indexers.html_text import declared_charset

            charset = charset or declared_charset(data)
        raw, encoding = decode_text(data, charset)
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
        if fmt == "html":
            from indexers.html_text import extract_html

            page = extract_html(raw)
            title, text, sections = page.title, page.text, page.sections
        elif fmt == "markdown":
            text = raw
            sections = markdown_sections(text)
            title = next((s.heading_path[0] for s in sections if s.heading_path), "")
        else:
            text, sections, title = raw, [Section(raw, 0)], ""
    if not text.strip():
        raise DocError("has no text" + (" (a scanned PDF? OCR is not supported)" if fmt == "pdf" else ""))
    return ParsedDoc(source, (title or stem or source).strip()[:300], text, sections, fmt, digest, encoding)


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def markdown_sections(text: str) -> list[Section]:
    """Sections starting at each ATX (`## x`) or setext heading, outside fenced code."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    bounds: list[tuple[int, tuple[str, ...]]] = [(0, ())]
    path: list[tuple[int, str]] = []
    fence = None
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        if fence:
            continue
        level, title, start = 0, "", offsets[i]
        m = _ATX.match(line)
        if m:
            level, title = len(m.group(1)), m.group(2).strip()
        elif i > 0 and _SETEXT.match(line) and lines[i - 1].strip() and not _ATX.match(lines[i - 1]) \
                and not lines[i - 1].lstrip().startswith(("-", "*", "+", ">", "|")):
            level, title, start = (1 if line.strip()[0] == "=" else 2), lines[i - 1].strip(), offsets[i - 1]
        if level and title:
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, title))
            bounds.append((start, tuple(t for _, t in path)))
    out = []
    for (start, hp), (end, _) in zip(bounds, bounds[1:] + [(len(text), ())]):
        body = text[start:end].rstrip()
        if body.strip():
            out.append(Section(body, start, hp))
    return out


def _parse_pdf(data: bytes) -> tuple[str, str, list[Section]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocError("is an encrypted PDF")
        pages = [(page.extract_text() or "").replace("\r\n", "\n") for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except DocError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise DocError(f"is not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        if "crypt" in str(exc).lower():
            raise DocError("is an encrypted PDF that needs a password or a crypto library") from None
        raise DocError(f"is not a readable PDF ({type(exc).__name__})") from None
    parts, sections, pos = [], [], 0
    for n, page_text in enumerate(pages, 1):
        if page_text.strip():
            sections.append(Section(page_text, pos, (), n))
        parts.append(page_text)
        pos += len(page_text) + 2
    text = "\n\n".join(parts)
    if not title:
        title = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")[:120]
    return title, text, sections


def load_source(src: str, url_timeout: float = 10.0, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedDoc:
    """Read and parse a path or an http(s) URL; problems raise DocError."""
    if is_url(src):
        data, ctype, charset = fetch_url(src, url_timeout, max_bytes)
        return parse_document(data, src, ctype, charset)
    try:
        data = read_file(Path(src), max_bytes)
    except OSError as exc:
        raise DocError(f"cannot read file ({exc.strerror or exc})") from None
    return parse_document(data, src)


# -- rows -------------------------------------------------------------------------------
def chunk_ids(doc_key: str, chunks: Sequence[Chunk]) -> list[str]:
    return [item_id(doc_key, f"{c.start}-{c.end}") for c in chunks]


def embedding_text(title: str, heading_path: Sequence[str], text: str) -> str:
    """What gets embedded: the chunk, after a short line of context (title › headings)."""
    context = " › ".join([title, *[h for h in heading_path if h != title]])
    return f"{context}\n{text}" if context else text


def chunk_row(doc: ParsedDoc, chunk: Chunk, rid: str, vector: Any, n_chunks: int) -> dict[str, Any]:
    return {
        "id": rid,
        "vector": vector,
        "source": doc.source,
        "kind": DOC_KIND,
        "title": doc.title,
        "text": chunk.text,
        "meta": {
            "heading_path": list(chunk.heading_path),
            "char_start": chunk.start,
            "char_end": chunk.end,
            "page": chunk.page,
            "chunk": chunk.index,
            "chunks": n_chunks,
            "format": doc.format,
            "encoding": doc.encoding,
            "digest": doc.digest,
        },
    }


def _stored_ids(coll: Collection, source: str) -> set[str]:
    return {r["id"] for r in coll.scan(Filter.eq("source", source), fields=("id",))}


def _replace(coll: Collection, source: str, rows: list[dict[str, Any]], ids: list[str]) -> tuple[int, int]:
    """Write `rows` and delete this source's rows not in `ids`: (written, removed)."""
    stale = _stored_ids(coll, source) - set(ids)
    written = coll.upsert(rows)
    if stale:
        coll.delete(sorted(stale))
    return written, len(stale)


# -- indexing ---------------------------------------------------------------------------
def index_docs(
    inputs: Sequence[str | Path],
    store: VectorStore,
    encoder: Encoder,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    overlap: int = DEFAULT_OVERLAP,
    url_timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress = True,
) -> DocsIndexReport:
    """Index files, folders and http(s) URLs; each bad input is skipped with its reason."""
    t0 = time.perf_counter()
    report = DocsIndexReport(kind="docs", encoder=encoder.spec.id)
    urls = [str(i) for i in inputs if is_url(str(i))]
    files, missing = discover_docs([i for i in inputs if not is_url(str(i))])
    for p, reason in missing:
        report.skip(p, reason)
    spans, max_seq = token_spans_for(encoder)
    if max_seq:  # room for the context line and special tokens: nothing is cut off by the model
        chunk_tokens = max(8, min(chunk_tokens, max_seq - 32))
    coll = text_collection(store, encoder)
    report.collections = [coll.name]
    sources = [str(f) for f in files] + urls
    for src in progress_bar(progress, len(sources), "doc", "indexing docs", iterable=sources, quiet_below=2):
        try:
            doc = load_source(src, url_timeout, max_bytes)
        except DocError as exc:
            report.skip(src, str(exc))
            continue
        chunks = chunk_sections(doc.sections, spans, chunk_tokens, overlap)
        if not chunks:
            report.skip(src, "has no text")
            continue
        ids = chunk_ids(f"{doc.source}\0{doc.digest}\0{chunk_tokens}/{overlap}", chunks)
        present = coll.existing_ids(ids)
        todo = [(c, i) for c, i in zip(chunks, ids) if i not in present]
        vecs = encoder.embed_documents([embedding_text(doc.title, c.heading_path, c.text) for c, _ in todo])
        rows = [chunk_row(doc, c, i, v, len(chunks)) for (c, i), v in zip(todo, vecs)]
        written, removed = _replace(coll, doc.source, rows, ids)
        report.chunks += written
        report.removed += removed
        if written:
            report.indexed += 1
        else:
            report.unchanged += 1
        log.info("%s: %d chunks (%d new), %d stale removed", src, len(chunks), written, removed)
    finish_collections([(encoder, coll)], bool(report.chunks))
    report.seconds = time.perf_counter() - t0
    return report


@dataclass
class Segment:
    start_s: float
    end_s: float
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


def _as_segment(s: Any) -> Segment:
    if isinstance(s, Segment):
        return s
    if isinstance(s, dict):
        return Segment(float(s["start_s"]), float(s["end_s"]), str(s["text"]))
    if isinstance(s, (tuple, list)):
        return Segment(float(s[0]), float(s[1]), str(s[2]))
    return Segment(float(s.start_s), float(s.end_s), str(s.text))  # e.g. a Transcriber's segment objects


def index_segments(
    store: VectorStore,
    source: str | Path,
    segments: Iterable[Any],
    encoder: Encoder | None = None,
    title: str | None = None,
    context: int = 1,
) -> IndexReport:
    """Store the transcript segments of one audio/video file so questions can cite them.

    `segments`: `(start_s, end_s, text)` tuples, dicts with those keys, or objects with those
    attributes. Each segment is one row (its own text and times, for exact citations); it is
    embedded with `context` neighbouring segments on each side so short lines keep their sense.
    Re-indexing the same segments writes nothing; segments of an older transcript are deleted.
    """
    from encoders import get_encoder

    t0 = time.perf_counter()
    source = str(source)
    if encoder is None:
        encoder = get_encoder(resolve_text_encoder_id(None, store)[0])
    report = IndexReport(kind="segments")
    segs = [s for s in map(_as_segment, segments) if s.text.strip()]
    coll = text_collection(store, encoder)
    report.collections = [coll.name]
    title = title or Path(source).name
    key = hashlib.sha256(source.encode()).hexdigest()
    ids = [item_id(key, f"{s.start_s:.3f}-{s.end_s:.3f}-{hashlib.sha256(s.text.encode()).hexdigest()[:16]}") for s in segs]
    present = coll.existing_ids(ids)
    todo = [(n, i) for n, i in enumerate(ids) if i not in present]
    texts = []
    for n, _ in todo:
        window = " ".join(s.text.strip() for s in segs[max(0, n - context) : n + context + 1])
        texts.append(embedding_text(title, (), window))
    vecs = encoder.embed_documents(texts)
    rows = [
        {
            "id": i, "vector": v, "source": source, "kind": SEGMENT_KIND, "title": title, "text": segs[n].text.strip(),
            "start_s": segs[n].start_s, "end_s": segs[n].end_s, "meta": {"segment": n, "segments": len(segs), **segs[n].meta},
        }
        for (n, i), v in zip(todo, vecs)
    ]
    report.indexed, _ = _replace(coll, source, rows, ids)
    report.unchanged = len(ids) - report.indexed
    finish_collections([(encoder, coll)], bool(report.indexed))
    report.seconds = time.perf_counter() - t0
    return report
