"""Catalogue import: validation with line numbers, path safety, upsert, unchanged rows, URLs, CLI.

Uses the `fake:16` encoder (hash vectors) and a real Milvus Lite file per test.
"""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
from PIL import Image

from encoders import get_encoder
from indexers.catalogue import (
    CatalogueError,
    RowError,
    index_catalogue,
    parse_price,
    read_catalogue,
    validate_id,
)
from milvus import Collection

HEADER = "id,title,price,currency,category,image,brand\n"


def _png(path: Path, seed: int, size: int = 32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (size, size), ((seed * 53) % 256, (seed * 97) % 256, (seed * 31 + 7) % 256))
    img.putpixel((seed % size, 0), (255, 255, 255))
    img.save(path)


@pytest.fixture
def catalogue_dir(tmp_path: Path) -> Path:
    d = tmp_path / "shop"
    for i in range(6):
        _png(d / "img" / f"p{i}.png", i)
    return d


def _write(d: Path, body: str, name: str = "catalogue.csv") -> Path:
    p = d / name
    p.write_text(body, encoding="utf-8")
    return p


def _rows(n: int = 6) -> str:
    return "".join(f"P{i},Item {i},{10 + i}.50,EUR,{'shoes' if i % 2 else 'bags'},img/p{i}.png,Brand{i}\n" for i in range(n))


def _fake():
    return [get_encoder("fake:16")]


def _by_id(coll: Collection) -> dict[str, dict]:
    return {r["id"]: r for r in coll.query(limit=1000)}


# -- parsing ------------------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [("12.5", 12.5), (" 7 ", 7.0), ("0", 0.0), (3, 3.0), (4.25, 4.25), ("1e2", 100.0), (".5", 0.5)])
def test_parse_price_accepts_numbers(value, expected):
    assert parse_price(value) == expected


@pytest.mark.parametrize(
    "value,reason",
    [(None, "missing"), ("", "missing"), ("  ", "missing"), ("abc", "not a number"), ("1,000", "not a number"),
     ("12 EUR", "not a number"), ("nan", "not a number"), ("inf", "not a number"), (float("nan"), "finite"),
     (True, "not a number"), ("-1", "negative"), (-0.01, "negative"), ([1], "not a number")],
)
def test_parse_price_rejects(value, reason):
    with pytest.raises(RowError, match=reason):
        parse_price(value)


def test_validate_id_limits():
    assert validate_id(" SKU-1 ") == "SKU-1"
    assert validate_id(42) == "42"
    assert validate_id("x" * 64) == "x" * 64
    with pytest.raises(RowError, match="longer than 64 bytes"):
        validate_id("x" * 65)
    with pytest.raises(RowError, match="longer than 64 bytes"):
        validate_id("é" * 33)  # 66 UTF-8 bytes
    for bad in ("", "  ", None):
        with pytest.raises(RowError, match="missing id"):
            validate_id(bad)
    for bad in ("a\\b", "a\x00b", "a\nb"):
        with pytest.raises(RowError, match="backslash or control"):
            validate_id(bad)


