"""Catalogue page: browse products, open one, see lookalikes and cheaper lookalikes.

A grid with filters (category, price range, words) → an item's detail with "Similar" and
"Similar but cheaper" rails, the savings, and a similarity-vs-price chart of the candidates
(click a point to open it). "Like this, but …" composes image and text vectors where the
profile has a shared text–image space (CLIP/SigLIP). The selected item lives in the URL
(`?item=ID`), so a detail view can be bookmarked. Search logic: `app.catalogue`.
"""

from __future__ import annotations

import math

import streamlit as st

from app.search.catalogue import Catalogue, PriceQuery, SimilarResult, default_floor
from app.search.hits import Hit
from app.search.queries import load_query_image
from app.views import state as ui_state
from app.views.common import (
    empty_state,
    plain,
    read_upload,
    show_error,
    show_good_and_weak,
    thumb_and_title,
    thumbnail_for,
)

PAGE_SIZE = 20
SORT_FIRST_UP_TO = 16_384  # items; beyond, catalogue order is the default sort
SORT_NAMES = {"title": "title", "price": "price, low to high", "-price": "price, high to low", "id": "catalogue order (id)"}
COLUMNS = 5
RAIL_K = 5

st.title("Product catalogue")

try:
    store = ui_state.get_store()
    profile = ui_state.get_profile()
    cat = Catalogue(store, profile, ui_state.device())
    has_items = cat.has_items()
except Exception as exc:  # store or model trouble: say it and stop this page
    show_error(exc)
    st.stop()

if not has_items:
    empty_state(
        "catalogue items",
        "mmsearch index catalogue FILE",
        "The file is a CSV or JSONL with id, title, price, currency, category and image; `make demo` imports a sample.",
    )


# -- helpers ---------------------------------------------------------------------------
def money(value: float | None, currency: str | None) -> str:
    if value is None:
        return "no price"
    return f"{value:,.2f} {currency or ''}".strip()


def open_item(item_id: str) -> None:
    st.query_params["item"] = item_id


def close_item() -> None:
    st.query_params.pop("item", None)


def card(hit: Hit, key: str, show_score: bool = False) -> None:
    """One product: thumbnail, title, price, saving, score and a button to open it."""
    thumb_and_title(hit)
    line = money(hit.price, hit.currency)
    if hit.saving is not None and hit.saving_pct is not None:
        if hit.saving > 0:
            line += f" · save {hit.saving:,.2f} ({hit.saving_pct:.0%})"
        elif hit.saving < 0:
            line += f" · {-hit.saving:,.2f} more"
    st.caption(plain(line))
    meta = []
    if show_score:
        meta.append(f"similarity {hit.score:.2f}")
    if hit.category:
        meta.append(hit.category)
    if meta:
        st.caption(plain(" · ".join(meta)))
    st.button("View", key=f"{key}-{hit.id}", on_click=open_item, args=(hit.id,))


def grid(hits: list[Hit], key: str, columns: int = COLUMNS, show_score: bool = False) -> None:
    for start in range(0, len(hits), columns):
        cols = st.columns(columns)
        for col, hit in zip(cols, hits[start : start + columns]):
            with col:
                card(hit, key, show_score)


def rail(title: str, result: SimilarResult, key: str) -> None:
    st.subheader(title)
    if result.hits:
        grid(result.hits, key=key, columns=RAIL_K, show_score=True)
    else:
        st.info(plain(result.message()))


