"""Token-aware chunking with overlap.

A document is a list of `Section`s (text under one heading path, or one PDF page) at known
character offsets in the document's text. Each section is cut into chunks of at most
`max_tokens` tokens of the embedding model, preferring paragraph, then sentence, then line
breaks; consecutive chunks overlap by about `overlap` tokens. Every chunk keeps its exact
character span: `document_text[chunk.start:chunk.end] == chunk.text`.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

Spans = list[tuple[int, int]]
TokenSpans = Callable[[str], Spans]  # text → (start, end) character span of each token

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"[.!?;:][\"'”’)\]]*\s+")
_LINE = re.compile(r"\n\s*")


@dataclass(frozen=True)
class Section:
    """Text under one heading path (or one page), starting at `start` in the document text."""

    text: str
    start: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int  # character offsets in the document text
    end: int
    heading_path: tuple[str, ...]
    page: int | None
    tokens: int
    index: int = 0  # position in the document


def regex_token_spans(text: str) -> Spans:
    """Words and punctuation marks: a model-free stand-in for a sub-word tokenizer."""
    return [m.span() for m in _WORD.finditer(text)]


def hf_token_spans(tokenizer: Any) -> TokenSpans:
    """Token spans from a Hugging Face (fast) tokenizer, without special tokens."""

    def spans(text: str) -> Spans:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(a), int(b)) for a, b in enc["offset_mapping"] if b > a]

    return spans


def _breaks(pattern: re.Pattern[str], text: str) -> list[int]:
    """Character positions where a new piece may start (just after the match)."""
    return [m.end() for m in pattern.finditer(text)]


def chunk_sections(
    sections: Sequence[Section],
    token_spans: TokenSpans = regex_token_spans,
    max_tokens: int = 200,
    overlap: int = 40,
) -> list[Chunk]:
    """Cut every section into overlapping chunks of at most `max_tokens` tokens."""
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    overlap = max(0, min(overlap, max_tokens // 2))
    out: list[Chunk] = []
    for sec in sections:
        for a, b, n in _split(sec.text, token_spans(sec.text), max_tokens, overlap):
            out.append(Chunk(sec.text[a:b], sec.start + a, sec.start + b, sec.heading_path, sec.page, n, len(out)))
    return out


def _split(text: str, spans: Spans, max_tokens: int, overlap: int) -> list[tuple[int, int, int]]:
    """(start, end, n_tokens) character spans of the chunks of one section."""
    n = len(spans)
    if n == 0:
        return []
    starts = [s for s, _ in spans]
    levels = [_breaks(p, text) for p in (_PARAGRAPH, _SENTENCE, _LINE)]
    sentence_starts = sorted(set(levels[0]) | set(levels[1]))
    out = []
    i = 0
    while i < n:
        j = min(i + max_tokens, n)  # tokens [i, j) fit
        if j < n:
            j = _best_break(starts, levels, i, j, max_tokens)
        out.append((spans[i][0], spans[j - 1][1], j - i))
        if j >= n:
            break
        nxt = max(j - overlap, i + 1)
        if overlap:  # start the overlap at a sentence start when one lies inside it
            k = bisect.bisect_left(sentence_starts, spans[nxt][0])
            if k < len(sentence_starts) and sentence_starts[k] < spans[j - 1][1]:
                nxt = max(bisect.bisect_left(starts, sentence_starts[k]), nxt)
        i = min(nxt, j)  # never stall, never skip
    return out


def _best_break(starts: list[int], levels: list[list[int]], i: int, j: int, max_tokens: int) -> int:
    """The token index to end a chunk at: the last paragraph, sentence or line break in the
    back half of the window [i, j), else j itself."""
    lo = starts[i + max(1, max_tokens // 2)] if i + max(1, max_tokens // 2) < j else starts[i] + 1
    hi = starts[j]  # a break at the start of token j keeps tokens [i, j)
    for positions in levels:
        k = bisect.bisect_right(positions, hi) - 1
        if k >= 0 and positions[k] >= lo:
            t = bisect.bisect_left(starts, positions[k])  # first token at or after the break
            if i < t <= j:
                return t
    return j
