"""Filters: typed literals only; hostile strings stay data when run against real Milvus Lite."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encoders import get_encoder
from milvus import Filter
from milvus.filters import FILTERABLE_FIELDS, to_stand_ins

# Titles that try to break out of a string literal, plus awkward but legitimate text.
HOSTILE = [
    'quote " inside',
    "single ' quote",
    "back\\slash",
    "trailing backslash \\",
    "\\",
    '\\"',
    'x" or 1==1 or title=="',
    "x' or 1==1 or title=='",
    'x\\" or 1==1 or title==\\"',
    'a") or (1==1',
    "or 1==1",
    'title == "plain"',
    "new\nline",
    "tab\tand\rcarriage",
    "nul\x00byte",
    "esc\x1bbell\x07",
    "ünïcödé ✓ 😀",
    "%s {x} $1",
]
PLAIN = ["plain", "cheap", "dear"]


@pytest.fixture(scope="module")
def coll(tmp_path_factory):
    """A collection holding one row per title in HOSTILE + PLAIN, prices 0, 10, 20, …
    (module-scoped: these tests only read it)."""
    from milvus import VectorStore
    from milvus.client import close

    store = VectorStore(str(tmp_path_factory.mktemp("filters") / "t.db"))
    enc = get_encoder("fake:16")
    c = store.collection("image", enc.spec.id, enc.spec.dim)
    titles = HOSTILE + PLAIN
    vecs = enc.embed_documents(titles)
    rows = [
        {
            "id": f"r{i:02d}",
            "vector": v,
            "title": t,
            "category": "cat-a" if i % 2 else "cat-b",
            "price": float(10 * i),
            "start_s": float(i) / 2,
        }
        for i, (t, v) in enumerate(zip(titles, vecs))
    ]
    assert c.upsert(rows) == len(rows)
    yield c
    close(store.uri)


def _ids(rows) -> set[str]:
    return {r["id"] for r in rows}


def _all_ids() -> set[str]:
    return {f"r{i:02d}" for i in range(len(HOSTILE) + len(PLAIN))}


# -- literals and field names, without a database -------------------------------------------
def test_literals_are_typed():
    assert Filter.eq("price", 10).expr() == "(price == 10.0)"  # number columns always get floats
    assert Filter.eq("price", 10.5).expr() == "(price == 10.5)"
    assert Filter.eq("title", "a").expr() == '(title == "a")'
    assert Filter.eq("title", 'a"b').expr() == r'(title == "a\"b")'
    assert Filter.eq("title", "a\\b").expr() == r'(title == "a\\b")'
    assert Filter.lt("price", "12").expr() == "(price < 12.0)"  # ranges coerce to float


def test_range_is_two_comparisons_not_a_chain():
    expr = Filter.between("price", 10, 80).expr()
    assert expr == "(price >= 10.0) and (price <= 80.0)"
    assert not Filter.between("price", None, None)
    assert Filter.between("price", None, 5).expr() == "(price <= 5.0)"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), np.float64("nan")])
def test_non_finite_numbers_are_refused(bad):
    for build in (
        lambda: Filter.eq("price", bad),
        lambda: Filter.ne("price", bad),
        lambda: Filter.lt("price", bad),
        lambda: Filter.le("price", bad),
        lambda: Filter.ge("price", bad),
        lambda: Filter.between("price", bad, 10),
        lambda: Filter.between("price", 0, bad),
        lambda: Filter.is_in("price", [1.0, bad]),
    ):
        with pytest.raises(ValueError):
            build()


def test_non_numeric_range_bound_is_refused():
    with pytest.raises(ValueError):
        Filter.lt("price", "1 or 1==1")


@pytest.mark.parametrize("value", [None, [1], {"a": 1}, b"bytes", object()])
def test_untyped_values_are_refused(value):
    with pytest.raises(TypeError):
        Filter.eq("title", value)


@pytest.mark.parametrize("name", ["vector", "meta", "text", "title or 1==1", "price; drop", "", "TITLE", "id "])
def test_unknown_fields_are_refused(name):
    assert name not in FILTERABLE_FIELDS
    with pytest.raises(ValueError, match="cannot filter on"):
        Filter.eq(name, "x")
    with pytest.raises(ValueError):
        Filter.between(name, 1, 2)
    with pytest.raises(ValueError):
        Filter.not_null(name)


def test_is_in_needs_values():
    with pytest.raises(ValueError):
        Filter.is_in("title", [])


# -- against Milvus Lite ---------------------------------------------------------------------
@pytest.mark.parametrize("title", HOSTILE)
def test_hostile_string_matches_exactly_its_own_row(coll, title):
    i = HOSTILE.index(title)
    assert _ids(coll.query(Filter.eq("title", title))) == {f"r{i:02d}"}
    # and `!=` excludes exactly that row: nothing leaks through `or 1==1`
    assert _ids(coll.query(Filter.ne("title", title))) == _all_ids() - {f"r{i:02d}"}


@pytest.mark.parametrize(
    "probe",
    [
        'nothing" or 1==1 or title=="',
        "nothing' or 1==1 or title=='",
        'nothing\\" or 1==1 or \\"\\"==\\"',
        '") or (id != "',
        "plain or 1==1",
        "plain\x00",
        " plain",
    ],
)
def test_injection_probes_match_nothing(coll, probe):
    assert coll.query(Filter.eq("title", probe)) == []
    assert coll.query(Filter.eq("category", probe) & Filter.ge("price", 0)) == []
    assert _ids(coll.query(Filter.is_in("title", [probe, "plain"]))) == {f"r{len(HOSTILE):02d}"}
    vec = get_encoder("fake:16").embed_queries(["plain"])
    assert coll.search(vec, k=50, filter=Filter.eq("title", probe))[0] == []


def test_search_respects_typed_filters(coll):
    vec = get_encoder("fake:16").embed_queries(["anything"])
    hits = coll.search(vec, k=50, filter=Filter.between("price", 30, 80) & Filter.eq("category", "cat-a"))[0]
    assert {h["id"] for h in hits} == {"r03", "r05", "r07"}
    assert all(30 <= h["price"] <= 80 and h["category"] == "cat-a" for h in hits)
    hits = coll.search(vec, k=50, filter=Filter.ge("start_s", 9.5))[0]
    assert {h["id"] for h in hits} == {f"r{i:02d}" for i in range(19, len(HOSTILE) + len(PLAIN))}


def test_int_and_float_literals_compare_equal_on_double_field(coll):
    assert _ids(coll.query(Filter.eq("price", 30))) == {"r03"}
    assert _ids(coll.query(Filter.eq("price", 30.0))) == {"r03"}
    assert _ids(coll.query(Filter.is_in("price", [0, 10.0, 1e9]))) == {"r00", "r01"}


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_any_string_is_a_literal_not_syntax(coll, text):
    """Whatever the text, filtering on it parses and matches only rows whose title is exactly it."""
    expected = {f"r{i:02d}" for i, t in enumerate(HOSTILE + PLAIN) if t == text}
    assert _ids(coll.query(Filter.eq("title", text))) == expected


def test_control_character_escapes_and_quotes_become_stand_ins():
    """On Lite 2.x the escapes of \\n \\r \\t and single quotes become the stand-ins stored in their
    place; escaped backslashes and double quotes stay as they are."""
    expr = Filter.eq("title", 'a\nb\t"c"\\n\r\'').expr()
    assert to_stand_ins(expr) == '(title == "a\ue00ab\ue009\\"c\\"\\\\n\ue00d\ue027")'
