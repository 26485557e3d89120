"""The catalogue page, through Streamlit's AppTest and through a real browser (Playwright + Chromium).

The catalogue is a small demo catalogue (Fashion-MNIST, 3 items per class + 3 planted cheaper
lookalikes) imported with the offline profile once per session.
"""

from __future__ import annotations

import csv
import shutil

import pytest
import streamlit as st

from app.views.common import plain
from tests.ui.conftest import ARTIFACTS, REPO, streamlit_server

CATALOGUE_PAGE = str(REPO / "app" / "views" / "catalogue.py")

pytestmark = [pytest.mark.ui, pytest.mark.slow]


@pytest.fixture(scope="session")
def catalogue_db(tmp_path_factory) -> tuple[str, dict[str, dict]]:
    """The demo catalogue imported with the offline profile into a fresh Lite `.db` (client closed)."""
    from app.demo.catalogue import prepare_catalogue
    from encoders import get_encoder
    from encoders.profiles import PROFILES
    from indexers.catalogue import index_catalogue
    from milvus import VectorStore
    from milvus.client import close

    root = tmp_path_factory.mktemp("ui_catalogue")
    csv_path = prepare_catalogue(root / "catalogue", per_class=3, n_duplicates=3)
    uri = str(root / "cat.db")
    store = VectorStore(uri)
    report = index_catalogue(csv_path, store, [get_encoder(e) for e in PROFILES["offline"].image_encoders])
    assert report.indexed == 33 and not report.failed
    close(uri)
    with open(csv_path, newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    return uri, rows


def _planted(rows: dict[str, dict]) -> tuple[dict, dict]:
    dup = next(r for i, r in rows.items() if i.endswith("-L"))
    return rows[dup["id"][:-2]], dup


@pytest.fixture()
def apptest(catalogue_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    uri, _ = catalogue_db
    monkeypatch.setenv("MMSEARCH_DB", uri)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(CATALOGUE_PAGE, default_timeout=600)
    yield at
    # AppTest runs in this process: drop the cached store, then release the Lite file
    st.cache_resource.clear()
    st.cache_data.clear()
    close(uri)


def _titles(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**")]


def test_grid_filters_and_pages(apptest, catalogue_db):
    at = apptest.run()
    assert not at.exception, at.exception
    assert at.caption[0].value.startswith("33 items · page 1 of 2")
    assert len([b for b in at.button if b.label == "View"]) == 20
    at.button(key="next").click().run()
    assert "page 2 of 2" in [c.value for c in at.caption if "items ·" in c.value][0]
    assert len([b for b in at.button if b.label == "View"]) == 13

    at.sidebar.multiselect(key="cat-cats").set_value(["bags"]).run()
    assert [c.value for c in at.caption if "items ·" in c.value][0].startswith("3 items · page 1 of 1")
    assert all(t.startswith("**Bag") for t in _titles(at))

    at.sidebar.multiselect(key="cat-cats").set_value([]).run()
    at.sidebar.selectbox(key="cat-sort").set_value("price").run()
    prices = [float(c.value.split(" ")[0].replace("\\", "").replace(",", "")) for c in at.caption if c.value.endswith("EUR")]
    assert prices == sorted(prices) and len(prices) == 20

    at.sidebar.text_input(key="cat-text").input("ankle boot").run()
    assert not at.exception
    assert all(t.startswith("**Ankle boot") for t in _titles(at)[:3])  # word matches first


def test_detail_rails_show_the_planted_cheaper_lookalike(apptest, catalogue_db):
    _, rows = catalogue_db
    orig, dup = _planted(rows)
    at = apptest
    at.query_params["item"] = orig["id"]
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert [s.value for s in at.subheader] == ["Similar", "Similar but cheaper", "Similarity vs price", "Like this, but …"]
    titles = _titles(at)
    # the first card of each rail is the lookalike (it is cheaper and looks nearly the same)
    lookalike = f"**{plain(dup['title'])}**"
    assert titles.count(lookalike) == 2
    saving = float(orig["price"]) - float(dup["price"])
    assert any(plain(f"save {saving:,.2f}") in c.value for c in at.caption)
    # offline profile: composed queries are refused in plain words
    assert any("needs a CLIP/SigLIP encoder" in i.value for i in at.info)
    # a 95 % minimum saving leaves an honest "no cheaper lookalike"
    at.slider(key="detail-saving").set_value(90).run()
    assert any("no lookalike at least 90% cheaper" in i.value for i in at.info)
    # back to the grid
    at.button(key="back").click().run()
    assert "item" not in at.query_params


def test_unknown_item_is_a_friendly_error(apptest):
    at = apptest
    at.query_params["item"] = "does-not-exist"
    at.run()
    assert not at.exception
    assert at.error and "no catalogue item with id" in at.error[0].value


def test_empty_catalogue_says_how_to_import(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from milvus.client import close

    uri = str(tmp_path / "empty.db")
    monkeypatch.setenv("MMSEARCH_DB", uri)
    monkeypatch.setenv("MMSEARCH_PROFILE", "offline")
    st.cache_resource.clear()
    at = AppTest.from_file(CATALOGUE_PAGE, default_timeout=600).run()
    st.cache_resource.clear()
    close(uri)
    assert not at.exception
    assert "mmsearch index catalogue FILE" in at.info[0].value


def test_composed_query_form_on_a_shared_space_profile(fake_profile, tmp_path, monkeypatch):
    """With a profile whose image and text vectors share a space (here the fake encoder as
    "full"), the page offers "like this, but …" and answers it."""
    from PIL import Image
    from streamlit.testing.v1 import AppTest

    from encoders import get_encoder
    from indexers.catalogue import index_catalogue
    from milvus import VectorStore
    from milvus.client import close

    d = tmp_path / "shop"
    (d / "img").mkdir(parents=True)
    lines = ["id,title,price,currency,category,image"]
    for i in range(6):
        Image.new("RGB", (24, 24), (i * 40, 100, 200 - i * 30)).save(d / "img" / f"{i}.png")
        lines.append(f"F{i},Fake {i},{10 + i},EUR,tops,img/{i}.png")
    (d / "c.csv").write_text("\n".join(lines) + "\n")
    uri = str(tmp_path / "fake.db")
    index_catalogue(d / "c.csv", VectorStore(uri), [get_encoder("fake:16")])
    close(uri)
    monkeypatch.setenv("MMSEARCH_DB", uri)
    monkeypatch.setenv("MMSEARCH_PROFILE", "full")
    st.cache_resource.clear()
    at = AppTest.from_file(CATALOGUE_PAGE, default_timeout=600)
    at.query_params["item"] = "F0"
    at.run()
    try:
        assert not at.exception, at.exception
        assert not any("needs a CLIP/SigLIP" in i.value for i in at.info)
        at.text_input(key="detail-plus").input("red")
        at.slider(key="detail-floor").set_value(0.0)
        at.button[-1].click().run()  # the form's "Find"
        assert not at.exception and not at.error
        assert any("similarity" in c.value for c in at.caption)
    finally:
        st.cache_resource.clear()
        close(uri)


def test_browser_catalogue_detail_and_screenshot(catalogue_db, browser, tmp_path):
    uri, rows = catalogue_db
    orig, dup = _planted(rows)
    copy = str(tmp_path / "browser.db")  # a private copy: AppTest tests may hold the original
    shutil.copyfile(uri, copy)  # closed after indexing: the file is complete
    with streamlit_server(copy, {"MMSEARCH_PROFILE": "offline"}) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 2600})
        page.goto(url + "/catalogue", wait_until="networkidle")
        page.get_by_text("33 items · page 1 of 2").wait_for(timeout=300_000)
        # find the item by words, then open it from the grid
        page.get_by_label("Words in the title").fill(orig["title"])
        page.get_by_label("Words in the title").press("Enter")
        page.get_by_text("2 items · page 1 of 1").wait_for(timeout=300_000)  # the item and its lookalike, by title
        # the rerun replaces the grid: wait until no element of the previous run is left, then
        # open the card that shows the item's own title
        page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0", timeout=300_000)
        card = page.locator("[data-testid='stColumn']").filter(has=page.get_by_text(orig["title"], exact=True))
        card.get_by_role("button", name="View").first.click()
        page.get_by_text("Similar but cheaper").wait_for(timeout=300_000)
        assert f"item={orig['id']}" in page.url
        cheaper_rail = page.locator("h3", has_text="Similar but cheaper")
        assert cheaper_rail.count() == 1
        page.get_by_text(dup["title"]).first.wait_for(timeout=300_000)
        page.get_by_text("save ").first.wait_for(timeout=300_000)
        # the similarity-vs-price chart is drawn
        page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=300_000)
        page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)", timeout=300_000)
        page.wait_for_timeout(1500)  # let the chart and layout settle
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "catalogue.png"), full_page=True)
        # pick a candidate (the chart's companion list) and open it
        page.locator("[data-testid='stSelectbox']").filter(has_text="or pick a candidate").click()
        page.get_by_role("option").filter(has_text=dup["title"]).first.click()
        page.get_by_role("button", name="Open this item").click()
        page.get_by_role("heading", name=dup["title"]).wait_for(timeout=300_000)
        assert f"item={dup['id']}" in page.url
        page.close()
    assert (ARTIFACTS / "catalogue.png").stat().st_size > 20_000


