"""Ask: retrieve passages, then stream an answer that cites them as [1]…[k].

Without a language model the answer quotes sentences of the cited passages (`QuotingExtractive`):
the ones most similar to the question by meaning (the text encoder) and by shared terms (the
analyzer of full-text search, `app.search.bm25.analyze`: stems, CJK bigrams), never a heading,
a title line or a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from app.answer.generators import ExtractiveGenerator, GeneratorChoice, answer_stream, make_generator, split_sentences
from app.search.bm25 import analyze
from app.search.docs import Retriever
from app.search.hits import Hit, fmt_ts
from app.search.queries import clean_text_query
from app.settings import Settings
from milvus import Filter


def hit_label(hit: Hit) -> str:
    """Where a passage comes from: title › headings (page n) at m:ss–m:ss — source."""
    meta = hit.meta or {}
    parts = [hit.title or ""]
    parts += [h for h in meta.get("heading_path") or [] if h and h != hit.title]
    label = " › ".join(p for p in parts if p)
    if meta.get("page"):
        label += f" (page {meta['page']})"
    if hit.start_s is not None:
        label += f" at {fmt_ts(hit.start_s)}" + (f"–{fmt_ts(hit.end_s)}" if hit.end_s is not None else "")
    return f"{label} — {hit.source}" if label else str(hit.source)


def citation(hit: Hit) -> dict[str, Any]:
    """A citation in `ask --json`: `score` is the ranking's (fusion, BM25, cosine or cross-encoder),
    `relevance` the cosine similarity of the passage to the question (null in `--mode bm25`)."""
    return {
        "source": hit.source,
        "start_s": hit.start_s,
        "end_s": hit.end_s,
        "chunk_text": hit.text,
        "score": round(float(hit.score), 6),
        "relevance": None if hit.relevance is None else round(float(hit.relevance), 4),
    }


_END = re.compile(r"[.!?。．？！:;)\]”\"'’]$|[다요까죠음함임됨]$")
_URL = re.compile(r"^\S+://\S+$|^www\.\S+$")
_NUMBERED = re.compile(r"^(?:\(?[0-9a-zA-Z]{1,3}[.)]\s*)+")


def is_heading(sentence: str) -> bool:
    """Whether a line reads as a heading or title rather than a sentence that says something:
    a URL; a short line without closing punctuation ("Apache License Version 2.0", "김치의 역사");
    a short line in capitals or in Title Case ("3. Grant of Patent License.")."""
    s = sentence.strip()
    if not s or _URL.match(s):
        return True
    words = _NUMBERED.sub("", s).split()
    if not words:
        return True
    letters = [c for c in s if c.isalpha()]
    upper = sum(c.isupper() for c in letters) / max(1, len(letters))
    latin = [w for w in words if w[:1].isalpha() and w[:1].isascii()]
    titled = sum(w[:1].isupper() for w in latin) / max(1, len(latin)) if latin else 0.0
    cjk = any("\u1100" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af" for c in s)
    if len(words) <= 2 and not cjk:  # "Redistribution.", "Preamble"
        return True
    if len(words) <= 12 and not _END.search(s):
        return True
    if len(words) <= 15 and upper > 0.7 and len(letters) > 3:
        return True
    return len(words) <= 8 and len(latin) >= 2 and titled >= 0.6


def rank_sentences(
    question: str, texts: Sequence[str], embed: Callable[[list[str]], np.ndarray] | None = None, max_words: int = 200
) -> list[tuple[int, str, float]]:
    """(passage number from 1, sentence, score) for the sentences of `texts`, best first: cosine
    similarity to the question (when `embed` is given: texts → unit vectors, question first) plus
    0.3 × the share of the question's analyzed terms the sentence holds, minus 0.02 per passage
    rank. Headings, title lines, URLs and a passage's cut-off first fragment are left out."""
    cands: list[tuple[int, str]] = []
    for n, text in enumerate(texts, 1):
        for k, s in enumerate(split_sentences(text or "")):
            if k == 0 and s[:1].islower():
                continue  # the tail of a sentence cut by the chunk boundary
            if len(s.split()) <= max_words and len(s) >= 8 and not is_heading(s):
                cands.append((n, s))
    if not cands:
        return []
    qterms = set(analyze(question))
    lex = np.array([len(qterms & set(analyze(s))) / max(1, len(qterms)) for _, s in cands], dtype=np.float32)
    score = 0.3 * lex
    if embed is not None:
        vecs = np.asarray(embed([question] + [s for _, s in cands]), dtype=np.float32)
        score = score + vecs[1:] @ vecs[0]
    score = score - 0.02 * np.array([n - 1 for n, _ in cands], dtype=np.float32)
    order = np.argsort(-score, kind="stable")
    return [(cands[int(i)][0], cands[int(i)][1], float(score[int(i)])) for i in order]