def test_csv_bad_rows_have_line_numbers(tmp_path):
    body = (
        "\ufeffID,Title,Price,Currency,Category,Image,colour\n"  # BOM and capitalised headers
        "a1,Good,10,eur,shoes,x.png,red\n"  # line 2
        "a2,No price,,EUR,shoes,x.png,red\n"  # line 3
        'a3,"Multi\nline title",abc,EUR,shoes,x.png,red\n'  # lines 4-5: not a number
        "\n"  # line 6: blank
        "a4,Negative,-5,EUR,shoes,x.png,red\n"  # line 7
        "a1,Duplicate,11,EUR,shoes,x.png,red\n"  # line 8
        "a5,Too,1,EUR,shoes,x.png,red,extra\n"  # line 9: too many fields
        "a6,No image,1,EUR,shoes,,red\n"  # line 10
        "a7,Short row,2.5\n"  # line 11: missing image
        "a8,Fine,0,,,y.png\n"  # line 12
    )
    items, problems, ids = read_catalogue(_write(tmp_path, body))
    assert [(it.id, it.line) for it in items] == [("a1", 2), ("a8", 12)]
    assert items[0].currency == "EUR" and items[0].extra == {"colour": "red"} and items[0].title == "Good"
    assert items[1].currency is None and items[1].category is None and items[1].price == 0.0
    lines = dict(problems)
    assert sorted(lines) == [3, 4, 7, 8, 9, 10, 11]
    assert lines[3] == "missing price"
    assert "not a number" in lines[4]
    assert "negative price" in lines[7]
    assert "duplicate id 'a1' (first on line 2)" == lines[8]
    assert "fields but the header has" in lines[9]
    assert lines[10] == "missing image" and lines[11] == "missing image"
    assert ids >= {"a1", "a2", "a3", "a4", "a6", "a7", "a8"}


def test_csv_missing_required_column(tmp_path):
    with pytest.raises(CatalogueError, match="no price column"):
        read_catalogue(_write(tmp_path, "id,title,image\nx,y,z.png\n"))
    with pytest.raises(CatalogueError, match="empty"):
        read_catalogue(_write(tmp_path, ""))


def test_jsonl_line_numbers_and_types(tmp_path):
    body = "\n".join([
        json.dumps({"id": "j1", "title": "A", "price": 12, "image": "a.png", "tags": ["x", "y"]}),  # 1
        "{not json",  # 2
        "",  # 3
        json.dumps(["a", "list"]),  # 4
        json.dumps({"id": "j2", "price": "7.5", "image": "b.png", "currency": "usd"}),  # 5
        json.dumps({"id": "j3", "price": None, "image": "b.png"}),  # 6
        json.dumps({"id": "j4", "price": -1, "image": "b.png"}),  # 7
    ])
    items, problems, _ = read_catalogue(_write(tmp_path, body, "c.jsonl"))
    assert [(i.id, i.line, i.price) for i in items] == [("j1", 1, 12.0), ("j2", 5, 7.5)]
    assert items[0].extra == {"tags": ["x", "y"]} and items[1].currency == "USD"
    assert [line for line, _ in problems] == [2, 4, 6, 7]
    assert "not valid JSON" in problems[0][1] and problems[2][1] == "missing price" and "negative" in problems[3][1]


# -- importing -----------------------------------------------------------------------------
def test_import_skips_bad_rows_and_imports_the_rest(catalogue_dir, store):
    body = HEADER + _rows(4) + (
        "B1,Bad price,twelve,EUR,bags,img/p4.png,X\n"  # line 6
        "B2,Neg,-3,EUR,bags,img/p4.png,X\n"  # line 7
        "B3,Escapes,3,EUR,bags,../outside.png,X\n"  # line 8
        "B4,Absolute,3,EUR,bags,/etc/hostname,X\n"  # line 9
        "B5,Missing file,3,EUR,bags,img/nope.png,X\n"  # line 10
        "B6,Not an image,3,EUR,bags,notes.txt,X\n"  # line 11
        f"{'L' * 65},Long id,3,EUR,bags,img/p4.png,X\n"  # line 12
        "B7,Scheme,3,EUR,bags,file:///etc/hostname,X\n"  # line 13
    )
    (catalogue_dir / "notes.txt").write_text("hello")
    _png(catalogue_dir.parent / "outside.png", 99)
    report = index_catalogue(_write(catalogue_dir, body), store, _fake())
    assert report.indexed == 4 and report.unchanged == 0
    skipped = dict(report.failed)
    assert [p for p, _ in report.failed] == [f"catalogue.csv:{n}" for n in range(6, 14)]  # in file order
    assert "not a number" in skipped["catalogue.csv:6"]
    assert "negative" in skipped["catalogue.csv:7"]
    assert "escapes the catalogue's folder" in skipped["catalogue.csv:8"]
    assert "escapes the catalogue's folder" in skipped["catalogue.csv:9"]
    assert "image not found" in skipped["catalogue.csv:10"]
    assert "not an image" in skipped["catalogue.csv:11"]
    assert "longer than 64 bytes" in skipped["catalogue.csv:12"]
    assert "unsupported image location" in skipped["catalogue.csv:13"]
    assert report.ok

    rows = _by_id(store.find("product", "fake:16"))
    assert sorted(rows) == ["P0", "P1", "P2", "P3"]
    r = rows["P1"]
    assert (r["title"], r["price"], r["currency"], r["category"], r["kind"]) == ("Item 1", 11.5, "EUR", "shoes", "product")
    assert r["source"] == str((catalogue_dir / "img" / "p1.png").resolve())
    assert r["meta"]["extra"] == {"brand": "Brand1"} and r["meta"]["line"] == 3
    assert Path(r["meta"]["thumb"]).is_file()