def test_words_that_match_no_title_say_the_pictures_were_searched(apptest, tmp_path, monkeypatch):
    from tests.conftest import apply_env

    apply_env(monkeypatch, MMSEARCH_CALIBRATION=str(tmp_path / "calibration.json"))
    at = apptest.run()
    at.sidebar.text_input(key="cat-text").input("zebra").run()
    assert not at.exception and not at.error
    assert any(i.value.startswith("No title, category or detail contains “zebra”, so the pictures were searched") for i in at.info)
    assert at.subheader[0].value == "Looks like “zebra”"
    # scores are split at the good-match score measured on this catalogue: weak ones are folded or labelled
    assert at.expander or any("not calibrated" in c.value for c in at.caption)


def test_titles_sort_naturally(apptest):
    at = apptest.run()
    at.sidebar.text_input(key="cat-text").input("ankle boot").run()
    numbers = [int(t.split("#")[1].rstrip("*")) for t in _titles(at)[:3] if "#" in t]
    assert numbers == sorted(numbers) and len(numbers) >= 2


def test_same_category_is_on_by_default(apptest, catalogue_db):
    _, rows = catalogue_db
    orig, _ = _planted(rows)
    at = apptest
    at.query_params["item"] = orig["id"]
    at.run()
    assert at.checkbox(key="detail-samecat").value is True


