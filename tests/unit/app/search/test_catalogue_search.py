"""Catalogue search: exact price filters (property test), cheaper near-duplicates, floors, typed filters, CLI.

Vectors are written straight into a Milvus Lite `product` collection (or come from the
`fake:16` hash encoder), so these tests need no model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import QueryError
from app.search.catalogue import Catalogue, PriceQuery, default_floor, saving_of
from encoders.profiles import Profile
from milvus import Collection, Filter

DIM = 16
FAKE = Profile("test", image_encoders=("fake:16",), text_to_image="fake:16", image_to_image="fake:16", text="fake:16")


def _put(coll: Collection, items: list[dict]) -> None:
    old = [r["id"] for r in coll.query(limit=16384)]
    if old:
        coll.delete(old)
    coll.upsert([{**it, "kind": "product", "meta": {}} for it in items])


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(DIM)
    return v / np.linalg.norm(v)


# -- the property: no hit ever violates the price constraint -----------------------------------
PRICES = st.one_of(
    st.sampled_from([0.0, 0.01, 5.0, 8.0, 9.99, 10.0, 10.01, 12.5, 20.0, 100.0]),  # equal prices and boundaries
    st.floats(min_value=0.0, max_value=500.0, allow_nan=False, allow_infinity=False),
)
ITEM = st.fixed_dictionaries({
    "price": PRICES,
    "category": st.sampled_from(["shoes", "bags", 'a"b', None]),
    "currency": st.sampled_from(["EUR", "EUR", "USD", None]),
    "seed": st.integers(0, 2**32 - 1),
    "near": st.booleans(),  # a near-duplicate of the anchor
})


@pytest.fixture(scope="module")
def prop_catalogue(tmp_path_factory):
    from milvus import VectorStore
    from milvus.client import close

    uri = str(tmp_path_factory.mktemp("prop") / "p.db")
    store = VectorStore(uri)
    coll = store.collection("product", "fake:16", DIM)
    yield Catalogue(store, FAKE, "cpu"), coll
    close(uri)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=st.lists(ITEM, min_size=1, max_size=30),
    anchor_index=st.integers(0, 29),
    min_saving=st.one_of(st.just(0.0), st.sampled_from([0.1, 0.2, 0.5]), st.floats(0.0, 0.99)),
    cheaper=st.booleans(),
    max_price=st.one_of(st.none(), PRICES),
    min_price=st.one_of(st.none(), PRICES),
    same_category=st.booleans(),
    k=st.integers(1, 40),
)
def test_no_hit_ever_violates_the_price_constraint(prop_catalogue, items, anchor_index, min_saving, cheaper, max_price, min_price, same_category, k):
    cat, coll = prop_catalogue
    rng = np.random.default_rng(items[0]["seed"])
    anchor_vec = _unit(rng)
    rows = []
    for i, it in enumerate(items):
        vec = anchor_vec + 0.05 * _unit(np.random.default_rng(it["seed"])) if it["near"] else _unit(np.random.default_rng(it["seed"]))
        rows.append({"id": f"i{i}", "vector": vec / np.linalg.norm(vec), "price": it["price"], "category": it["category"], "currency": it["currency"], "title": f"item {i}"})
    _put(coll, rows)
    anchor = rows[anchor_index % len(rows)]
    if min_price is not None and max_price is not None and min_price > max_price:
        min_price, max_price = max_price, min_price
    q = PriceQuery(cheaper=cheaper, min_saving=min_saving, max_price=max_price, min_price=min_price)
    res = cat.similar(anchor["id"], k=k, query=q, same_category=same_category, min_similarity=-1.0)

    a_price, a_cur, a_cat = anchor["price"], anchor["currency"], anchor["category"]
    effective_cheaper = cheaper or min_saving > 0

    def admissible(r: dict) -> bool:
        p = r["price"]
        if r["id"] == anchor["id"]:
            return False
        if effective_cheaper:
            if not (p < a_price and p < a_price * (1 - min_saving) and (a_price - p) / a_price >= min_saving):
                return False
            if a_cur and r["currency"] != a_cur:
                return False
        if max_price is not None and p > max_price:
            return False
        if min_price is not None and p < min_price:
            return False
        if same_category and a_cat and r["category"] != a_cat:
            return False
        return True

    assert len(res.hits) <= k
    for h in res.hits:
        assert h.id != anchor["id"]
        assert admissible(next(r for r in rows if r["id"] == h.id)), (h, anchor)
        if effective_cheaper:
            assert h.price < a_price
            assert h.saving == pytest.approx(a_price - h.price) and h.saving > 0
            assert h.saving_pct >= min_saving
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True)
    # exact in the other direction too: with floor -1, every admissible item up to k is returned
    expected = {r["id"] for r in rows if admissible(r)}
    assert len(res.hits) == min(k, len(expected))
    assert {h.id for h in res.hits} <= expected


# -- a planted cheaper near-duplicate ranks first --------------------------------------------
def test_planted_cheaper_near_duplicate_ranks_first(store):
    rng = np.random.default_rng(3)
    coll = store.collection("product", "fake:16", DIM)
    anchor = _unit(rng)
    rows = [{"id": "anchor", "vector": anchor, "price": 100.0, "currency": "EUR", "category": "coats", "title": "Coat"}]
    for i in range(40):  # unrelated items, cheaper and dearer
        rows.append({"id": f"o{i}", "vector": _unit(rng), "price": float(20 + 5 * i), "currency": "EUR", "category": "coats", "title": f"o{i}"})
    twin = anchor + 0.1 * _unit(rng)
    rows.append({"id": "twin-dear", "vector": anchor + 0.01 * _unit(rng), "price": 150.0, "currency": "EUR", "category": "coats", "title": "dearer twin"})
    rows.append({"id": "twin-cheap", "vector": twin / np.linalg.norm(twin), "price": 59.0, "currency": "EUR", "category": "coats", "title": "cheaper twin"})
    coll.upsert([{**r, "kind": "product"} for r in rows])
    cat = Catalogue(store, FAKE, "cpu")

    plain = cat.similar("anchor", k=3, min_similarity=0.8)
    assert [h.id for h in plain.hits] == ["twin-dear", "twin-cheap"]  # the floor drops the unrelated
    assert plain.hits[0].saving == pytest.approx(-50.0)

    cheaper = cat.similar("anchor", k=5, query=PriceQuery(cheaper=True), min_similarity=0.8)
    assert [h.id for h in cheaper.hits] == ["twin-cheap"]
    h = cheaper.hits[0]
    assert h.price == 59.0 and h.saving == pytest.approx(41.0) and h.saving_pct == pytest.approx(0.41)

    # without a floor, the twin is still first among the cheaper items
    everything = cat.similar("anchor", k=10, query=PriceQuery(cheaper=True), min_similarity=-1.0)
    assert everything.hits[0].id == "twin-cheap" and len(everything.hits) == 10

    # asking for a bigger saving than the twin offers: an honest empty answer
    none = cat.similar("anchor", k=5, query=PriceQuery(min_saving=0.5), min_similarity=0.8)
    assert none.hits == [] and none.query.cheaper
    assert none.message().startswith("no lookalike at least 50% cheaper above similarity 0.80")


def test_fake_encoder_identical_image_at_lower_price(store, tmp_path):
    """Through the importer: a cheaper copy of an image (same pixels, another file) ranks first."""
    from PIL import Image

    from encoders import get_encoder
    from indexers.catalogue import index_catalogue

    d = tmp_path / "shop"
    (d / "img").mkdir(parents=True)
    lines = ["id,title,price,currency,category,image"]
    for i in range(8):
        Image.new("RGB", (24, 24), (i * 30, 255 - i * 30, 90)).save(d / "img" / f"{i}.png")
        lines.append(f"S{i},Shirt {i},{20 + i},EUR,shirts,img/{i}.png")
    Image.new("RGB", (24, 24), (0, 255, 90)).save(d / "img" / "copy.png")  # pixels of S0
    lines.append("S0-copy,Shirt 0 copy,12.00,EUR,shirts,img/copy.png")
    (d / "c.csv").write_text("\n".join(lines) + "\n")
    assert index_catalogue(d / "c.csv", store, [get_encoder("fake:16")]).indexed == 9
    res = Catalogue(store, FAKE, "cpu").similar("S0", k=3, query=PriceQuery(cheaper=True, min_saving=0.2), min_similarity=-1.0)
    assert res.hits[0].id == "S0-copy" and res.hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert all(h.price < 20 * 0.8 for h in res.hits)


# -- filters are typed values ------------------------------------------------------------------
def test_filters_are_built_from_typed_values(store, monkeypatch):
    coll = store.collection("product", "fake:16", DIM)
    rng = np.random.default_rng(1)
    evil = 'x" or price > 0 or category == "'
    coll.upsert([
        {"id": "a", "vector": _unit(rng), "price": 10.0, "category": evil, "currency": "EUR", "kind": "product"},
        {"id": "b", "vector": _unit(rng), "price": 5.0, "category": "bags", "currency": "EUR", "kind": "product"},
        {"id": "c", "vector": _unit(rng), "price": 4.0, "category": evil, "currency": "EUR", "kind": "product"},
    ])
    seen: list[Filter] = []
    real = Collection.search

    def spy(self, vectors, k=10, filter=None, strong=False):
        seen.append(filter)
        return real(self, vectors, k=k, filter=filter, strong=strong)

    monkeypatch.setattr(Collection, "search", spy)
    cat = Catalogue(store, FAKE, "cpu")
    res = cat.similar("a", k=5, query=PriceQuery(cheaper=True, min_saving=0.25), same_category=True, min_similarity=-1.0)
    assert [h.id for h in res.hits] == ["c"]  # "b" is cheaper but in another category: the quote did not escape
    assert isinstance(seen[-1], Filter)
    expr = seen[-1].expr()
    assert "(price < 7.5)" in expr and '(category == "x\\" or price > 0 or category == \\"")' in expr
    assert '(currency == "EUR")' in expr and '(id != "a")' in expr
    # browsing with a hostile category matches nothing rather than everything
    assert cat.browse(PriceQuery(categories=('" or 1==1 or "',))).total == 0


def test_query_validation():
    with pytest.raises(QueryError, match="minimum saving"):
        PriceQuery(min_saving=1.0).validated()
    with pytest.raises(QueryError, match="minimum saving"):
        PriceQuery(min_saving=-0.1).validated()
    with pytest.raises(QueryError, match="non-negative"):
        PriceQuery(max_price=float("nan")).validated()
    with pytest.raises(QueryError, match="above the maximum"):
        PriceQuery(min_price=5, max_price=4).validated()
    assert PriceQuery(min_saving=0.2).validated().cheaper
    with pytest.raises(QueryError, match="needs the anchor's price"):
        PriceQuery(cheaper=True).to_filter(None)
    assert saving_of(10.0, 7.5) == (2.5, 0.25) and saving_of(0.0, 0.0) == (0.0, None) and saving_of(None, 3) == (None, None)
    assert default_floor("timm:efficientnet_lite0") == 0.70 and default_floor("open_clip:ViT-B-32/x") == 0.80
    assert default_floor("fake:16") == 0.0 and default_floor("something:else") == 0.5


def test_photo_anchor_needs_a_price_for_cheaper(store):
    from PIL import Image

    coll = store.collection("product", "fake:16", DIM)
    coll.upsert([{"id": "a", "vector": _unit(np.random.default_rng(0)), "price": 10.0, "kind": "product"}])
    cat = Catalogue(store, FAKE, "cpu")
    img = Image.new("RGB", (8, 8), "red")
    with pytest.raises(QueryError, match="needs the anchor's price"):
        cat.similar_to_image(img, query=PriceQuery(cheaper=True))
    res = cat.similar_to_image(img, price=20.0, query=PriceQuery(cheaper=True), min_similarity=-1.0)
    assert [h.id for h in res.hits] == ["a"] and res.hits[0].saving == 10.0


def test_empty_and_missing(store):
    cat = Catalogue(store, FAKE, "cpu")
    assert not cat.has_items()
    with pytest.raises(QueryError, match="index catalogue"):
        cat.similar("x")
    store.collection("product", "fake:16", DIM).upsert([{"id": "a", "vector": np.ones(DIM), "price": 1.0, "kind": "product"}])
    with pytest.raises(QueryError, match="no catalogue item with id 'nope'"):
        cat.similar("nope")


def test_browse_filters_sort_and_pages(store):
    coll = store.collection("product", "fake:16", DIM)
    rng = np.random.default_rng(2)
    rows = [{"id": f"p{i:02d}", "vector": _unit(rng), "price": float(i), "category": ["shoes", "bags"][i % 2],
             "title": f"{'Red' if i % 3 == 0 else 'Blue'} thing {i:02d}", "kind": "product", "meta": {"extra": {"brand": "Acme" if i < 5 else "Zed"}}}
            for i in range(30)]
    coll.upsert(rows)
    cat = Catalogue(store, FAKE, "cpu")
    assert cat.categories() == ["bags", "shoes"] and cat.price_range() == (0.0, 29.0)
    page = cat.browse(PriceQuery(categories=("shoes",), min_price=5, max_price=20), sort="-price", page=0, page_size=4)
    assert page.total == 8 and [h.price for h in page.hits] == [20.0, 18.0, 16.0, 14.0]
    page2 = cat.browse(PriceQuery(categories=("shoes",), min_price=5, max_price=20), sort="-price", page=1, page_size=4)
    assert [h.price for h in page2.hits] == [12.0, 10.0, 8.0, 6.0]
    words = cat.browse(text="  RED   thing ", looks_k=0)
    assert words.total == 10 and all(h.title.startswith("Red") for h in words.hits) and words.looks == []
    brand = cat.browse(text="acme", sort="price")
    assert [h.id for h in brand.hits] == [f"p{i:02d}" for i in range(5)] and brand.total == 5
    assert len(brand.looks) == 10 and not {h.id for h in brand.looks} & {h.id for h in brand.hits}
    assert cat.browse(text="no-such-word").total == 0


# -- CLI ---------------------------------------------------------------------------------------
@pytest.fixture
def cli_catalogue(fake_profile, tmp_path, tmp_db, capsys):
    """A catalogue of 10 items (one a cheaper pixel-copy of A0) imported through the CLI."""
    from PIL import Image

    from app.cli.main import main

    d = tmp_path / "shop"
    (d / "img").mkdir(parents=True)
    lines = ["id,title,price,currency,category,image"]
    for i in range(9):
        Image.new("RGB", (24, 24), (i * 25, 200 - i * 20, 60)).save(d / "img" / f"{i}.png")
        lines.append(f"A{i},Thing {i},{30 + i}.00,EUR,{'tops' if i < 5 else 'bags'},img/{i}.png")
    Image.new("RGB", (24, 24), (0, 200, 60)).save(d / "img" / "dup.png")
    lines.append("A0-dup,Thing 0 lookalike,15.00,EUR,tops,img/dup.png")
    (d / "c.csv").write_text("\n".join(lines) + "\n")
    assert main(["index", "catalogue", str(d / "c.csv"), "--db", tmp_db, "--profile", "offline", "-q"]) == 0
    capsys.readouterr()
    return tmp_db, d


def test_cli_similar_cheaper_json(cli_catalogue, capsys):
    from app.cli.main import main

    db, _ = cli_catalogue
    assert main(["similar", "A0", "--db", db, "--profile", "offline", "--cheaper", "--min-saving", "0.2", "--min-similarity", "-1", "-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["id"] == "A0-dup" and hits[0]["price"] == 15.0
    assert hits[0]["saving"] == 15.0 and hits[0]["saving_pct"] == 0.5
    assert set(hits[0]) == {"id", "score", "source", "kind", "title", "price", "start_s", "end_s", "text", "saving", "saving_pct"}
    assert all(h["price"] < 30 * 0.8 and h["saving_pct"] >= 0.2 for h in hits)


def test_cli_similar_text_and_empty_answer(cli_catalogue, capsys):
    from app.cli.main import main

    db, _ = cli_catalogue
    assert main(["similar", "A3", "--db", db, "--profile", "offline", "--max-price", "32", "--same-category", "--min-similarity", "-1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('like A3 "Thing 3"  33.00 EUR (tops)  — ≤ 32, in tops, similarity ≥ -1.00')
    assert "save 3.00 (9%)" in out and "A5" not in out
    assert main(["similar", "A3", "--db", db, "--profile", "offline", "--cheaper", "--min-similarity", "0.99"]) == 0
    assert "no cheaper lookalike above similarity 0.99" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad_usage:
        main(["similar", "A3", "--db", db, "--profile", "offline", "--min-saving", "150"])
    assert bad_usage.value.code == 2 and "a saving from 0 to below 100 %" in capsys.readouterr().err
    assert main(["similar", "NOPE", "--db", db, "--profile", "offline"]) == 1
    assert "no catalogue item with id 'NOPE'" in capsys.readouterr().err


def test_cli_search_image_with_price(cli_catalogue, capsys):
    from app.cli.main import main

    db, d = cli_catalogue
    args = ["search", "image", str(d / "img" / "0.png"), "--db", db, "--profile", "offline", "--json", "--min-similarity", "-1"]
    assert main(args + ["--price", "31", "--cheaper", "--min-saving", "20%"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["id"] == "A0-dup" and all(h["price"] < 31 * 0.8 for h in hits)
    assert hits[0]["saving"] == 16.0
    # --cheaper without a price is refused with a sentence
    assert main(args + ["--cheaper"]) == 1
    assert "needs the anchor's price" in capsys.readouterr().err
    # without catalogue options, `search image` is the photo search as before
    assert main(["search", "image", str(d / "img" / "0.png"), "--db", db, "--profile", "offline"]) == 1
    assert "nothing is indexed yet for images" in capsys.readouterr().err
