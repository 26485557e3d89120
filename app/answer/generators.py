"""Answer generators for RAG: Ollama, any OpenAI-compatible endpoint, and an offline
extractive answerer (the best sentences of the retrieved passages).

Every generator streams text pieces from `stream(question, contexts)`; contexts are the
numbered passages (objects with `.text` and `.label()`), cited as [1], [2], …
`make_generator()` picks one from a spec ("auto", "extractive", "ollama:MODEL",
"openai:MODEL") and the environment; `answer_stream()` falls back to the extractive
answerer, saying why, when the language model cannot be reached.

HTTP is plain `urllib` (no client libraries): Ollama's `/api/chat` streams NDJSON, the
OpenAI-compatible `/chat/completions` streams server-sent events.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from app.search.bm25 import terms
from encoders.services import why_unreachable
from app.settings import Settings

log = logging.getLogger(__name__)

OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434"
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
MAX_CONTEXT_CHARS = 2000  # per passage in the prompt
SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources provided. Cite the sources that support each "
    "statement with their numbers in square brackets, like [1] or [2][3]. If the sources do not contain "
    "the answer, say that you could not find it in the documents. Be concise."
)


class Context(Protocol):
    text: str | None

    def label(self) -> str: ...


class GeneratorError(RuntimeError):
    """A language model could not be used; the message says which and why, in one sentence."""


class Generator(Protocol):
    name: str

    def stream(self, question: str, contexts: Sequence[Context]) -> Iterator[str]: ...


def build_messages(question: str, contexts: Sequence[Context]) -> list[dict[str, str]]:
    """The chat messages: instructions, then the numbered sources and the question."""
    parts = []
    for n, c in enumerate(contexts, 1):
        text = (c.text or "").strip()
        if len(text) > MAX_CONTEXT_CHARS:
            text = text[:MAX_CONTEXT_CHARS] + " …"
        parts.append(f"[{n}] {c.label()}\n{text}")
    user = "Sources:\n\n" + "\n\n".join(parts) + f"\n\nQuestion: {question}\nAnswer (cite sources as [n]):"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def _post(url: str, payload: dict[str, Any], timeout: float, headers: dict[str, str] | None = None):
    """Open a streaming POST; connection problems and HTTP errors become GeneratorError."""
    data = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json", **(headers or {})})
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc)
        raise GeneratorError(f"{url} answered HTTP {exc.code}" + (f": {detail}" if detail else "")) from None
    except urllib.error.URLError as exc:
        raise GeneratorError(f"cannot reach {url}: {why_unreachable(exc)}") from None
    except (TimeoutError, OSError) as exc:
        raise GeneratorError(f"cannot reach {url}: {why_unreachable(exc)}") from None


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The error message in an HTTP error's body (Ollama: {"error": "…"}, OpenAI: {"error": {"message": "…"}})."""
    try:
        body = exc.read(2000).decode("utf-8", "replace")
    except OSError:
        return ""
    try:
        err = json.loads(body).get("error", body)
    except (ValueError, AttributeError):
        err = body
    if isinstance(err, dict):
        err = err.get("message", err)
    return " ".join(str(err).split())[:200]


def _lines(resp, timeout_msg: str) -> Iterator[str]:
    try:
        for raw in resp:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                yield line
    except (TimeoutError, OSError) as exc:
        raise GeneratorError(f"{timeout_msg}: {why_unreachable(exc)}") from None
    finally:
        resp.close()


@dataclass
class OllamaGenerator:
    """Ollama's `/api/chat`, streamed (`OLLAMA_HOST` or http://127.0.0.1:11434)."""

    model: str
    base_url: str = OLLAMA_DEFAULT_URL
    timeout: float = 120.0
    temperature: float = 0.2

    @property
    def name(self) -> str:
        return f"ollama:{self.model}"

    def stream(self, question: str, contexts: Sequence[Context]) -> Iterator[str]:
        url = self.base_url.rstrip("/") + "/api/chat"
        payload = {"model": self.model, "messages": build_messages(question, contexts), "stream": True,
                   "options": {"temperature": self.temperature}}
        resp = _post(url, payload, self.timeout)
        for line in _lines(resp, f"Ollama at {self.base_url} stopped answering"):
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                raise GeneratorError(f"Ollama at {self.base_url} sent something that is not JSON") from None
            if msg.get("error"):
                raise GeneratorError(f"Ollama: {msg['error']}")
            piece = (msg.get("message") or {}).get("content") or ""
            if piece:
                yield piece
            if msg.get("done"):
                return


