"""Ask: retrieve passages, then stream an answer that cites them as [1]…[k]."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from app.answer.generators import GeneratorChoice, answer_stream, make_generator
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
    """A citation in `ask --json`."""
    return {
        "source": hit.source,
        "start_s": hit.start_s,
        "end_s": hit.end_s,
        "chunk_text": hit.text,
        "score": round(float(hit.score), 6),
    }


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
        """`{"answer", "citations": [{"source", "start_s", "end_s", "chunk_text", "score"}], "generator", "note",
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
    if not hits:
        return AnswerStream(q, [], choice, iter(["Nothing in the indexed documents matches this question."]))
    weak = retriever.weak_match(q, filter)
    return AnswerStream(q, hits, choice, answer_stream(q, [_Context(h) for h in hits], choice, embed), weak)


def ask(question: str, retriever: Retriever, k: int = 5, **kwargs: Any) -> Answer:
    """`ask_stream` collected into one Answer."""
    return ask_stream(question, retriever, k=k, **kwargs).answer()
