"""Reading what a URL points at, for the indexers that accept URLs (documents, catalogue images):
one timeout for the whole download, a size cap, and one sentence when it fails."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

USER_AGENT = "mmsearch/0.1 (+https://github.com/mmsearch)"


class DownloadError(ValueError):
    """A download that failed or was refused; the message says why in a few words."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass
class Download:
    """A downloaded body with what the server said it is."""

    body: bytes
    content_type: str
    charset: str | None


def is_url(text: str) -> bool:
    """Whether `text` is an http(s) URL (anything else is a local path)."""
    return urllib.parse.urlsplit(text).scheme.lower() in ("http", "https")


def mb(n: int) -> str:
    """Bytes as megabytes for messages: 300000 → "0.286 MB"."""
    return f"{n / 2**20:.3g} MB"


def download(url: str, timeout: float, max_bytes: int, accept: str = "*/*", user_agent: str = USER_AGENT) -> Download:
    """The body of an http(s) URL, within `timeout` seconds in all and `max_bytes`."""
    req = urllib.request.Request(url, headers={"User-Agent": user_agent, "Accept": accept})
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (callers check is_url)
            length = r.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise DownloadError(f"{mb(int(length))} is over the {mb(max_bytes)} limit", too_large=True)
            parts, got = [], 0
            while block := r.read(65536):
                parts.append(block)
                got += len(block)
                if got > max_bytes:
                    raise DownloadError(f"the download passed the {mb(max_bytes)} limit", too_large=True)
                if time.monotonic() > deadline:
                    raise DownloadError(f"the download took longer than {timeout:g} s")
            return Download(b"".join(parts), r.headers.get_content_type() or "", r.headers.get_content_charset())
    except DownloadError:
        raise
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise DownloadError(f"no answer within {timeout:g} s") from None
        raise DownloadError(f"cannot reach the server ({reason})") from None
    except TimeoutError:
        raise DownloadError(f"no answer within {timeout:g} s") from None
    except (OSError, ValueError) as exc:
        raise DownloadError(f"download failed ({exc})") from None
