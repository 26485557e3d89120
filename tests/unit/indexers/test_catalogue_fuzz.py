"""Fuzzing the catalogue parser (`indexers.catalogue.read_catalogue` and `resolve_image`).

Whatever a catalogue file holds, reading it either raises `CatalogueError` (the one
documented error, for a file that is unusable as a whole) or returns every data row
exactly once: as an item with an id, a finite non-negative price and an image reference
that `resolve_image` either resolves inside the catalogue's folder or refuses with a
reason, or as a (line number, reason) problem.
The rows are generated, written as real CSV/JSONL files and parsed back; the oracle is the
README's rule (`price`: a non-negative number with a dot; `id`: 1–64 bytes, no backslash
or control character; `image`: relative to the file's folder, never leaving it; the
first of two rows with one id wins).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from indexers.catalogue import (
    CatalogueError,
    CatalogueFile,
    RowError,
    read_catalogue,
    resolve_image,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what a CSV reader and an editor count as a new line
CHARS = st.characters(blacklist_categories=("Cs",))  # any character a UTF-8 file can hold

# -- values: known good, known bad, and anything -----------------------------------------
GOOD_PRICES = st.one_of(
    st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False).map(str),
    st.integers(0, 10**9).map(str),
    st.sampled_from(["0", "0.0", ".5", "12.50", " 7 ", "1e2", "+3.25"]),
)
BAD_PRICES = st.one_of(
    st.sampled_from(["", "  ", "-3", "-0.01", "nan", "NaN", "inf", "-inf", "Infinity", "1e400", "12,50", "1,000",
                     "€12", "$5", "12 EUR", "twelve", "0x10", "1_000", "--1", "1.2.3", "٫٥"]),
    st.floats(max_value=-0.001, allow_nan=False, allow_infinity=False).map(repr),  # negative
    st.integers(min_value=1, max_value=10**6).map(lambda n: f"{n},{n % 100:02d}"),  # decimal comma
)
GOOD_IDS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.éü日本", min_size=1, max_size=20)
ANY_IDS = st.one_of(
    GOOD_IDS,
    st.sampled_from(["", " ", "a\\b", "tab\there", "x" * 65, "é" * 33, "nul\x00", " SKU-1 "]),
    st.text(CHARS, max_size=70),
)
GOOD_IMAGES = st.sampled_from(["img/a.png", "./img/a.png", "img/../img/a.png", " img/a.png "])
ESCAPING_IMAGES = st.sampled_from(["../../etc/passwd", "../outside.png", "/etc/passwd", "img/../../outside.png",
                                  "img/../../../etc/passwd", "/" + "../" * 12 + "etc/passwd"])
ANY_IMAGES = st.one_of(
    GOOD_IMAGES,
    ESCAPING_IMAGES,
    st.sampled_from(["", "  ", "img/missing.png", "img", "file:///etc/passwd", "c:/x.png", "http://127.0.0.1:9/x.png",
                     "img/a.png\x00.jpg", "a" * 5000]),
    st.text(CHARS, max_size=40),
)
ANY_PRICES = st.one_of(GOOD_PRICES, BAD_PRICES, st.text(CHARS, max_size=20))


@dataclass
class Row:
    """One generated data row, where it starts in the file, and what is known of its values."""

    id: Any
    price: Any
    image: Any
    extra: dict[str, Any]
    line: int = 0
    good_id: bool = False  # drawn from GOOD_IDS
    price_kind: str = "any"  # "good" (GOOD_PRICES), "bad" (BAD_PRICES) or "any"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue folder with one image (`img/a.png`), and an image just outside it."""
    root = tmp_path_factory.mktemp("fuzz")
    folder = root / "shop"
    (folder / "img").mkdir(parents=True)
    (folder / "img" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # only its place matters here
    (root / "outside.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return folder


# -- the invariants ----------------------------------------------------------------------
def parse_written(folder: Path, name: str, text: str) -> CatalogueFile:
    """Write `text` as the catalogue file `name`, parse it and check the invariants."""
    path = folder / name
    path.write_text(text, encoding="utf-8", newline="")
    parsed = read_catalogue(path)
    check_items(parsed, folder)
    return parsed


def check_items(parsed: CatalogueFile, folder: Path) -> None:
    """What holds for every accepted row and every problem, whatever the file was."""
    for item in parsed.items:
        assert isinstance(item.price, float) and math.isfinite(item.price) and item.price >= 0, item
        assert item.id and item.id == item.id.strip() and len(item.id.encode("utf-8")) <= 64, item
        assert "\\" not in item.id and not any(unicodedata.category(c).startswith("C") for c in item.id), item
        assert item.image and item.image == item.image.strip(), item
        assert item.line >= 1
        try:
            path = resolve_image(item.image, folder)
        except RowError as exc:
            assert str(exc), item
        else:
            assert path.is_relative_to(folder.resolve()) and path.is_file(), (item, path)
    ids = [it.id for it in parsed.items]
    assert len(ids) == len(set(ids)), "an id was accepted twice"
    for line, reason in parsed.problems:
        assert isinstance(line, int) and line >= 1 and isinstance(reason, str) and reason.strip()
    lines = [it.line for it in parsed.items] + [line for line, _ in parsed.problems]
    assert len(lines) == len(set(lines)), "a line was both accepted and rejected, or reported twice"
    assert [it.line for it in parsed.items] == sorted(it.line for it in parsed.items)


def check_rows(parsed: CatalogueFile, rows: list[Row], blank: set[int]) -> None:
    """Each generated row is accepted or rejected at its own line, as the README's rule says:
    a row of valid values is refused only as a repeat of an earlier id, a bad price is named."""
    items = {it.line: it for it in parsed.items}
    problems = dict(parsed.problems)
    assert set(items) | set(problems) == {r.line for r in rows} - blank
    first_line: dict[str, int] = {}
    for r in (r for r in rows if r.line not in blank):
        item, reason = items.get(r.line), problems.get(r.line)
        if item is not None:
            assert item.id == str(r.id).strip() and item.id not in first_line
            assert item.price == float(str(r.price).strip())
            assert item.image == str(r.image).strip()
            first_line[item.id] = r.line
            continue
        assert reason
        if r.good_id and r.price_kind == "good" and str(r.image).strip():
            assert reason == f"duplicate id {r.id!r} (first on line {first_line.get(r.id)})"
        if r.good_id and r.price_kind == "bad":
            assert "price" in reason, reason


# -- CSV ---------------------------------------------------------------------------------
@st.composite
def csv_catalogue(draw: st.DrawFn) -> tuple[str, list[Row], set[int]]:
    """A CSV file (header in any order and case, extra columns) and the rows written into it."""
    optional = draw(st.lists(st.sampled_from(["title", "currency", "category", "brand", "Colour"]), unique=True))
    columns = draw(st.permutations(["id", "price", "image", *optional]))
    header = [draw(st.sampled_from([c, c.upper(), c.capitalize()])) for c in columns]
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        good_id, rid = draw(st.one_of(
            st.sampled_from([(True, "SKU-1"), (True, "SKU-2")]),  # a small pool: duplicates
            GOOD_IDS.map(lambda i: (True, i)),
            ANY_IDS.map(lambda i: (False, i)),
        ))
        price_kind, price = draw(st.one_of(
            GOOD_PRICES.map(lambda p: ("good", p)), BAD_PRICES.map(lambda p: ("bad", p)), ANY_PRICES.map(lambda p: ("any", p))
        ))
        extra = {c: draw(st.text(CHARS, max_size=8)) for c in optional}
        rows.append(Row(rid, price, draw(ANY_IMAGES), extra, good_id=good_id, price_kind=price_kind))
    buf = io.StringIO()
    writer = csv.writer(buf)  # "\r\n" rows: a field holding \r or \n is quoted
    writer.writerow(header)
    blank: set[int] = set()
    for r in rows:
        r.line = len(LINE_BREAK.findall(buf.getvalue())) + 1
        values = {"id": r.id, "price": r.price, "image": r.image, **r.extra}
        fields = [values[c] for c in columns]
        writer.writerow(fields)
        if all(not str(f).strip() for f in fields):
            blank.add(r.line)  # a row of blanks is no row
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return bom + buf.getvalue(), rows, blank


@FUZZ
@given(csv_catalogue())
@example(generated=("id,price,image\nA,12.50,img/a.png\nB,-3,img/a.png\nC,1,../../etc/passwd\nA,5,img/a.png\n", [
    Row("A", "12.50", "img/a.png", {}, 2, True, "good"), Row("B", "-3", "img/a.png", {}, 3, True, "bad"),
    Row("C", "1", "../../etc/passwd", {}, 4, True, "good"), Row("A", "5", "img/a.png", {}, 5, True, "good"),
], set()))
def test_csv_rows_are_each_accepted_or_rejected_with_their_line(shop: Path, generated) -> None:
    text, rows, blank = generated
    parsed = parse_written(shop, "catalogue.csv", text)
    check_rows(parsed, rows, blank)


@FUZZ
@given(rid=GOOD_IDS, image=ESCAPING_IMAGES)
def test_an_image_outside_the_folder_is_never_accepted(shop: Path, rid: str, image: str) -> None:
    path = shop / "catalogue.csv"
    path.write_text(f"id,price,image\n{rid},1.00,{image}\n", encoding="utf-8")
    (item,) = read_catalogue(path).items  # the parser keeps the reference as written…
    with pytest.raises(RowError, match="escapes the catalogue's folder"):  # …resolving it refuses to leave
        resolve_image(item.image, shop)


# -- JSONL -------------------------------------------------------------------------------
JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.text(CHARS, max_size=20),
    st.floats(),  # NaN and ±Infinity are written as JSON's NaN/Infinity extensions
    st.integers(min_value=-(10**400), max_value=10**400),  # beyond a float's range
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def jsonl_catalogue(draw: st.DrawFn) -> tuple[str, list[Row], set[int]]:
    """A JSONL file: one object per line (some of them broken), blank lines between."""
    lines: list[str] = []
    rows: list[Row] = []
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "broken"]))
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", "   "])))
            continue
        if kind == "broken":
            lines.append(draw(st.sampled_from(["{not json", "[1, 2]", '"text"', "[" * 5000, '{"price": ' + "9" * 5000 + "}"])))
            continue
        good_id, rid = draw(st.one_of(
            st.sampled_from([(True, "SKU-1"), (True, "SKU-2")]), st.integers(0, 5).map(lambda i: (True, i)),
            ANY_IDS.map(lambda i: (False, i)),
        ))
        r = Row(rid, draw(st.one_of(ANY_PRICES, JSON_VALUES)), draw(st.one_of(ANY_IMAGES, JSON_VALUES)),
                {"title": draw(st.text(CHARS, max_size=8))}, good_id=good_id)
        r.line = len(lines) + 1
        rows.append(r)
        keys = {"id": "id", "price": draw(st.sampled_from(["price", "Price", "PRICE"])), "image": "image"}
        lines.append(json.dumps({keys["id"]: r.id, keys["price"]: r.price, "image": r.image, **r.extra}, ensure_ascii=False))
    return "\n".join(lines), rows, set()


