"""What the server accepts: upload types and sizes, zips that stay in their folder, paths inside the roots."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from app.server.library import LibraryError, confine, extract_zip, safe_name, save_uploads


def test_upload_names_lose_their_folders_and_odd_characters():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\cat photo.jpg") == "cat photo.jpg"
    assert safe_name(".hidden.png") == "hidden.png"
    assert safe_name("") == "upload"


def test_uploads_are_type_and_size_checked(tmp_path: Path):
    saved, skipped = save_uploads(tmp_path, "images", [("a.jpg", b"123"), ("b.exe", b"MZ"), ("c.png", None), ("d.png", b"")], 100)
    assert [p.name for p in saved] == ["a.jpg"] and saved[0].read_bytes() == b"123"
    reasons = dict(skipped)
    assert "not a images file" in reasons["b.exe"] and "upload limit" in reasons["c.png"] and "empty" in reasons["d.png"]
    with pytest.raises(LibraryError, match="nothing to index"):
        save_uploads(tmp_path, "docs", [("x.jpg", b"1")], 100)


def test_a_catalogue_zip_unpacks_beside_its_csv_but_never_outside(tmp_path: Path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("img/a.jpg", b"a")
    saved, _ = save_uploads(tmp_path / "up", "catalogue", [("items.csv", b"id,price,image\n1,2,img/a.jpg\n"), ("good.zip", good.read_bytes())], 10_000)
    assert [p.name for p in saved] == ["items.csv"] and (saved[0].parent / "img" / "a.jpg").read_bytes() == b"a"

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../escaped.txt", b"x")
    with pytest.raises(LibraryError, match="outside its folder"):
        extract_zip(evil, tmp_path / "dest", 10_000)
    assert not (tmp_path.parent / "escaped.txt").exists()
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * 200_000)
    with pytest.raises(LibraryError, match="unpacks to more"):
        extract_zip(bomb, tmp_path / "dest2", 10_000)


def test_paths_are_confined_to_the_roots_links_included(tmp_path: Path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "photos").mkdir(parents=True)
    outside.mkdir()
    (root / "photos" / "a.jpg").write_bytes(b"a")
    (outside / "secret.jpg").write_bytes(b"s")
    assert confine(str(root / "photos"), [root]) == ([(root / "photos").resolve()], [])
    for bad in (str(outside), f"{root}/../outside", "photos"):
        with pytest.raises(LibraryError):
            confine(bad, [root])
    (root / "photos" / "link.jpg").symlink_to(outside / "secret.jpg")
    (root / "photos" / "dirlink").symlink_to(outside, target_is_directory=True)
    files, escapes = confine(str(root / "photos"), [root])
    assert [f.name for f in files] == ["a.jpg"]
    assert sorted(Path(p).name for p, _ in escapes) == ["dirlink", "link.jpg"]
    with pytest.raises(LibraryError, match="outside the library folders"):
        confine(str(root / "photos" / "link.jpg"), [root])
    with pytest.raises(LibraryError, match="outside"):
        confine(str(root), [])