def _green_dot(png: bytes) -> tuple[float, float] | None:
    """The centre of the topmost "cheaper lookalike" (green) dot in a chart screenshot."""
    import io

    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    # #1a9850 drawn at opacity .55 or 1 on white
    near = lambda c: (np.abs(img - np.asarray(c)).sum(axis=2) < 40)  # noqa: E731
    mask = near((26, 152, 80)) | near((130, 198, 159))
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    top = ys.min()
    sel = ys <= top + 10  # the first dot from the top (the legend sits below the plot)
    return float(xs[sel].mean()), float(ys[sel].mean()) + 2


def test_browser_clicking_a_chart_dot_opens_the_item(catalogue_db, browser, tmp_path):
    uri, rows = catalogue_db
    orig, dup = _planted(rows)
    copy = str(tmp_path / "browser.db")
    shutil.copyfile(uri, copy)
    with streamlit_server(copy, {"MMSEARCH_PROFILE": "offline"}) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 2600})
        page.goto(url + f"/catalogue?item={orig['id']}", wait_until="networkidle")
        chart = page.locator("[data-testid='stVegaLiteChart']").first
        chart.wait_for(timeout=300_000)
        page.locator("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg").first.wait_for(timeout=300_000)
        chart.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.get_by_text("Click a dot to open that item").wait_for(timeout=300_000)
        page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0", timeout=300_000)
        shot = chart.screenshot()
        (ARTIFACTS / "catalogue-chart.png").write_bytes(shot)
        dot = _green_dot(shot)
        assert dot is not None, "no cheaper-lookalike dot drawn"
        box = chart.bounding_box()
        page.mouse.click(box["x"] + dot[0], box["y"] + dot[1])
        page.get_by_role("heading", name=dup["title"], exact=True).wait_for(timeout=300_000)
        page.wait_for_url(f"**item={dup['id']}", timeout=300_000)  # bookmarkable
        page.screenshot(path=str(ARTIFACTS / "catalogue-opened-from-chart.png"), full_page=True)
        page.close()