@dataclass
class OpenAICompatibleGenerator:
    """Any OpenAI-compatible `/chat/completions` endpoint (OpenAI, vLLM, llama.cpp, LM Studio, …), streamed."""

    model: str
    base_url: str = OPENAI_DEFAULT_URL
    api_key: str | None = None
    timeout: float = 120.0
    temperature: float = 0.2

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def stream(self, question: str, contexts: Sequence[Context]) -> Iterator[str]:
        url = self.base_url.rstrip("/") + "/chat/completions"
        payload = {"model": self.model, "messages": build_messages(question, contexts), "stream": True,
                   "temperature": self.temperature}
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        resp = _post(url, payload, self.timeout, headers)
        if "text/event-stream" not in (resp.headers.get("Content-Type") or ""):  # a server that ignored stream=true
            body = json.loads(resp.read().decode("utf-8", "replace") or "{}")
            resp.close()
            text = ((body.get("choices") or [{}])[0].get("message") or {}).get("content")
            if text is None:
                raise GeneratorError(f"{url} returned no answer")
            yield text
            return
        for line in _lines(resp, f"{self.base_url} stopped answering"):
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except json.JSONDecodeError:
                raise GeneratorError(f"{url} sent an event that is not JSON") from None
            if event.get("error"):
                raise GeneratorError(f"{url}: {event['error']}")
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") or ""
                if piece:
                    yield piece


# -- extractive -------------------------------------------------------------------------
_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)]|\([a-z0-9]{1,4}\))\s)")
def split_sentences(text: str) -> list[str]:
    """Sentences (or list items / paragraphs) of a passage, whitespace-normalised."""
    out = []
    for piece in _SENT_SPLIT.split(text or ""):
        s = " ".join((piece or "").split())
        if s:
            out.append(s)
    return out


def content_words(text: str) -> set[str]:
    return set(terms(text))


@dataclass
class ExtractiveGenerator:
    """Offline answers: the sentences of the top passages that best match the question, each cited.

    `embed` (texts → unit vectors, queries first) ranks sentences by meaning; without it, by
    shared words. `reason` says, in a few words, why no language model answers (shown in the answer)."""

    embed: Callable[[list[str]], np.ndarray] | None = None
    max_sentences: int = 3
    passages: int = 3  # how many of the top passages to quote from
    reason: str = "no language model was reachable"
    name: str = "extractive"
    min_score: float = 0.15

    def pick(self, question: str, contexts: Sequence[Context]) -> list[tuple[int, str, float]]:
        """(source number, sentence, score), best first."""
        cands: list[tuple[int, str]] = []
        for n, c in enumerate(contexts[: self.passages], 1):
            for k, s in enumerate(split_sentences(c.text or "")):
                if k == 0 and s[:1].islower():
                    continue  # the tail of a sentence cut by the chunk boundary
                if 3 <= len(s.split()) <= 120:
                    cands.append((n, s))
        if not cands:
            return []
        qwords = content_words(question)
        lex = np.array([len(qwords & content_words(s)) / max(1, len(qwords)) for _, s in cands], dtype=np.float32)
        if self.embed is not None:
            vecs = self.embed([question] + [s for _, s in cands])
            sim = vecs[1:] @ vecs[0]
            score = sim + 0.2 * lex
        else:
            score = lex
        score = score - 0.02 * np.array([n - 1 for n, _ in cands], dtype=np.float32)  # prefer higher-ranked passages
        order = np.argsort(-score, kind="stable")
        out: list[tuple[int, str, float]] = []
        for i in order:
            n, s = cands[int(i)]
            low = s.lower()
            if any(low in p.lower() or p.lower() in low for _, p, _ in out):
                continue  # the same sentence again (overlapping chunks, repeated licences)
            out.append((n, s, float(score[int(i)])))
            if len(out) == self.max_sentences:
                break
        return out

    def stream(self, question: str, contexts: Sequence[Context]) -> Iterator[str]:
        picked = self.pick(question, contexts)
        yield f"Extractive answer ({self.reason}): the sentences of your documents that best match the question.\n\n"
        if not picked or picked[0][2] < self.min_score:
            yield "The indexed documents do not seem to answer this question."
            if picked:
                yield f" The closest passage is [{picked[0][0]}]."
            return
        for k, (n, s, _) in enumerate(picked):
            yield ("\n\n" if k else "") + f"“{s}” [{n}]"


