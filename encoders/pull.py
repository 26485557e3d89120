"""Pulling model files onto this machine, and finding them again: one lookup for `models pull`,
`doctor`, `--profile auto` and the encoders' `load()`.

Where a model file is looked for, in order:
1. the explicit path the user gave (`MMSEARCH_WEIGHTS_<ID>`, a file or a folder): only there;
2. the project's cache `$MMSEARCH_HOME/weights`, flat (`weights/<id slug>/<file>`) or in the
   Hugging Face cache layout (`weights/models--ORG--NAME/snapshots/COMMIT/<file>`, where
   `mmsearch models pull` puts hub files);
3. the default Hugging Face cache (`HF_HOME`), for files another program pulled.

Two sources here: Hugging Face hub repositories (`huggingface_hub`, which honours `HF_ENDPOINT`,
shows a progress bar and resumes an interrupted download; the file's ETag, its sha256 for
LFS files or its git blob sha1 for small ones, is checked here), and direct URLs
(torchvision, PANNs, openai-whisper), fetched here with a progress bar, resume by HTTP Range,
the checksum the source publishes and one mirror setting (`weights.weights_mirror()`).
Models served by Ollama (`ollama:MODEL`) are pulled by the Ollama server itself, through its
API (`pull_ollama_model`); this module only shows its progress.
Every failure is a `PullError`: one sentence, no traceback.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit

from encoders.base import EncoderError
from encoders.weights import explicit_weights, slug, weights_cache_dir, weights_mirror

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")
_RETRIES = 5


class PullError(EncoderError):
    """A model file could not be downloaded or failed its check; the message is one sentence."""


# -- finding ---------------------------------------------------------------------------------
def hub_cache_dir() -> Path:
    """The Hugging Face-layout cache inside the project's weights cache (`$MMSEARCH_HOME/weights`)."""
    return weights_cache_dir()


def find_hub_file(repo: str, filename: str) -> Path | None:
    """A hub file in the project's cache (HF layout), else in the default Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    for cache_dir in (str(hub_cache_dir()), None):
        try:
            hit = try_to_load_from_cache(repo, filename, cache_dir=cache_dir)
        except Exception:  # an invalid repo id or an unreadable cache: not found
            return None
        if isinstance(hit, str) and Path(hit).is_file():
            return Path(hit)
    return None


def find_model_file(encoder_id: str, filenames: Sequence[str], repo: str | None = None) -> Path | None:
    """The first of `filenames` found for an encoder: its explicit path (only there, when the user
    set one), the flat cache `weights/<id slug>/`, then, when `repo` is a hub repository, the
    project's and the default Hugging Face caches."""
    explicit = explicit_weights(encoder_id)
    if explicit is not None:
        if explicit.is_file():
            return explicit
        for name in filenames:
            if (explicit / name).is_file():
                return explicit / name
        return None
    for name in filenames:
        flat = weights_cache_dir() / slug(encoder_id) / name
        if flat.is_file():
            return flat
    if repo:
        for name in filenames:
            hit = find_hub_file(repo, name)
            if hit is not None:
                return hit
    return None


def find_hub_folder(repo: str, filenames: Sequence[str], flat: Path | None = None) -> Path | None:
    """A folder holding any of `filenames`: `flat` when given and it does, else the snapshot
    folder of `repo` in the project's or the default Hugging Face cache."""
    if flat is not None and any((flat / f).is_file() for f in filenames):
        return flat
    for name in filenames:
        hit = find_hub_file(repo, name)
        if hit is not None:
            return hit.parent
    return None


# -- pulling from a hub -----------------------------------------------------------------------
def hub_endpoint() -> str:
    """The hub `huggingface_hub` downloads from (`HF_ENDPOINT`, default huggingface.co)."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def pull_hub_file(repo: str, filenames: Sequence[str], optional: bool = False) -> Path | None:
    """Download the first of `filenames` the repository holds into the project's cache and check
    it; None when it holds none of them and `optional`, else a `PullError`."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    hub_cache_dir().mkdir(parents=True, exist_ok=True)
    for name in filenames:
        try:
            path = Path(hf_hub_download(repo, name, cache_dir=str(hub_cache_dir())))
        except LocalEntryNotFoundError as exc:  # the hub did not answer (and nothing is cached)
            raise PullError(_hub_failure(repo, name, exc)) from None
        except EntryNotFoundError:  # the hub answered: no such file
            continue
        except GatedRepoError:
            raise PullError(f"{repo} on {hub_endpoint()} is gated: accept its terms on the hub and log in (hf auth login), then pull again") from None
        except RepositoryNotFoundError:
            raise PullError(f"{hub_endpoint()} has no repository {repo} (or it is private)") from None
        except Exception as exc:  # unreachable hub, offline mode, HTTP errors: one sentence
            raise PullError(_hub_failure(repo, name, exc)) from None
        verify_hub_file(path, repo, name)
        return path
    if optional:
        return None
    raise PullError(f"{repo} on {hub_endpoint()} has no file {' or '.join(filenames)}")