@FUZZ
@given(jsonl_catalogue())
@example(generated=('{"id": "A", "price": 1e999, "image": "img/a.png"}\n{"id": "B", "price": ' + "1" * 400 + ', "image": "img/a.png"}',
          [Row("A", math.inf, "img/a.png", {}, 1, True), Row("B", int("1" * 400), "img/a.png", {}, 2, True)], set()))
@example(generated=('{"id": "A\u2028B", "price": 2, "image": "img/a.png", "title": "line\u2029separators"}',
          [Row("A\u2028B", 2, "img/a.png", {}, 1, True)], set()))
def test_jsonl_rows_are_each_accepted_or_rejected_with_their_line(shop: Path, generated) -> None:
    text, rows, _ = generated
    parsed = parse_written(shop, "catalogue.jsonl", text)
    n_lines = len(LINE_BREAK.split(text)) if text else 0
    assert all(1 <= line <= n_lines for line, _ in parsed.problems)
    items = {it.line: it for it in parsed.items}
    problems = dict(parsed.problems)
    first: dict[str, int] = {}
    for r in rows:
        assert (r.line in items) != (r.line in problems), f"line {r.line} is neither accepted nor rejected"
        if r.line in items:
            it = items[r.line]
            assert it.price == float(r.price.strip() if isinstance(r.price, str) else r.price)
            assert it.id not in first
            first[it.id] = r.line
        if isinstance(r.price, (int, float)) and not isinstance(r.price, bool) and not _usable_number(r.price):
            assert r.line in problems  # never accepted; with a valid id, the reason is the price
            assert "price" in problems[r.line] or not r.good_id