# -- choosing ---------------------------------------------------------------------------
def ollama_models(base_url: str, timeout: float = 1.0) -> list[str]:
    """Names of the models an Ollama server has (GeneratorError when it cannot be reached)."""
    url = base_url.rstrip("/") + "/api/tags"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            data = json.loads(r.read().decode("utf-8", "replace") or "{}")
    except urllib.error.HTTPError as exc:
        raise GeneratorError(f"Ollama at {base_url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise GeneratorError(f"Ollama at {base_url} is not reachable: {why_unreachable(exc)}") from None
    return [m.get("name") or m.get("model") for m in data.get("models") or [] if m.get("name") or m.get("model")]


@dataclass
class GeneratorChoice:
    generator: Any  # a Generator
    note: str | None = None  # why the choice fell where it did, when it was not asked for


def make_generator(
    spec: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    timeout: float = 120.0,
    settings: Settings | None = None,
) -> GeneratorChoice:
    """A generator from `spec` (or the settings' `llm`: MMSEARCH_LLM, default "auto"); what is not
    passed comes from `settings` (read from the environment and mmsearch.toml when not given):

    - "extractive": offline, no language model.
    - "ollama[:MODEL]": Ollama at `url` / `OLLAMA_HOST` (default http://127.0.0.1:11434); no model → its first.
    - "openai[:MODEL]": an OpenAI-compatible endpoint at `url` / `MMSEARCH_LLM_URL` / `OPENAI_BASE_URL`,
      key `api_key` / `MMSEARCH_LLM_API_KEY` / `OPENAI_API_KEY`.
    - "auto": an OpenAI-compatible endpoint if one is configured, else Ollama if it answers, else extractive.
    """
    settings = settings or Settings.load()
    spec = (spec or settings.llm or "auto").strip()
    kind, _, name = spec.partition(":")
    kind = kind.lower()
    model = model or name or settings.llm_model or None
    if kind == "extractive":
        return GeneratorChoice(ExtractiveGenerator(embed=embed, reason="no language model was asked for"))
    openai_url = url or settings.llm_url
    key = api_key or (settings.llm_api_key.get_secret_value() if settings.llm_api_key else None)
    ollama_url = url or settings.ollama_host or OLLAMA_DEFAULT_URL
    if not ollama_url.startswith(("http://", "https://")):
        ollama_url = "http://" + ollama_url  # OLLAMA_HOST may be host:port
    if kind in ("openai", "openai-compatible"):
        if not model:
            raise GeneratorError("name the model of the OpenAI-compatible endpoint, e.g. --llm openai:gpt-4o-mini")
        return GeneratorChoice(OpenAICompatibleGenerator(model, openai_url or OPENAI_DEFAULT_URL, key, timeout))
    if kind == "ollama":
        if not model:
            try:
                models = ollama_models(ollama_url)
            except GeneratorError as exc:
                return _extractive(embed, str(exc))
            if not models:
                return _extractive(embed, f"Ollama at {ollama_url} has no models (ollama pull MODEL)")
            model = models[0]
        return GeneratorChoice(OllamaGenerator(model, ollama_url, timeout))
    if kind != "auto":
        raise GeneratorError(f"unknown generator {spec!r}; use auto, extractive, ollama[:MODEL] or openai:MODEL")
    if openai_url and model:
        return GeneratorChoice(OpenAICompatibleGenerator(model, openai_url, key, timeout))
    try:
        models = ollama_models(ollama_url, timeout=0.5)
    except GeneratorError as exc:
        return _extractive(embed, f"no language model is reachable: {exc}")
    if models and (not model or model in models):
        return GeneratorChoice(OllamaGenerator(model or models[0], ollama_url, timeout))
    return _extractive(embed, f"no language model is reachable: Ollama at {ollama_url} has " + (f"no model {model}" if models else "no models"))


def _extractive(embed: Callable[[list[str]], np.ndarray] | None, note: str) -> GeneratorChoice:
    """The offline answerer, with the note saying why no language model answers."""
    return GeneratorChoice(ExtractiveGenerator(embed=embed), note=note)


def answer_stream(
    question: str,
    contexts: Sequence[Context],
    choice: GeneratorChoice,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> Iterator[str]:
    """Stream the answer; if the language model fails before its first word, answer extractively
    instead and record why in `choice.note` (and `choice.generator` becomes the extractive one)."""
    gen = choice.generator
    it = gen.stream(question, contexts)
    try:
        first = next(it, None)
    except GeneratorError as exc:
        choice.note = f"{gen.name} failed: {exc}"
        log.warning("%s; answering extractively", choice.note)
        choice.generator = ExtractiveGenerator(embed=embed, reason=f"{gen.name} could not be used")
        yield from choice.generator.stream(question, contexts)
        return
    if first is None:
        return
    yield first
    try:
        yield from it
    except GeneratorError as exc:
        choice.note = f"{gen.name} stopped: {exc}"
        yield f"\n\n[the answer was cut off: {exc}]"
