"""The image indexer works through a library one chunk at a time: bounded bookkeeping, the same report."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from encoders import get_encoder
from indexers import files as files_mod
from indexers import images as images_mod
from indexers.files import count_files, discover, iter_files
from indexers.image_io import IMAGE_EXTENSIONS
from indexers.images import index_images
from milvus.store import Collection


@pytest.fixture
def fake16():
    return get_encoder("fake:16")


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch):
    """Record what the indexer holds: files pulled from the walk, hashed and checked per chunk."""
    seen: dict[str, list[int]] = {"pulled": [0], "hashed": [], "checked": []}

    def counting_iter(*args, **kwargs):
        for f in iter_files(*args, **kwargs):
            seen["pulled"][0] += 1
            yield f

    real_digest, real_existing = files_mod.digest_files, Collection.existing_ids

    def digest(files, *args, **kwargs):
        files = list(files)
        seen["hashed"].append(len(files))
        return real_digest(files, *args, **kwargs)

    def existing(self, ids):
        ids = list(ids)
        seen["checked"].append(len(ids))
        return real_existing(self, ids)

    monkeypatch.setattr(images_mod, "iter_files", counting_iter)
    monkeypatch.setattr(images_mod, "digest_files", digest)
    monkeypatch.setattr(Collection, "existing_ids", existing)
    return seen


def test_bookkeeping_stays_within_a_chunk(tmp_path, make_images, store, fake16, watched, monkeypatch):
    make_images(13, folder="lib/a")
    make_images(10, folder="lib/b")
    folder = tmp_path / "lib"
    (folder / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    n, chunk, batch = 24, 5, 2

    done = [0.0]
    held: list[int] = []  # files pulled from the walk and not yet finished, at every forward pass
    real_embed = fake16.embed_documents

    def embed(items):
        held.append(watched["pulled"][0] - int(done[0]))
        return real_embed(items)

    monkeypatch.setattr(fake16, "embed_documents", embed)
    totals: list[float] = []

    def sink(d: float, total: float) -> None:
        done[0] = d
        totals.append(total)

    report = index_images([folder], store, [fake16], batch_size=batch, progress=sink, chunk_size=chunk)
    assert (report.indexed, report.unchanged) == (n - 1, 0)
    assert [p.rsplit("/", 1)[-1] for p, _ in report.failed] == ["broken.png"]
    assert store.find("image", "fake:16").count() == n - 1
    # the whole library went through, a chunk at a time, never more
    assert sum(watched["hashed"]) == n and max(watched["hashed"]) == chunk
    assert sum(watched["checked"]) == n and max(watched["checked"]) <= chunk
    # held at once: the chunk being checked plus the batch embedding and the one decoding
    assert held and max(held) <= chunk + 2 * batch
    assert set(totals) == {n} and done[0] == n  # the bar runs over every file found

    watched["hashed"].clear()
    watched["checked"].clear()
    again = index_images([folder], store, [fake16], batch_size=batch, progress=False, chunk_size=chunk)
    assert (again.indexed, again.unchanged, len(again.failed)) == (0, n - 1, 1)
    assert max(watched["hashed"]) == chunk and max(watched["checked"]) <= chunk


def test_a_run_stopped_mid_library_resumes_without_duplicates(make_images, store, fake16, monkeypatch):
    folder = make_images(11)
    real_embed = fake16.embed_documents
    calls = [0]

    def failing(items):
        calls[0] += 1
        if calls[0] == 4:
            raise RuntimeError("stopped")
        return real_embed(items)

    monkeypatch.setattr(fake16, "embed_documents", failing)
    with pytest.raises(RuntimeError):
        index_images([folder], store, [fake16], batch_size=2, progress=False, chunk_size=4)
    stored = store.find("image", "fake:16").count()
    assert 0 < stored < 11

    monkeypatch.setattr(fake16, "embed_documents", real_embed)
    report = index_images([folder], store, [fake16], batch_size=2, progress=False, chunk_size=4)
    assert (report.indexed, report.unchanged) == (11 - stored, stored)
    rows = store.find("image", "fake:16").query(limit=100)
    assert len(rows) == len({r["id"] for r in rows}) == 11


def _discover_reference(paths, extensions):
    """What `discover` did when it listed everything first: walk, resolve, drop repeats."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found.append(p.resolve())
        elif p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [Path(root, n).resolve() for n in sorted(names) if Path(n).suffix.lower() in extensions]
    return list(dict.fromkeys(found))


def test_streamed_files_are_each_yielded_once(make_images, tmp_path):
    a = make_images(3, folder="lib/a")
    b = make_images(2, folder="lib/b")
    hidden = make_images(2, folder="lib/.hidden")
    outside = make_images(2, folder="elsewhere")
    lib = tmp_path / "lib"
    (b / "notes.txt").write_text("not a photo")
    (b / "link_to_a.png").symlink_to(a / "img_00.png")  # the same file twice in one walk
    (b / "link_hidden.png").symlink_to(hidden / "img_01.png")  # a hidden file reached by a link
    (b / "link_out.png").symlink_to(outside / "img_00.png")  # reached by a link, then named
    (lib / "dir_link").symlink_to(outside, target_is_directory=True)  # a walk does not follow it
    cases = [
        [lib],
        [lib, a],  # a folder inside one walked before
        [a, lib],  # a folder walked before inside the next one
        [a / "img_01.png", lib, a / "img_01.png"],  # a file named, then walked, then named again
        [lib, outside / "img_00.png", outside],  # a link's target named, then its folder
        [hidden, lib],  # a hidden folder named: walked; its files not again through the link
        [b / "notes.txt", lib, tmp_path / "missing"],  # a file named directly is kept whatever its suffix
        [outside, lib / "dir_link", tmp_path],
    ]
    for paths in cases:
        missing: list[tuple[str, str]] = []
        streamed = list(iter_files(paths, IMAGE_EXTENSIONS, on_missing=lambda p, r: missing.append((p, r))))
        expected = _discover_reference(paths, IMAGE_EXTENSIONS)
        assert streamed == expected, paths
        assert count_files(paths, IMAGE_EXTENSIONS) == len(expected)
        assert discover(paths, IMAGE_EXTENSIONS) == (expected, missing)
    assert discover([tmp_path / "missing"], IMAGE_EXTENSIONS)[1] == [(str(tmp_path / "missing"), "no such file or folder")]