def _hub_failure(repo: str, name: str, exc: Exception) -> str:
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    if constants.HF_HUB_OFFLINE:
        return f"cannot download {repo}/{name}: HF_HUB_OFFLINE is set; unset it on a machine with a network"
    if isinstance(exc, (LocalEntryNotFoundError, ConnectionError, TimeoutError)):
        return f"could not reach the model hub at {hub_endpoint()} to download {repo}/{name}; check the network, or set HF_ENDPOINT to a mirror"
    text = " ".join(str(exc).split())
    return f"could not download {repo}/{name} from {hub_endpoint()}: {text[:200]}"


def verify_hub_file(path: Path, repo: str, name: str) -> None:
    """Check a pulled hub file against its ETag (the blob's name in the cache): sha256 for LFS
    files, the git blob sha1 for small ones. A mismatch removes the file and raises."""
    blob = Path(os.path.realpath(path))
    etag = blob.name
    if _SHA256.fullmatch(etag):
        digest, kind = file_sha256(blob), "sha256"
    elif _SHA1.fullmatch(etag):
        h = hashlib.sha1(b"blob %d\0" % blob.stat().st_size)
        _hash_into(h, blob)
        digest, kind = h.hexdigest(), "git sha1"
    else:
        return  # no checksum published (or not a blob store): nothing to check
    if digest != etag:
        for p in {path, blob}:
            p.unlink(missing_ok=True)
        raise PullError(f"{repo}/{name} does not match the {kind} the hub published ({etag[:12]}…, got {digest[:12]}…); it was removed, pull again")


# -- pulling from a URL -----------------------------------------------------------------------
def mirrored(url: str, filename: str | None = None) -> str:
    """`url`, or the mirror's base URL with the file name appended when a mirror is set."""
    base = weights_mirror()
    if not base:
        return url
    name = filename or Path(urlsplit(url).path).name
    return f"{base.rstrip('/')}/{quote(name)}"


def sha256_prefix_of(filename: str) -> str | None:
    """The sha256 prefix a torch.hub file name carries (`resnet50-11ad3fa6.pth` → `11ad3fa6`)."""
    m = re.search(r"-([a-f0-9]{6,})\.", filename)
    return m.group(1) if m else None


def download_url(url: str, dest: Path, sha256: str | None = None, sha256_prefix: str | None = None) -> Path:
    """Download `url` (or its mirror) to `dest`: into `dest.part` first, resuming that with an
    HTTP Range request after an interruption, then checking the size and checksum before the
    file takes its name. An existing `dest` is checked and kept."""
    source = mirrored(url, dest.name)
    if dest.is_file():
        _check_sum(dest, sha256, sha256_prefix, source, remove=False)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(_RETRIES + 1):
        try:
            if _fetch_into(source, part):
                break
        except _Interrupted as exc:
            if attempt == _RETRIES:
                raise PullError(f"the download of {source} kept breaking off ({exc}); run the pull again to resume it") from None
            log.warning("download of %s interrupted (%s); resuming", source, exc)
    _check_sum(part, sha256, sha256_prefix, source, remove=True)
    os.replace(part, dest)
    return dest


class _Interrupted(Exception):
    """A transfer that stopped part-way (resumable)."""


def _fetch_into(url: str, part: Path) -> bool:
    """One request, appending to `part` from where it stopped; True when the file is complete."""
    import http.client
    import urllib.error
    import urllib.request

    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "mmsearch"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part is whole
            return True
        if exc.code == 404:
            raise PullError(f"{url} does not exist (HTTP 404); check the URL or the mirror") from None
        raise PullError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PullError(f"could not reach {urlsplit(url).netloc} to download {Path(urlsplit(url).path).name} ({reason}); check the network, or set MMSEARCH_MODELS_MIRROR to a mirror") from None
    with resp:
        if have and resp.status != 206:  # the server ignored the Range: start again
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        got = 0
        with open(part, "ab" if have else "wb") as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=part.name.removesuffix(".part"), disable=None
        ) as bar:
            try:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError, OSError) as exc:
                raise _Interrupted(f"{have + got} of {total or '?'} bytes") from exc
    if total is not None and have + got < total:
        raise _Interrupted(f"{have + got} of {total} bytes")
    return True


