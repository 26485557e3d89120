"""A full disk while indexing: one clear sentence and exit 1, never a half-written row.

No root, no mounts: the indexer runs as a child process whose file-size limit
(`RLIMIT_FSIZE`, `ulimit -f`) is set in `preexec_fn`. Python ignores SIGXFSZ, so its own
writes fail with EFBIG; a Milvus Lite server started as a subprocess gets SIGXFSZ back
(subprocess restores it) and is killed instead. Both must end in the same sentence. The
limit sits between the store's largest file after one photo and after all of them, so the
store fills up part-way through the run, whatever the Milvus Lite version.
"""

from __future__ import annotations

import errno
import resource
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

from tests.fake_cli import run, stored_rows

N_PHOTOS = 40
NO_ROOM = "the disk is full or a file size limit was hit"


def _photos(folder: Path, n: int = N_PHOTOS) -> Path:
    """`n` small, different PNGs (flat colours: small thumbnails, so the store fills first)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = Image.new("RGB", (40, 30), ((i * 53) % 256, (i * 97) % 256, (i * 31 + 7) % 256))
        img.putpixel((i % 40, 0), (255, 255, 255))
        img.save(folder / f"p{i:02d}.png")
    return folder


def _index(photos: Path, db: str, preexec_fn: Callable[[], None] | None = None):
    return run("index", "images", str(photos), "--db", db, "--profile", "offline", "-q", "--batch-size", "4",
               preexec_fn=preexec_fn)


def _file_size_limit(size: int) -> Callable[[], None]:
    def limit() -> None:  # runs in the child, before exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def _largest_store_file(db: str) -> int:
    """The largest file of a Milvus Lite database: the `.db` file or folder and its siblings."""
    path = Path(db)
    files = [f for f in path.parent.glob(f"{path.name}*") if f.is_file()]
    if path.is_dir():
        files += [f for f in path.rglob("*") if f.is_file()]
    return max(f.stat().st_size for f in files)


def _rows(db: str) -> dict[str, dict[str, Any]]:
    """id → row (thumbnail path left out: thumbnails live beside each database)."""
    out = {}
    for r in stored_rows(db, "image"):
        meta = dict(r["meta"])
        assert Path(meta.pop("thumb")).is_file()
        out[r["id"]] = {**r, "meta": meta}
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(
        np.allclose(a[k], b[k]) if k == "vector" else a[k] == b[k] for k in a
    )


def test_store_fills_up_then_a_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    one = _photos(tmp_path / "one", n=1)
    clean_db, small_db, full_db = (str(tmp_path / n / "t.db") for n in ("clean", "small", "full"))

    assert _index(one, small_db).returncode == 0
    proc = _index(photos, clean_db)
    assert proc.returncode == 0, proc.stderr
    clean = _rows(clean_db)
    assert len(clean) == N_PHOTOS
    small, large = _largest_store_file(small_db), _largest_store_file(clean_db)
    assert large > small + 1000, f"the store's files do not grow with its rows ({small} → {large} bytes)"
    limit = (small + large) // 2

    proc = _index(photos, full_db, preexec_fn=_file_size_limit(limit))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("mmsearch: error:")]
    assert errors == [f"mmsearch: error: could not write to the Milvus database at {full_db}: {NO_ROOM}"], proc.stderr
    assert "skipped" not in proc.stderr  # the photos are fine: none is blamed

    # After a restart, what the interrupted run left is whole rows of the clean run, or nothing.
    partial = _rows(full_db)
    assert len(partial) < N_PHOTOS
    for rid, row in partial.items():
        assert rid in clean and _same(row, clean[rid]), rid

    proc = _index(photos, full_db)
    assert proc.returncode == 0, proc.stderr
    assert f"images: {N_PHOTOS - len(partial)} indexed, {len(partial)} unchanged, 0 skipped" in proc.stderr
    rerun = _rows(full_db)
    assert rerun.keys() == clean.keys()
    assert all(_same(rerun[rid], clean[rid]) for rid in clean)
    for rid in rerun:
        with Image.open(Path(full_db).parent / "thumbs" / rid[:2] / f"{rid}.jpg") as th:
            th.load()  # a thumbnail is whole (written to a temporary name, then renamed)
            assert th.size == (256, 256)


@pytest.mark.parametrize("command", ["images", "catalogue"])
def test_no_room_for_a_thumbnail_stops_the_run_instead_of_skipping_files(
    command: str, fake_profile, tmp_path: Path, tmp_db: str, capsys, monkeypatch
) -> None:
    """A write that fails for lack of room is not a bad input: no file is blamed, exit 1."""
    import indexers.catalogue
    import indexers.images
    from app.cli.main import main

    photos = _photos(tmp_path / "photos", n=6)
    target = photos
    if command == "catalogue":
        target = photos / "catalogue.csv"
        target.write_text("id,price,image\n" + "".join(f"P{i},{i}.50,p{i:02d}.png\n" for i in range(6)))
    written: list[Path] = []

    def save_thumbnail(img: Any, path: Path, size: int = 256) -> None:
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)

    module = indexers.images if command == "images" else indexers.catalogue
    monkeypatch.setattr(module, "save_thumbnail", save_thumbnail)
    assert main(["index", command, str(target), "--db", tmp_db, "--profile", "offline", "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mmsearch: error: could not write ") and err[-1].endswith(f".jpg: {NO_ROOM}")
    assert not any("skipped" in line or "Traceback" in line for line in err)