def _usable_number(value: float) -> bool:
    """A JSON number a price may be: finite as a float (JSON integers may exceed it), not negative."""
    return value >= 0 and (value <= sys.float_info.max if isinstance(value, int) else math.isfinite(value))


# -- any bytes at all ---------------------------------------------------------------------
HEADERS = st.sampled_from(["id,price,image", "ID;Price;Image", "name,cost", "", "id,price,image,id", '"id","price"'])


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(CHARS, max_size=300).map(lambda t: t.encode("utf-8")),
        st.tuples(HEADERS, st.lists(st.text(CHARS, max_size=40), max_size=8)).map(
            lambda hl: "\n".join([hl[0], *hl[1]]).encode("utf-8")
        ),
    ),
    suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".txt", ""]),
)
@example(body=b"a" * 200_000 + b"\nid,price,image\n", suffix=".csv")  # a header over csv's field size limit
@example(body=b"id,price,image\nA,1,img/a.png\n" + b"x" * 200_000 + b"\n", suffix=".csv")
@example(body=b"\xff\xfe not utf-8", suffix=".csv")
def test_any_file_is_read_or_refused_as_a_whole(shop: Path, body: bytes, suffix: str) -> None:
    path = shop / f"anything{suffix}"
    path.write_bytes(body)
    try:
        parsed = read_catalogue(path)
    except CatalogueError as exc:
        assert str(exc).strip()
        return
    check_items(parsed, shop)