def scatter(anchor: Hit | None, anchor_price: float | None, candidates: list[Hit], floor: float, min_saving: float, key: str) -> None:
    """Similarity (y) against price (x) for the nearest items; click a point to open it."""
    import altair as alt
    import pandas as pd

    if not candidates:
        return
    limit = anchor_price * (1 - min_saving) if anchor_price is not None else None
    rows = []
    for h in candidates:
        if h.price is None:
            continue
        cheaper = limit is not None and h.price < limit
        looks = h.score >= floor
        group = (
            "cheaper lookalike" if cheaper and looks
            else "cheaper, less alike" if cheaper
            else "lookalike, not cheaper" if looks
            else "other"
        )
        rows.append({
            "id": h.id, "title": h.title or h.id, "price": h.price, "similarity": round(h.score, 3),
            "saving": f"{h.saving_pct:.0%}" if h.saving_pct is not None else "", "group": group,
        })
    if not rows:
        return
    df = pd.DataFrame(rows)
    pick = alt.selection_point(fields=["id"], name="pick", on="click")
    colors = alt.Scale(
        domain=["cheaper lookalike", "cheaper, less alike", "lookalike, not cheaper", "other"],
        range=["#1a9850", "#a6d96a", "#4575b4", "#bdbdbd"],
    )
    points = (
        alt.Chart(df)
        .mark_circle(size=90)
        .encode(
            x=alt.X("price:Q", title="price"),
            y=alt.Y("similarity:Q", title="similarity", scale=alt.Scale(zero=False)),
            color=alt.Color("group:N", scale=colors, legend=alt.Legend(title=None, orient="bottom", labelLimit=260)),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.55)),
            tooltip=["title", "price", "similarity", "saving", "id"],
        )
        .add_params(pick)
    )
    layers = [points, alt.Chart(pd.DataFrame({"y": [floor]})).mark_rule(strokeDash=[4, 4], color="#888").encode(y="y:Q")]
    if anchor_price is not None:
        layers.append(alt.Chart(pd.DataFrame({"x": [anchor_price]})).mark_rule(color="#d73027").encode(x="x:Q"))
    event = st.altair_chart(alt.layer(*layers).properties(height=340), key=key, on_select="rerun", selection_mode="pick", width="stretch")
    st.caption(
        "Each dot is a nearby item: higher looks more alike, further left costs less. "
        f"Dashed line: similarity floor {floor:.2f}"
        + (f"; red line: this price ({anchor_price:,.2f})." if anchor_price is not None else ".")
        + " Click a dot to open that item."
    )
    picked = None
    try:
        sel = (event.selection or {}).get("pick") if event is not None else None
        if sel:
            picked = sel[0].get("id")
    except (AttributeError, TypeError, IndexError):
        picked = None
    by_id = {h.id: h for h in candidates}
    if picked in by_id and (anchor is None or picked != anchor.id):
        open_item(picked)  # a click on a dot opens that item
        st.rerun()
    options = [h.id for h in sorted(candidates, key=lambda h: -h.score) if h.price is not None]
    chosen = st.selectbox(
        "…or pick a candidate",
        options,
        index=options.index(picked) if picked in options else None,
        format_func=lambda i: f"{by_id[i].title or i} · {money(by_id[i].price, by_id[i].currency)} · similarity {by_id[i].score:.2f}",
        key=f"{key}-pick",
        placeholder="choose an item from the chart",
    )
    if chosen:
        h = by_id[chosen]
        c1, c2 = st.columns([1, 4])
        with c1:
            thumb = thumbnail_for(h)
            if thumb:
                st.image(thumb, width="stretch")
        with c2:
            st.markdown(f"**{plain(h.title or h.id)}** — {plain(money(h.price, h.currency))}")
            if h.saving is not None and h.saving_pct is not None and h.saving > 0:
                st.caption(f"save {h.saving:,.2f} ({h.saving_pct:.0%}) · similarity {h.score:.2f}")
            else:
                st.caption(f"similarity {h.score:.2f}")
            st.button("Open this item", key=f"{key}-open", on_click=open_item, args=(h.id,))


def trade_off_controls(key: str, enc_floor: float) -> tuple[float, float, bool]:
    c1, c2, c3 = st.columns(3)
    floor = c1.slider("Similarity floor", 0.0, 1.0, float(enc_floor), 0.01, key=f"{key}-floor",
                      help="Items below it do not count as lookalikes. Default for this encoder: "
                      f"{enc_floor:.2f}.")
    saving = c2.slider("Minimum saving", 0, 90, 0, 5, format="%d%%", key=f"{key}-saving") / 100
    same = c3.checkbox("Same category only", value=True, key=f"{key}-samecat",
                       help="On: a lookalike must be of the same kind (no sneakers for an ankle boot).")
    return floor, saving, same


