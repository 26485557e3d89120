"""A catalogue past Milvus's 16,384-row query window imports, counts, filters and pages from the
database: a generated 20,010-row CSV imported with the `fake:16` encoder into Milvus Lite.

Before keyset paging, browsing stopped silently at row 16,384 and `--prune` refused the
collection; counts, categories and the price range were computed from the first 16,384 rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.search.catalogue import Catalogue, PriceQuery
from encoders.profiles import Profile

N = 20_010
FAKE = Profile("test", image_encoders=("fake:16",), text_to_image="fake:16", image_to_image="fake:16", text="fake:16")
CATEGORIES = [f"cat {c}" for c in "ABCDEFG"] + ['quote "q"', "it's"]


def _price(i: int) -> float:
    return round(((i * 7919) % 100_003) / 100 + 0.5, 2)  # 0.50 … 1000.52, unrelated to the id order


def _category(i: int) -> str:
    return CATEGORIES[i % len(CATEGORIES)] if i != N - 1 else "rare"  # one category on the very last row


def _write(folder: Path, n: int) -> Path:
    from PIL import Image

    for k in range(4):
        Image.new("RGB", (8, 8), (60 * k, 10, 200 - 40 * k)).save(folder / f"i{k}.png")
    path = folder / "catalogue.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "price", "currency", "category", "image"])
        for i in range(n):
            w.writerow([f"item-{i:06d}", f"Thing {i}", f"{_price(i):.2f}", "EUR", _category(i), f"i{i % 4}.png"])
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    from encoders import get_encoder
    from indexers.catalogue import index_catalogue
    from milvus import VectorStore
    from milvus.client import close

    folder = tmp_path_factory.mktemp("bigcat")
    path = _write(folder, N)
    uri = str(folder / "cat.db")
    store = VectorStore(uri)
    report = index_catalogue(path, store, [get_encoder("fake:16")])
    assert report.indexed == N and not report.failed
    yield Catalogue(store, FAKE, "cpu"), store, path
    close(uri)


@pytest.mark.slow
def test_counts_categories_and_prices_come_from_the_whole_catalogue(big):
    cat, _, _ = big
    assert cat.count() == N
    assert cat.categories() == sorted({_category(i) for i in range(N)})  # "rare" lives only on row 20,009
    prices = [_price(i) for i in range(N)]
    assert cat.price_range() == (min(prices), max(prices))
    q = PriceQuery(categories=("cat B", "it's"), min_price=100, max_price=400)
    want = [i for i in range(N) if _category(i) in q.categories and 100 <= _price(i) <= 400]
    assert cat.count(q) == len(want) and cat.browse(q, sort="id").total == len(want)


@pytest.mark.slow
def test_pages_reach_every_item_in_id_order(big):
    cat, _, _ = big
    ids = [f"item-{i:06d}" for i in range(N)]
    page = cat.browse(sort="id", page=16_400 // 24, page_size=24)  # rows 16,393–16,416: past the window
    assert [h.id for h in page.hits] == ids[16_392:16_416]
    assert page.span() == f"items 16,393–16,416 of {N:,}"
    last = cat.browse(sort="id", page=(N - 1) // 24, page_size=24)
    assert [h.id for h in last.hits] == ids[(N - 1) // 24 * 24 :] and last.hits[-1].category == "rare"
    assert cat.browse(sort="id", page=N // 24 + 1, page_size=24).hits == []
    # filtered pages past the window too, and sorted by price (reads (id, price) pairs only)
    q = PriceQuery(min_price=10)
    want = sorted((_price(i), f"item-{i:06d}") for i in range(N) if _price(i) >= 10)
    assert len(want) > 16_384
    tail = cat.browse(q, sort="id", page=(len(want) - 1) // 50, page_size=50)
    assert [h.id for h in tail.hits] == sorted(i for _, i in want)[(len(want) - 1) // 50 * 50 :]
    dear = cat.browse(q, sort="-price", page=0, page_size=5)
    assert [h.price for h in dear.hits] == [p for p, _ in sorted(want, key=lambda t: (-t[0], t[1]))[:5]]
    cheap_last = cat.browse(q, sort="price", page=(len(want) - 1) // 20, page_size=20)
    assert [h.id for h in cheap_last.hits] == [i for _, i in want][(len(want) - 1) // 20 * 20 :]


@pytest.mark.slow
def test_prune_sees_rows_past_the_window(big, tmp_path):
    from encoders import get_encoder
    from indexers.catalogue import index_catalogue

    cat, store, path = big
    lines = path.read_text().splitlines()
    shorter = path.with_name("shorter.csv")
    shorter.write_text("\n".join(lines[:-3]) + "\n")  # the last three rows (ids past 16,384) are gone
    try:
        report = index_catalogue(shorter, store, [get_encoder("fake:16")], prune=True)
        assert report.removed == 3 and report.indexed == 0
        assert cat.count() == N - 3 and "rare" not in cat.categories()
    finally:
        index_catalogue(path, store, [get_encoder("fake:16")])  # put them back for the other tests