@dataclass
class QuotingExtractive(ExtractiveGenerator):
    """The offline answerer, quoting the sentences that answer (`rank_sentences`), not headings."""

    def pick(self, question: str, contexts: Sequence[Any]) -> list[tuple[int, str, float]]:
        """(source number, sentence, score), best first, without repeats."""
        out: list[tuple[int, str, float]] = []
        for n, s, sc in rank_sentences(question, [c.text or "" for c in contexts[: self.passages]], self.embed):
            low = s.lower()
            if any(low in p.lower() or p.lower() in low for _, p, _ in out):
                continue  # the same sentence again (overlapping chunks, repeated licences)
            out.append((n, s, sc))
            if len(out) == self.max_sentences:
                break
        return out


def quoting(choice: GeneratorChoice) -> GeneratorChoice:
    """The choice with a plain extractive answerer replaced by `QuotingExtractive` (same reason and
    settings); a language model is left as it is."""
    gen = choice.generator
    if type(gen) is ExtractiveGenerator:
        choice.generator = QuotingExtractive(
            embed=gen.embed, max_sentences=gen.max_sentences, passages=gen.passages, reason=gen.reason, name=gen.name,
            min_score=gen.min_score,
        )
    return choice


@dataclass
class _Context:
    """A hit as the generators see it: `.text` and `.label()`."""

    hit: Hit
    text: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.text = self.hit.text

    def label(self) -> str:
        return hit_label(self.hit)


@dataclass
class Answer:
    question: str
    text: str
    hits: list[Hit]
    generator: str
    note: str | None = None
    weak: str | None = None  # set when even the best passage matches the question only weakly

    def to_json(self) -> dict[str, Any]:
        """`{"answer", "citations": [{"source", "start_s", "end_s", "chunk_text", "score", "relevance"}], "generator", "note",
        "weak_match"}`; citation n is the source cited as [n]."""
        return {
            "answer": self.text, "citations": [citation(h) for h in self.hits], "generator": self.generator,
            "note": self.note, "weak_match": self.weak,
        }


@dataclass
class AnswerStream:
    """An answer being generated: iterate `pieces`; then `answer()` has the whole of it."""

    question: str
    hits: list[Hit]
    choice: GeneratorChoice
    pieces: Iterator[str]
    weak: str | None = None  # why the passages may not answer the question (see Retriever.weak_match)
    _parts: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[str]:
        for piece in self.pieces:
            self._parts.append(piece)
            yield piece

    def answer(self) -> Answer:
        for _ in self:  # finish the stream if the caller did not
            pass
        return Answer(self.question, "".join(self._parts), self.hits, self.choice.generator.name, self.choice.note, self.weak)


def ask_stream(
    question: str,
    retriever: Retriever,
    k: int = 5,
    llm: str | None = None,
    llm_url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
    filter: Filter | None = None,
    choice: GeneratorChoice | None = None,
    settings: Settings | None = None,
) -> AnswerStream:
    """Retrieve, then stream an answer that cites the hits as [1]…[k]."""
    q = clean_text_query(question)
    hits = retriever.retrieve(q, k=k, filter=filter)
    embed = retriever.embed_for_extractive
    if choice is None:
        choice = make_generator(llm, url=llm_url, api_key=api_key, model=model, embed=embed, settings=settings)
    choice = quoting(choice)
    if not hits:
        return AnswerStream(q, [], choice, iter(["Nothing in the indexed documents matches this question."]))
    weak = retriever.weak_match(q, filter)
    return AnswerStream(q, hits, choice, answer_stream(q, [_Context(h) for h in hits], choice, embed), weak)


def ask(question: str, retriever: Retriever, k: int = 5, **kwargs: Any) -> Answer:
    """`ask_stream` collected into one Answer."""
    return ask_stream(question, retriever, k=k, **kwargs).answer()