def composed_section(key: str, item_id: str | None, image=None, price: float | None = None) -> None:
    st.subheader("Like this, but …")
    if not cat.can_compose:
        st.info(
            f"“Like this, but red” needs a CLIP/SigLIP encoder, whose images and texts share one space. "
            f"The catalogue's model ({plain(cat.image_encoder_id)}) has none; choose one with "
            "`mmsearch models use catalogue open_clip:ViT-B-32/laion2b_s34b_b79k` (or switch it on the Status page)."
        )
        return
    with st.form(f"{key}-compose"):
        c1, c2, c3 = st.columns([3, 3, 2])
        plus = c1.text_input("more of", placeholder="red", key=f"{key}-plus")
        minus = c2.text_input("less of", placeholder="striped", key=f"{key}-minus")
        weight = c3.slider("text weight", 0.0, 2.0, 0.5, 0.1, key=f"{key}-weight")
        go = st.form_submit_button("Find")
    if go and (plus.strip() or minus.strip()):
        try:
            if item_id is not None:
                res = cat.similar(item_id, k=RAIL_K * 2, plus=[plus] if plus.strip() else [], minus=[minus] if minus.strip() else [], text_weight=weight)
            else:
                res = cat.similar_to_image(image, price=price, k=RAIL_K * 2, plus=[plus] if plus.strip() else [], minus=[minus] if minus.strip() else [], text_weight=weight)
            if res.hits:
                grid(res.hits, key=f"{key}-composed", show_score=True)
            else:
                st.info(plain(res.message()))
        except Exception as exc:
            show_error(exc)


# -- detail view ------------------------------------------------------------------------
def detail(item_id: str) -> None:
    try:
        item = cat.item(item_id)
    except Exception as exc:
        show_error(exc)
        st.button("← Back to the catalogue", on_click=close_item)
        return
    st.button("← Back to the catalogue", on_click=close_item, key="back")
    c1, c2 = st.columns([1, 2])
    with c1:
        thumb = thumbnail_for(item)
        if thumb:
            st.image(thumb, width="stretch")
    with c2:
        st.header(plain(item.title or item.id))
        st.markdown(f"### {plain(money(item.price, item.currency))}")
        facts = {"id": item.id, "category": item.category or "—"}
        extra = item.meta.get("extra") if isinstance(item.meta, dict) else None
        if isinstance(extra, dict):
            facts.update({str(k): str(v) for k, v in extra.items()})
        st.markdown("  \n".join(f"**{plain(k)}**: {plain(v)}" for k, v in facts.items()))

    enc_floor = default_floor(cat.image_encoder_id)
    floor, min_saving, same_cat = trade_off_controls("detail", enc_floor)
    try:
        similar = cat.similar(item.id, k=RAIL_K, same_category=same_cat, min_similarity=floor)
        rail("Similar", similar, key="similar")
        if item.price is None:
            st.info("This item has no price, so there is nothing to be cheaper than.")
        else:
            cheaper = cat.similar(item.id, k=RAIL_K, query=PriceQuery(cheaper=True, min_saving=min_saving),
                                  same_category=same_cat, min_similarity=floor)
            rail("Similar but cheaper", cheaper, key="cheaper")
        st.subheader("Similarity vs price")
        cats = (item.category,) if same_cat and item.category else ()
        candidates, _ = cat.candidates(item.id, n=60, query=PriceQuery(categories=cats))
        scatter(item, item.price, candidates, floor, min_saving, key=f"scatter-{item.id}")
    except Exception as exc:
        show_error(exc)
    composed_section("detail", item.id)


# -- grid view ----------------------------------------------------------------------------
@st.cache_data(ttl=30, show_spinner=False)
def _facets(_cat: Catalogue, uri: str, profile_name: str) -> tuple[list[str], float, float, int]:
    """Categories, price range and item count, each found by database queries (any size)."""
    lo, hi = _cat.price_range()
    return _cat.categories(), lo, hi, _cat.count()