def test_symlink_out_of_the_folder_is_refused(catalogue_dir, store, tmp_path):
    _png(tmp_path / "secret.png", 7)
    (catalogue_dir / "img" / "link.png").symlink_to(tmp_path / "secret.png")
    report = index_catalogue(_write(catalogue_dir, HEADER + "S1,Link,3,EUR,x,img/link.png,B\n"), store, _fake())
    assert report.indexed == 0 and "escapes" in report.failed[0][1]


def test_reimport_unchanged_costs_nothing_and_changes_upsert(catalogue_dir, store, monkeypatch):
    path = _write(catalogue_dir, HEADER + _rows(6))
    first = index_catalogue(path, store, _fake())
    assert (first.indexed, first.unchanged, first.updated) == (6, 0, 0)

    calls = {"upsert": 0, "embed": 0}
    real_upsert, enc = Collection.upsert, _fake()[0]
    real_embed = enc.embed_documents
    monkeypatch.setattr(Collection, "upsert", lambda self, rows: calls.__setitem__("upsert", calls["upsert"] + 1) or real_upsert(self, rows))
    monkeypatch.setattr(enc, "embed_documents", lambda items: calls.__setitem__("embed", calls["embed"] + 1) or real_embed(items))

    again = index_catalogue(path, store, [enc])
    assert (again.indexed, again.unchanged, again.updated) == (0, 6, 0)
    assert calls == {"upsert": 0, "embed": 0}

    # a changed price, a changed extra column, and new image bytes under the same path
    body = (HEADER + _rows(6)).replace("P2,Item 2,12.50", "P2,Item 2,9.99").replace("Brand4", "Other")
    path.write_text(body)
    _png(catalogue_dir / "img" / "p5.png", 55)
    third = index_catalogue(path, store, [enc])
    assert (third.indexed, third.unchanged, third.updated) == (3, 3, 3)
    coll = store.find("product", "fake:16")
    assert coll.count() == 6  # replaced, not duplicated
    rows = _by_id(coll)
    assert rows["P2"]["price"] == 9.99 and rows["P4"]["meta"]["extra"]["brand"] == "Other"
    assert "3 indexed (3 of them updated)" in third.summary()


def test_broken_row_keeps_old_version_and_prune_removes_only_absent_ids(catalogue_dir, store):
    path = _write(catalogue_dir, HEADER + _rows(4))
    index_catalogue(path, store, _fake())
    path.write_text(HEADER + _rows(3).replace("P1,Item 1,11.50", "P1,Item 1,oops"))  # P3 gone, P1 broken
    report = index_catalogue(path, store, _fake(), prune=True)
    assert report.removed == 1 and report.failed[0][0] == "catalogue.csv:3"
    rows = _by_id(store.find("product", "fake:16"))
    assert sorted(rows) == ["P0", "P1", "P2"] and rows["P1"]["price"] == 11.5


