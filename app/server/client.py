"""The CLI's way to a running server on its database: the same queries and index runs, answered
by the process that already has the database open and the models loaded."""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from app.errors import CliError, QueryError
from app.search.hits import JSON_FIELDS, Hit
from app.server.discovery import ServerInfo, find_running

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)


class ServerClient:
    """HTTP calls to one server, with its local token; a refusal becomes a QueryError.

    The standard library's HTTP client, not httpx: the CLI's start-up time is the point here."""

    def __init__(self, info: ServerInfo, timeout: float = 600.0) -> None:
        self.info = info
        self.timeout = timeout

    def open(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None, timeout: float | None = None) -> Any:
        """The response of one request (a file-like object); errors as CliError/QueryError."""
        import urllib.error
        import urllib.request

        headers = {"Authorization": f"Bearer {self.info.token}"}
        if ctype:
            headers["Content-Type"] = ctype
        request = urllib.request.Request(self.info.url + "/api" + path, data=body, headers=headers, method=method)
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read() or b"{}").get("detail")
            except ValueError:
                detail = None
            raise QueryError(str(detail) if detail else f"the server answered {exc.code}") from None
        except OSError as exc:
            raise CliError(f"the server at {self.info.url} did not answer ({exc}); is it still running?") from None

    def call(self, method: str, path: str, json_body: Any = None, timeout: float | None = None) -> Any:
        """One request with an optional JSON body; the JSON answer."""
        body = None if json_body is None else json.dumps(json_body).encode()
        with self.open(method, path, body, "application/json" if body is not None else None, timeout) as response:
            return json.loads(response.read())

    def upload(self, path: str, fields: dict[str, str], name: str, data: bytes) -> Any:
        """A multipart/form-data POST of `fields` and one file; the JSON answer."""
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
        ]
        safe = name.replace('"', "_")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        with self.open("POST", path, b"".join(parts), f"multipart/form-data; boundary={boundary}") as response:
            return json.loads(response.read())

    def stream(self, method: str, path: str, json_body: Any) -> Iterator[dict[str, Any]]:
        """The JSON lines of a streamed answer."""
        with self.open(method, path, json.dumps(json_body).encode(), "application/json") as response:
            for line in response:
                if line.strip():
                    yield json.loads(line)

    def healthy(self) -> bool:
        """True when the server answers its health check."""
        try:
            return self.call("GET", "/health", timeout=10.0).get("status") == "ok"
        except (CliError, QueryError):
            return False


def connect(settings: Settings) -> ServerClient | None:
    """A client for the server that owns `settings.db`, or None when none is running."""
    info = find_running(settings)
    if info is None:
        return None
    client = ServerClient(info)
    if not client.healthy():
        log.info("a server file names %s, but it does not answer; working without it", info.url)
        return None
    return client


def hits_of(answer: dict[str, Any]) -> list[Hit]:
    """Hits from the API's JSON (the `--json` keys)."""
    return [Hit(**{k: row.get(k) for k in JSON_FIELDS}) for row in answer.get("hits", [])]


class RemoteEngine:
    """The part of `SearchEngine` the CLI uses, answered by a running server."""

    #: `good_match_threshold` is the server's, already None where the search has no good-match
    #: cut-off (`indexers.calibration.CUT_OFF_SEARCHES`): the CLI need not check it again.
    threshold_is_cut_off = True

    def __init__(self, client: ServerClient) -> None:
        self.client = client
        self.good_match: float | None = None

    def remember(self, answer: dict[str, Any]) -> list[Hit]:
        self.good_match = answer.get("good_match")
        return hits_of(answer)

    def search_text(self, query: str, kind: str = "image", k: int = 10) -> list[Hit]:
        """Text → items of `kind`."""
        return self.remember(self.client.call("POST", "/search/text", {"q": query, "kind": kind, "k": k}))

    def search_file(self, what: str, path: Path, k: int = 10, encoder_id: str | None = None) -> list[Hit]:
        """A photo (`what="image"`) or sound clip (`"audio"`) file → similar items."""
        fields = {"k": str(k), **({"encoder": encoder_id} if encoder_id else {})}
        return self.remember(self.client.upload(f"/search/{what}", fields, path.name, path.read_bytes()))

    def good_match_threshold(self, kind: str, query_kind: str, encoder_id: str | None = None) -> float | None:
        """The threshold the server sent with the last answer."""
        return self.good_match


def run_job(client: ServerClient, kind: str, paths: list[str], progress: bool = True) -> dict[str, Any]:
    """Submit an index job for local paths and follow it to the end; the finished job."""
    job = client.call("POST", "/jobs", {"kind": kind, "paths": [str(Path(p).expanduser().resolve()) for p in paths]})
    return follow_job(client, job, f"indexing {kind} (server)", progress)


def follow_job(client: ServerClient, job: dict[str, Any], desc: str, progress: bool = True) -> dict[str, Any]:
    """Follow a submitted job to its end with a progress bar (Ctrl+C cancels it); the finished job."""
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, disable=not progress)
    try:
        while job["state"] in ("queued", "running"):
            time.sleep(0.25)
            job = client.call("GET", f"/jobs/{job['id']}")
            if job["total"]:
                bar.total = job["total"]
                bar.n = job["done"]
                bar.refresh()
    except KeyboardInterrupt:
        client.call("DELETE", f"/jobs/{job['id']}")
        raise
    finally:
        bar.close()
    return job