def photo_search() -> None:
    with st.expander("Find cheaper lookalikes of a photo"):
        with st.form("photo"):
            upload = st.file_uploader("A product photo", type=["jpg", "jpeg", "png", "webp", "bmp", "gif"])
            c1, c2 = st.columns(2)
            price = c1.number_input("Its price", min_value=0.0, value=None, step=1.0, placeholder="e.g. 49.90")
            min_saving = c2.slider("Minimum saving", 0, 90, 0, 5, format="%d%%") / 100
            go = st.form_submit_button("Find lookalikes")
        if not go:
            return
        data = read_upload(upload)
        if data is None:
            st.info("Drop a photo first.")
            return
        try:
            image = load_query_image(data)
            st.image(image, caption="your photo", width=160)
            if price is None:
                res = cat.similar_to_image(image, k=RAIL_K * 2)
                rail("Lookalikes (give a price to see cheaper ones)", res, key="photo-sim")
            else:
                res = cat.similar_to_image(image, price=price, k=RAIL_K * 2, query=PriceQuery(cheaper=True, min_saving=min_saving))
                rail("Cheaper lookalikes", res, key="photo-cheaper")
                cands, _ = cat.candidates(image=image, price=price, n=60)
                scatter(None, price, cands, res.floor, min_saving, key="photo-scatter")
        except Exception as exc:
            show_error(exc)


def browse() -> None:
    categories, lo, hi, size = _facets(cat, store.uri, profile.name)
    with st.sidebar:
        st.caption(f"Profile **{profile.name}**: {plain(ui_state.profile_reason())}")
        st.header("Filters")
        text = st.text_input("Words in the title", key="cat-text", placeholder="boot, dress, brand…")
        chosen = st.multiselect("Category", categories, key="cat-cats")
        top = math.ceil(hi) if hi > lo else math.ceil(lo) + 1
        bottom = math.floor(lo)
        price_range = st.slider("Price", float(bottom), float(top), (float(bottom), float(top)), 1.0, key="cat-price")
        # Past one Milvus query window, catalogue order (keyset pages straight from the
        # database) comes first; the other orders read every match's sort key per page.
        sorts = ["title", "price", "-price", "id"] if size <= SORT_FIRST_UP_TO else ["id", "title", "price", "-price"]
        sort = st.selectbox("Sort by", sorts, key="cat-sort", format_func=SORT_NAMES.get)
    photo_search()
    q = PriceQuery(
        categories=tuple(chosen),
        min_price=price_range[0] if price_range[0] > bottom else None,
        max_price=price_range[1] if price_range[1] < top else None,
    )
    signature = (text, tuple(chosen), price_range, sort)
    if st.session_state.get("cat-signature") != signature:
        st.session_state["cat-signature"] = signature
        st.session_state["cat-page"] = 0
    page_no = int(st.session_state.get("cat-page", 0))
    try:
        result = cat.browse(q, text=text, sort=sort, page=page_no, page_size=PAGE_SIZE)
    except Exception as exc:
        show_error(exc)
        return
    pages = max(1, math.ceil(result.total / PAGE_SIZE))
    st.caption(f"{result.total:,} item{'' if result.total == 1 else 's'} · page {page_no + 1:,} of {pages:,} · {result.span()}")
    if result.note:
        st.caption(plain(result.note))
    if not result.hits:
        st.info("No items match these filters" + (" and words." if text.strip() else "."))
    else:
        grid(result.hits, key="grid")
        c1, _, c2 = st.columns([1, 4, 1])
        if c1.button("← Previous", disabled=page_no == 0, key="prev"):
            st.session_state["cat-page"] = page_no - 1
            st.rerun()
        if c2.button("Next →", disabled=page_no + 1 >= pages, key="next"):
            st.session_state["cat-page"] = page_no + 1
            st.rerun()
    if result.looks and page_no == 0:
        looks_like(text, result.looks, found_by_words=result.total)


def looks_like(text: str, looks: list[Hit], found_by_words: int) -> None:
    """Items whose pictures match the words, split at the calibrated good-match score."""
    words = plain(text.strip()[:60])
    st.subheader(f"Looks like “{words}”")
    how = " through ImageNet labels, which know only ImageNet's 1000 concepts" if "label_bridge" in cat.words_encoder_id else ""
    if not found_by_words:
        st.info(f"No title, category or detail contains “{words}”, so the pictures were searched for it instead{how}.")
    else:
        st.caption(f"Found by the picture, not the title{how}.")
    try:
        threshold = cat.looks_threshold()
    except Exception:  # the grid is still worth showing
        threshold = None
    if threshold is None:
        st.caption("These similarities are not calibrated: a low one is a weak match.")
    show_good_and_weak(looks, threshold, lambda shown, part: grid(shown, key=f"looks-{part}", show_score=True), noun="lookalikes")


selected = st.query_params.get("item")
if selected:
    detail(selected)
else:
    browse()
