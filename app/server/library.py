"""What the server may index: uploaded files (type- and size-checked, kept under the uploads
folder) and folders on the server machine, confined to the configured library roots."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable

KINDS = ("images", "audio", "video", "docs", "catalogue")


class LibraryError(ValueError):
    """A request the library refuses (bad type, too big, outside the roots); the message says why."""

    user_facing = True


def accepted_extensions(kind: str) -> frozenset[str]:
    """The file suffixes an upload of `kind` may have (as the CLI's indexers accept them)."""
    if kind == "images":
        from indexers.image_io import IMAGE_EXTENSIONS

        return IMAGE_EXTENSIONS
    if kind == "audio":
        from indexers.audio_io import audio_extensions

        return audio_extensions()
    if kind == "video":
        from indexers.video import VIDEO_EXTENSIONS

        return VIDEO_EXTENSIONS
    if kind == "docs":
        from indexers.docs import FORMATS

        return frozenset(FORMATS)
    if kind == "catalogue":
        return frozenset({".csv", ".jsonl", ".zip"})
    raise LibraryError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")


def safe_name(name: str) -> str:
    """An uploaded file's name reduced to its last part and harmless characters."""
    base = re.split(r"[\\/]", name or "")[-1].strip().lstrip(".")
    base = re.sub(r"[^\w.\- ]+", "_", base)[:120]
    return base or "upload"


def check_upload(kind: str, name: str, size: int, max_bytes: int) -> None:
    """Raise LibraryError when an upload of `kind` has the wrong type, is empty or too big."""
    suffix = Path(name).suffix.lower()
    allowed = accepted_extensions(kind)
    if suffix not in allowed:
        raise LibraryError(f"{name}: not a {kind} file (accepted: {', '.join(sorted(allowed))})")
    if size <= 0:
        raise LibraryError(f"{name}: the file is empty")
    if size > max_bytes:
        raise LibraryError(f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB upload limit")


def unique_path(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem-2.ext`, … when taken."""
    path = folder / name
    n = 2
    while path.exists():
        path = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
        n += 1
    return path


def extract_zip(archive: Path, dest: Path, max_bytes: int) -> list[Path]:
    """Unpack a catalogue's image zip into `dest`, refusing members that leave it, links and
    archives that would unpack past `max_bytes`."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > max_bytes:
                raise LibraryError(f"{archive.name}: unpacks to more than the {max_bytes / 1e6:.0f} MB limit")
            out = []
            root = dest.resolve()
            for m in members:
                target = (dest / m.filename).resolve()
                if root not in target.parents:
                    raise LibraryError(f"{archive.name}: member {m.filename!r} would land outside its folder")
                if (m.external_attr >> 16) & 0o170000 == 0o120000:
                    raise LibraryError(f"{archive.name}: member {m.filename!r} is a link")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as src, open(target, "wb") as dst:
                    dst.write(src.read())
                out.append(target)
            return out
    except zipfile.BadZipFile:
        raise LibraryError(f"{archive.name}: not a zip archive") from None


def save_uploads(uploads: Path, kind: str, files: list[tuple[str, bytes | None]], max_bytes: int) -> tuple[list[Path], list[tuple[str, str]]]:
    """Keep uploaded (name, bytes) files under `uploads/kind/<batch>/`; the files to index and the
    ones refused with why. A catalogue's zips are unpacked beside its CSV/JSONL. Raises
    LibraryError when nothing is left to index. A file given as None was over the size limit."""
    import shutil
    import time
    import uuid

    folder = uploads / kind / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for raw_name, data in files:
        name = safe_name(raw_name)
        try:
            check_upload(kind, name, max_bytes + 1 if data is None else len(data), max_bytes)
        except LibraryError as exc:
            skipped.append((raw_name or name, str(exc).split(": ", 1)[-1]))
            continue
        path = unique_path(folder, name)
        path.write_bytes(data or b"")
        saved.append(path)
    if kind == "catalogue":
        for archive in [p for p in saved if p.suffix.lower() == ".zip"]:
            extract_zip(archive, folder, max_bytes)
        saved = [p for p in saved if p.suffix.lower() != ".zip"]
    if not saved:
        shutil.rmtree(folder, ignore_errors=True)
        reasons = "; ".join(f"{n}: {r}" for n, r in skipped) or "no files given"
        raise LibraryError(f"nothing to index ({reasons})")
    return saved, skipped


def label_for(paths: list[Path]) -> str:
    """A short name for a job over these files."""
    return ", ".join(p.name for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def is_inside(path: Path, roots: Iterable[Path]) -> bool:
    """True when the resolved `path` is one of `roots` or below one (links followed)."""
    real = path.resolve()
    for root in roots:
        r = Path(root).expanduser().resolve()
        if real == r or r in real.parents:
            return True
    return False


def confine(raw: str, roots: list[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """What to index for a folder or file given by path, checked to be inside `roots` with links
    followed; and the links under it that point outside (skipped, with why). Raises LibraryError.

    A folder is returned as itself, unless a link in it points outside: then as its files
    without those, so the indexer cannot follow them out."""
    if not raw or not raw.strip():
        raise LibraryError("give a folder or file path")
    path = Path(raw.strip()).expanduser()
    if not path.is_absolute():
        raise LibraryError(f"{raw}: give an absolute path")
    names = ", ".join(str(r) for r in roots) or "none"
    if not roots or not is_inside(path, roots):
        raise LibraryError(f"{raw} is outside the library folders ({names}); set library_roots to allow it")
    if not path.exists():
        raise LibraryError(f"{raw}: no such file or folder on the server")
    if not path.is_dir():
        return [path.resolve()], []
    files: list[Path] = []
    escapes: list[tuple[str, str]] = []
    for folder, dirs, names_here in os.walk(path):
        for name in sorted([*dirs, *names_here]):
            p = Path(folder, name)
            if p.is_symlink() and not is_inside(p, roots):
                escapes.append((str(p), "a link to outside the library folders"))
            elif name in names_here:
                files.append(p)
        dirs[:] = [d for d in dirs if not Path(folder, d).is_symlink() or is_inside(Path(folder, d), roots)]
    return ([path.resolve()] if not escapes else files), escapes


def remove_source(store: Any, source: str) -> int:
    """Delete every item made from `source` (a file path or URL) from every collection; how many."""
    from milvus import Filter

    removed = 0
    for info in store.list_collections():
        coll = store.find(info.kind, info.encoder)
        if coll is None:
            continue
        while rows := coll.query(Filter.eq("source", source), limit=1000):
            coll.delete([r["id"] for r in rows])
            removed += len(rows)
    return removed