def _check_sum(path: Path, sha256: str | None, prefix: str | None, source: str, remove: bool) -> None:
    if not sha256 and not prefix:
        return
    digest = file_sha256(path)
    if (sha256 and digest != sha256.lower()) or (prefix and not digest.startswith(prefix.lower())):
        if remove:
            path.unlink(missing_ok=True)
        want = sha256 or prefix
        what = "was removed, pull again" if remove else f"is not the published file: delete {path} and pull again"
        raise PullError(f"{path.name.removesuffix('.part')} from {source} does not match its published sha256 ({want[:12]}…, got {digest[:12]}…); it {what}")


def _hash_into(h: hashlib._Hash, path: Path) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)


def file_sha256(path: Path) -> str:
    """The sha256 of a file, hex."""
    h = hashlib.sha256()
    _hash_into(h, path)
    return h.hexdigest()


# -- pulling into an Ollama server --------------------------------------------------------------
_OLLAMA_ATTEMPTS = 2  # tries at opening the pull: a server that is not running is said at once


def pull_ollama_model(base_url: str, model: str, progress: bool = True) -> int:
    """Have the Ollama server at `base_url` pull `model` from its library (POST /api/pull, streamed),
    showing a progress bar per layer; returns the bytes of the layers it reported. Ollama keeps
    the model (and resumes an interrupted pull); nothing lands in the project's cache. Every
    failure, a server that is not running included, is a `PullError` of one sentence."""
    import sys

    from tqdm.auto import tqdm

    from encoders import services

    base_url = base_url.rstrip("/")
    service = f"the Ollama server at {base_url}"
    show = None if progress else True  # tqdm's `disable`: None shows bars on a terminal only
    bars: dict[str, tqdm] = {}
    done: dict[str, int] = {}
    sizes: dict[str, int] = {}
    last = ""
    lines = services.stream_json_lines(
        f"{base_url}/api/pull", {"model": model, "stream": True},
        service=service, fix=services.OLLAMA_FIX, attempts=_OLLAMA_ATTEMPTS,
    )
    try:
        for event in lines:
            if not isinstance(event, dict):
                raise PullError(f"{service} answered the pull of {model} with something other than Ollama's progress; is that the right address?")
            if event.get("error"):
                raise PullError(_ollama_failure(service, model, str(event["error"])))
            status = str(event.get("status") or "")
            digest, total = event.get("digest"), event.get("total")
            if digest and isinstance(total, int) and total > 0:  # a layer: its bytes so far
                key = str(digest)
                if key not in bars:
                    short = key.removeprefix("sha256:")[:12]
                    bars[key] = tqdm(total=total, unit="B", unit_scale=True, desc=f"pulling {short}", disable=show)  # MB as Ollama counts them
                    done[key], sizes[key] = 0, total
                completed = min(int(event.get("completed") or 0), total)
                if completed > done[key]:
                    bars[key].update(completed - done[key])
                    done[key] = completed
                if completed == total:  # Ollama fetches layers one after another: this one is done
                    bars[key].close()
            elif status and status != last and status != "success":  # pulling manifest, verifying sha256 digest, …
                log.info("%s: %s %s", service, status, model)
                if progress and sys.stderr.isatty():
                    tqdm.write(status, file=sys.stderr)
            last = status or last
            if status == "success":
                return sum(sizes.values())
    except services.ServiceHTTPError as exc:
        if exc.json_error:
            raise PullError(_ollama_failure(service, model, exc.detail, exc.status)) from None
        if exc.status == 404:
            raise PullError(f"{service} has no /api/pull (HTTP 404), so it is not Ollama; set OLLAMA_HOST to where Ollama runs") from None
        detail = f": {exc.detail}" if exc.detail else ""
        raise PullError(f"{service} could not pull {model} (HTTP {exc.status}{detail})") from None
    except services.ServiceBrokenOffError as exc:
        raise PullError(f"{exc} while pulling {model}; run the pull again and Ollama resumes it") from None
    except PullError:
        raise
    except EncoderError as exc:  # not running (one sentence already), or not Ollama's answers
        raise PullError(str(exc)) from None
    finally:
        lines.close()
        for bar in bars.values():
            bar.close()
    raise PullError(f"{service} ended the pull of {model} without reporting success; run the pull again and Ollama resumes it")


def _ollama_failure(service: str, model: str, error: str, status: int | None = None) -> str:
    """Ollama's error for a pull (in the stream, or as an HTTP error's JSON), in one sentence with what to do."""
    error = " ".join(error.split())[:200] or "no reason given"
    hint = ""
    if "file does not exist" in error or "not found" in error:
        hint = "; check the name (and tag) at https://ollama.com/library"
    http = f" (HTTP {status})" if status else ""
    return f"{service} could not pull {model}{http}: {error}{hint}"