def test_ids_with_quotes_are_plain_values(catalogue_dir, store):
    body = HEADER + "\"it's \"\"quoted\"\"\",Quote,5,EUR,x,img/p0.png,B\n" + 'or 1==1,Weird,6,EUR,x,img/p1.png,B\n'
    path = _write(catalogue_dir, body)
    assert index_catalogue(path, store, _fake()).indexed == 2
    assert index_catalogue(path, store, _fake()).unchanged == 2
    assert sorted(_by_id(store.find("product", "fake:16"))) == ["it's \"quoted\"", "or 1==1"]
    path.write_text(HEADER + 'or 1==1,Weird,6,EUR,x,img/p1.png,B\n')
    assert index_catalogue(path, store, _fake(), prune=True).removed == 1
    assert sorted(_by_id(store.find("product", "fake:16"))) == ["or 1==1"]


# -- image URLs ------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    png = b""
    release = threading.Event()  # /slow answers only after the test: the client's timeout fires first

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/slow"):
            self.release.wait(120)
        if self.path.startswith("/missing"):
            self.send_error(404)
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(self.png)))
            self.end_headers()
            self.wfile.write(self.png)
        except OSError:  # the client gave up (the timeout test)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(catalogue_dir):
    _Handler.png = (catalogue_dir / "img" / "p0.png").read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.release.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _Handler.release.set()
    server.shutdown()
    server.server_close()


def test_image_urls_with_timeout(catalogue_dir, store, http_server):
    body = HEADER + (
        f"U1,From URL,5,EUR,x,{http_server}/ok.png,B\n"
        f"U2,Slow,5,EUR,x,{http_server}/slow.png,B\n"
        f"U3,Missing,5,EUR,x,{http_server}/missing.png,B\n"
    )
    path = _write(catalogue_dir, body)
    report = index_catalogue(path, store, _fake(), url_timeout=0.5)
    assert report.indexed == 1
    reasons = dict(report.failed)
    assert "cannot fetch image" in reasons["catalogue.csv:3"] and "cannot fetch image" in reasons["catalogue.csv:4"]
    assert _by_id(store.find("product", "fake:16"))["U1"]["source"] == f"{http_server}/ok.png"
    # URL rows are not downloaded again when unchanged
    assert index_catalogue(path, store, _fake(), url_timeout=0.5).unchanged == 1


def test_urls_can_be_turned_off(catalogue_dir, store):
    path = _write(catalogue_dir, HEADER + "U1,From URL,5,EUR,x,http://127.0.0.1:9/x.png,B\n")
    report = index_catalogue(path, store, _fake(), allow_urls=False)
    assert report.indexed == 0 and "turned off" in report.failed[0][1]


# -- CLI ---------------------------------------------------------------------------------
def test_cli_index_catalogue(fake_profile, catalogue_dir, tmp_db, capsys):
    from app.cli.main import main

    path = _write(catalogue_dir, HEADER + _rows(3) + "BAD,Bad,-1,EUR,x,img/p4.png,B\n")
    assert main(["index", "catalogue", str(path), "--db", tmp_db, "--profile", "offline", "-q"]) == 0
    err = capsys.readouterr().err
    assert "3 indexed" in err and "catalogue.csv:5: negative price" in err
    assert main(["index", "catalogue", str(path), "--db", tmp_db, "--profile", "offline", "-q", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["indexed"], report["unchanged"], report["updated"]) == (0, 3, 0)
    assert report["skipped"] == [{"path": "catalogue.csv:5", "reason": "negative price: '-1'"}]
    assert report["collections"] == ["product__fake_16"]


def test_cli_index_catalogue_errors(fake_profile, tmp_path, tmp_db, capsys):
    from app.cli.main import main

    assert main(["index", "catalogue", str(tmp_path / "nope.csv"), "--db", tmp_db, "--profile", "offline"]) == 1
    assert "no such file" in capsys.readouterr().err
    bad = _write(tmp_path, "name,cost\nx,1\n")
    assert main(["index", "catalogue", str(bad), "--db", tmp_db, "--profile", "offline"]) == 1
    assert "no id, price, image column" in capsys.readouterr().err
