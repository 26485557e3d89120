"""Catalogue search: similar items, "similar but cheaper", composed queries, browsing.

Shared by the CLI (`mmsearch similar`, `mmsearch search image --price … --cheaper`) and
the Streamlit catalogue page; no Streamlit imports here.

Price rules, exact by construction: every constraint goes to Milvus as a typed
`milvus.Filter` (never pasted user text) *and* is checked again on each hit, so no hit
ever violates it. With `cheaper`, a hit has `price < anchor_price` and
`(anchor_price - price) / anchor_price >= min_saving`.

Similarity floor: hits scoring below it are dropped, so "no cheaper lookalike" is a
possible answer. Defaults per image encoder (cosine):

| encoder | floor | basis |
|---|---|---|
| `timm:efficientnet_lite0` | 0.70 | measured on the demo catalogue: pairs from different classes median 0.48, 90th pct 0.62; nearest neighbour median 0.84; planted lookalikes 0.94–0.99 |
| `open_clip:*` (CLIP/SigLIP) | 0.80 | CLIP image–image: unrelated photos ~0.4–0.7, near-duplicates > 0.9 (not measured here: no weights) |
| `torchvision:resnet50` | 0.75 | pooled ReLU features run high for everything (not measured here) |
| `fake:*` (tests) | 0.0 | hash vectors carry no meaning |

For composed queries the floor is scaled by the anchor's own score against the composed
vector (the anchor scores 1.0 against a plain image query, less once text is mixed in).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from app.errors import QueryError
from app.search.hits import Hit
from app.search.scope import nothing_indexed
from app.search.vectors import cached_query_vector
from encoders import get_encoder
from encoders.base import Encoder, l2_normalise
from encoders.profiles import Profile
from milvus import Collection, Filter, VectorStore

log = logging.getLogger(__name__)

KIND = "product"
QUERY_WINDOW = 16_384  # Milvus: offset + limit of one query/search
DEFAULT_FLOORS: dict[str, float] = {"timm:efficientnet_lite0": 0.70, "torchvision:resnet50": 0.75}
FAMILY_FLOORS: dict[str, float] = {"open_clip": 0.80, "torchvision": 0.75, "fake": 0.0}
FALLBACK_FLOOR = 0.5
DEFAULT_TEXT_WEIGHT = 0.5
MAX_TERMS = 8


def default_floor(encoder_id: str) -> float:
    """The default similarity floor for an image encoder (see the module docstring)."""
    if encoder_id in DEFAULT_FLOORS:
        return DEFAULT_FLOORS[encoder_id]
    return FAMILY_FLOORS.get(encoder_id.partition(":")[0], FALLBACK_FLOOR)


def fmt_score(x: float) -> str:
    """0.7 → "0.70", 0.995 → "0.995": two decimals unless that would round."""
    return f"{x:.2f}" if abs(x * 100 - round(x * 100)) < 1e-6 else f"{x:.3f}"


def saving_of(anchor_price: float | None, price: float | None) -> tuple[float | None, float | None]:
    """(absolute saving, saving as a fraction of the anchor price); negative when dearer."""
    if anchor_price is None or price is None:
        return None, None
    saving = anchor_price - price
    return saving, (saving / anchor_price if anchor_price > 0 else None)


def _check_price(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise QueryError(f"{name} must be a number") from None
    if not math.isfinite(value) or value < 0:
        raise QueryError(f"{name} must be a non-negative number")
    return value


@dataclass(frozen=True)
class PriceQuery:
    """What the caller asks of prices and categories (all optional)."""

    cheaper: bool = False
    min_saving: float = 0.0  # a fraction: 0.2 = at least 20 % less than the anchor
    max_price: float | None = None
    min_price: float | None = None
    categories: tuple[str, ...] = ()
    currency: str | None = None

    def validated(self) -> "PriceQuery":
        if not (isinstance(self.min_saving, (int, float)) and 0.0 <= self.min_saving < 1.0):
            raise QueryError("the minimum saving is a fraction from 0 to below 1 (0.2 = 20 % cheaper)")
        max_p = _check_price(self.max_price, "the maximum price")
        min_p = _check_price(self.min_price, "the minimum price")
        if max_p is not None and min_p is not None and min_p > max_p:
            raise QueryError("the minimum price is above the maximum price")
        cats = tuple(dict.fromkeys(str(c) for c in self.categories if c is not None and str(c).strip()))
        return replace(self, cheaper=self.cheaper or self.min_saving > 0, max_price=max_p, min_price=min_p, categories=cats)

    def price_limit(self, anchor_price: float | None) -> float | None:
        """Hits must cost strictly less than this (None: no cheaper constraint)."""
        if not self.cheaper:
            return None
        if anchor_price is None:
            raise QueryError("'cheaper' needs the anchor's price (give --price for a photo)")
        return anchor_price * (1.0 - self.min_saving)

    def to_filter(self, anchor_price: float | None = None) -> Filter:
        """The Milvus filter, from typed values only."""
        f = Filter()
        limit = self.price_limit(anchor_price)
        if limit is not None:
            f = f & Filter.lt("price", limit)
        f = f & Filter.between("price", self.min_price, self.max_price)
        if self.categories:
            f = f & (Filter.eq("category", self.categories[0]) if len(self.categories) == 1 else Filter.is_in("category", list(self.categories)))
        if self.currency:
            f = f & Filter.eq("currency", self.currency)
        return f

    def admits(self, hit: Hit, anchor_price: float | None) -> bool:
        """The same constraints checked in Python (a second, independent guard)."""
        price = hit.price
        if self.cheaper:
            if price is None or anchor_price is None or not price < anchor_price:
                return False
            limit = self.price_limit(anchor_price)
            if not price < limit:  # type: ignore[operator]
                return False
            _, pct = saving_of(anchor_price, price)
            if pct is None or pct < self.min_saving:
                return False
        if self.max_price is not None and (price is None or price > self.max_price):
            return False
        if self.min_price is not None and (price is None or price < self.min_price):
            return False
        if self.categories and hit.category not in self.categories:
            return False
        if self.currency and hit.currency != self.currency:
            return False
        return True


@dataclass
class SimilarResult:
    """Hits for a similar/cheaper query, and what is needed to explain an empty answer."""

    hits: list[Hit]
    anchor: Hit | None  # the catalogue item, or None for a photo
    anchor_price: float | None
    floor: float
    encoder_id: str
    query: PriceQuery
    below_floor: int = 0  # candidates that met the price rules but did not look alike enough
    best_below: float | None = None  # the best score among them
    composed: bool = False
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        """One sentence for an empty answer ("" when there are hits)."""
        if self.hits:
            return ""
        what = "cheaper lookalike" if self.query.cheaper else "lookalike"
        if self.query.cheaper and self.query.min_saving:
            what = f"lookalike at least {self.query.min_saving:.0%} cheaper"
        msg = f"no {what} above similarity {fmt_score(self.floor)}"
        if self.best_below is not None:
            msg += f" (the closest candidate scores {self.best_below:.2f})"
        return msg


@dataclass
class BrowsePage:
    hits: list[Hit]  # this page of the items that match the filters (and every word)
    total: int  # how many items match, over all pages
    looks: list[Hit] = field(default_factory=list)  # with words: items that *look* like them (text→image)
    note: str = ""
    start: int = 0  # the position of the first hit among all `total`

    def span(self) -> str:
        """e.g. "items 16,401–16,424 of 100,000" ("no items" when none match)."""
        if not self.hits:
            return "no items" if not self.total else f"past the last of {self.total:,} items"
        return f"items {self.start + 1:,}–{self.start + len(self.hits):,} of {self.total:,}"


class Catalogue:
    """Catalogue queries over the `product` collections of one profile.

    `kind="image"` runs the same similar/composed queries over indexed photos (no prices)."""

    def __init__(self, store: VectorStore, profile: Profile, device: str = "auto", kind: str = KIND) -> None:
        self.store = store
        self.profile = profile
        self.device = device
        self.kind = kind

    # -- collections and items ------------------------------------------------------
    @property
    def image_encoder_id(self) -> str:
        """The model answering photo queries over these items (the catalogue's own, if chosen)."""
        return self.profile.image_model(self.kind)

    @property
    def words_encoder_id(self) -> str:
        """The model answering word queries over these items."""
        return self.profile.words_model(self.kind)

    def encoder(self, encoder_id: str) -> Encoder:
        return get_encoder(encoder_id, self.device)

    def collection(self, encoder_id: str | None = None) -> Collection:
        enc_id = encoder_id or self.image_encoder_id
        coll = self.store.find(self.kind, enc_id)
        if coll is None or coll.count() == 0:
            raise nothing_indexed(self.kind, enc_id, self.profile.name)
        return coll

    def has_items(self) -> bool:
        coll = self.store.find(self.kind, self.image_encoder_id)
        return coll is not None and coll.count() > 0

    def _row(self, item_id: str, encoder_id: str | None = None, with_vector: bool = False) -> dict[str, Any]:
        coll = self.collection(encoder_id)
        rows = coll.query(Filter.eq("id", str(item_id)), limit=1, with_vectors=with_vector)
        if not rows:
            raise QueryError(f"no catalogue item with id {str(item_id)[:80]!r}")
        return rows[0]

    def item(self, item_id: str) -> Hit:
        """A catalogue item by its own id."""
        coll = self.collection()
        return Hit.from_row(self._row(item_id), coll.name)

    # -- similar / cheaper ------------------------------------------------------------
    def similar(
        self,
        item_id: str,
        k: int = 10,
        query: PriceQuery | None = None,
        same_category: bool = False,
        min_similarity: float | None = None,
        plus: Sequence[str] = (),
        minus: Sequence[str] = (),
        text_weight: float = DEFAULT_TEXT_WEIGHT,
    ) -> SimilarResult:
        """Items that look like catalogue item `item_id` (itself excluded), optionally cheaper."""
        q = (query or PriceQuery()).validated()
        if _terms(plus) or _terms(minus):
            self.require_shared_space()
        enc_id = self.image_encoder_id
        row = self._row(item_id, enc_id, with_vector=True)
        anchor = Hit.from_row(row, self.collection(enc_id).name)
        if q.cheaper and anchor.price is None:
            raise QueryError(f"item {anchor.id!r} has no price to be cheaper than")
        if same_category:
            q = replace(q, categories=(anchor.category,) if anchor.category else q.categories)
        if q.cheaper and anchor.currency and not q.currency:
            q = replace(q, currency=anchor.currency)  # prices compare only within one currency
        vec = np.asarray(row["vector"], dtype=np.float32)
        return self._similar(vec, anchor, anchor.price, k, q, min_similarity, plus, minus, text_weight)

    def similar_to_image(
        self,
        image: Any,
        price: float | None = None,
        k: int = 10,
        query: PriceQuery | None = None,
        min_similarity: float | None = None,
        plus: Sequence[str] = (),
        minus: Sequence[str] = (),
        text_weight: float = DEFAULT_TEXT_WEIGHT,
    ) -> SimilarResult:
        """Items that look like a photo (PIL image); with a price, savings and 'cheaper' work."""
        q = (query or PriceQuery()).validated()
        if _terms(plus) or _terms(minus):
            self.require_shared_space()
        price = _check_price(price, "the price")
        vec = self.encoder(self.image_encoder_id).embed_queries([image])[0]
        return self._similar(vec, None, price, k, q, min_similarity, plus, minus, text_weight)

    def _similar(
        self,
        vec: np.ndarray,
        anchor: Hit | None,
        anchor_price: float | None,
        k: int,
        q: PriceQuery,
        min_similarity: float | None,
        plus: Sequence[str],
        minus: Sequence[str],
        text_weight: float,
    ) -> SimilarResult:
        if not 1 <= int(k) <= 1000:
            raise QueryError("k must be between 1 and 1000")
        enc_id = self.image_encoder_id
        coll = self.collection(enc_id)
        floor = default_floor(enc_id) if min_similarity is None else float(min_similarity)
        if not -1.0 <= floor <= 1.0:
            raise QueryError("the similarity floor is a cosine between -1 and 1")
        composed = bool(_terms(plus) or _terms(minus))
        if composed:
            qvec = self.compose(vec, plus, minus, text_weight)
            floor *= float(np.dot(qvec, l2_normalise(vec[None, :])[0]))  # the anchor's own score
            vec = qvec
        flt = q.to_filter(anchor_price)
        if anchor is not None:
            flt = flt & Filter.ne("id", anchor.id)
        rows = _search(coll, vec, min(QUERY_WINDOW, 2 * k + 10), flt)
        result = SimilarResult([], anchor, anchor_price, floor, enc_id, q, composed=composed)
        for row in rows:
            hit = Hit.from_row(row, coll.name)
            if anchor is not None and hit.id == anchor.id:
                continue
            if not q.admits(hit, anchor_price):
                log.warning("dropped %s: the store returned a row outside the filter", hit.id)
                continue
            anchor_currency = anchor.currency if anchor is not None else q.currency
            if not (anchor_currency and hit.currency and hit.currency != anchor_currency):  # no saving across currencies
                hit.saving, hit.saving_pct = saving_of(anchor_price, hit.price)
            if hit.score < floor:
                result.below_floor += 1
                result.best_below = hit.score if result.best_below is None else max(result.best_below, hit.score)
                continue
            if len(result.hits) < k:
                result.hits.append(hit)
        return result

    def candidates(
        self,
        item_id: str | None = None,
        image: Any = None,
        price: float | None = None,
        n: int = 200,
        query: PriceQuery | None = None,
    ) -> tuple[list[Hit], float]:
        """The `n` nearest items with no price rule (for a similarity-vs-price view) and the floor."""
        q = replace((query or PriceQuery()).validated(), cheaper=False, min_saving=0.0)
        if item_id is not None:
            res = self.similar(item_id, k=n, query=q, min_similarity=-1.0)
        elif image is not None:
            res = self.similar_to_image(image, price=price, k=n, query=q, min_similarity=-1.0)
        else:
            raise QueryError("candidates need an item or a photo")
        return res.hits, default_floor(self.image_encoder_id)

    # -- composed queries -------------------------------------------------------------
    def compose(self, image_vec: np.ndarray, plus: Sequence[str] = (), minus: Sequence[str] = (), text_weight: float = DEFAULT_TEXT_WEIGHT) -> np.ndarray:
        """normalise(normalise(image) + w·Σ text(plus) − w·Σ text(minus)) in a shared text–image space."""
        self.require_shared_space()
        return compose_vectors(self.encoder(self.image_encoder_id), image_vec, _terms(plus), _terms(minus), text_weight)

    @property
    def can_compose(self) -> bool:
        """True when images and texts share one vector space (CLIP/SigLIP), so composed queries work."""
        enc_id = self.image_encoder_id
        return self.profile.shared_space(self.kind) and "text" in self.encoder(enc_id).spec.query_kinds

    def require_shared_space(self) -> None:
        """Raise a plain sentence when the profile cannot compose image and text."""
        enc_id = self.image_encoder_id
        if not self.can_compose:
            raise QueryError(
                f"'like this, but …' needs a CLIP/SigLIP encoder (a shared text–image space); profile "
                f"{self.profile.name} uses {enc_id}, whose images and texts are not comparable. "
                "Use the full profile (CLIP weights: `mmsearch models pull open_clip:ViT-B-32/laion2b_s34b_b79k`)."
            )

    # -- browsing -----------------------------------------------------------------------
    # Everything here asks the database, at any catalogue size: counts are Milvus `count(*)`,
    # categories and the price range are found by a few small queries (Collection.distinct,
    # Collection.lowest), and pages in id order are keyset pages (`id > cursor`), which reach
    # past Milvus's 16,384-row offset + limit window. Sorting by title or price reads the
    # matching rows' (id, key) pairs — two fields, not whole rows — and fetches one page.
    def categories(self) -> list[str]:
        """The distinct categories, sorted (Collection.distinct: one query per category)."""
        return self.collection().distinct("category")

    def price_range(self) -> tuple[float, float]:
        """The lowest and highest price (0, 0 with no prices), found by the database."""
        coll = self.collection()
        lo = coll.lowest("price")
        hi = coll.lowest("price", highest=True)
        return (lo, hi) if lo is not None and hi is not None else (0.0, 0.0)

    def count(self, query: PriceQuery | None = None) -> int:
        """How many items match the filters (Milvus's count(*))."""
        q = replace((query or PriceQuery()).validated(), cheaper=False, min_saving=0.0)
        return self.collection().count(q.to_filter() or None)

    def browse(
        self,
        query: PriceQuery | None = None,
        text: str = "",
        sort: str = "title",
        page: int = 0,
        page_size: int = 24,
        looks_k: int = 10,
    ) -> BrowsePage:
        """A page of items matching the filters; with `text`, only items whose id, title,
        category or extra fields contain every word. `looks` then holds up to `looks_k` other
        items that *look* like the words (text→image search, same filters).

        `sort="id"` pages straight from the database (keyset paging, any size); "title",
        "price" and "-price" read the matching items' sort keys, then fetch one page."""
        if sort not in SORTS:
            raise QueryError(f"unknown sort {sort!r}; choose {', '.join(SORTS)}")
        if page_size < 1:
            raise QueryError("the page size must be at least 1")
        q = replace((query or PriceQuery()).validated(), cheaper=False, min_saving=0.0)
        coll = self.collection()
        flt = q.to_filter()
        words = [w for w in (text or "").lower().split() if w][:MAX_TERMS]
        start = max(0, int(page)) * page_size
        page_out = BrowsePage([], 0, start=start)
        if not words and sort == "id":
            page_out.total = coll.count(flt or None)
            if start < page_out.total:
                cursor = coll.id_before(start, flt or None)
                page_out.hits = [Hit.from_row(r, coll.name) for r in coll.page_after(flt or None, cursor, page_size)]
            return page_out
        keys = _sort_keys(coll, flt, sort, words)
        page_out.total = len(keys)
        ids = [key[-1] for key in sorted(keys)[start : start + page_size]]
        rows = {r["id"]: r for r in coll.get(ids)} if ids else {}
        page_out.hits = [Hit.from_row(rows[i], coll.name) for i in ids if i in rows]
        if words and looks_k > 0:
            try:
                seen = {key[-1] for key in keys}
                looks = self._text_search(" ".join(words), flt, len(seen) + looks_k)
                page_out.looks = [h for h in looks if h.id not in seen][:looks_k]
            except QueryError as exc:
                page_out.note = str(exc)
        return page_out

    def looks_threshold(self) -> float | None:
        """The good-match score of words over the catalogue's pictures (what meaningless words
        reach), measured once on first use when the import recorded none; None if unknown."""
        from indexers.calibration import calibrate_from_distribution, threshold_for

        enc_id = self.words_encoder_id
        found = threshold_for(enc_id, self.kind, "text", self.store.uri)
        if found is not None:
            return found
        coll = self.store.find(self.kind, enc_id)
        if coll is None or coll.count() < 5:
            return None
        try:
            return calibrate_from_distribution(coll, self.encoder(enc_id)).get("text")
        except Exception as exc:  # no cut-off is better than no page
            log.warning("could not calibrate %s: %s", coll.name, exc)
            return None

    def _text_search(self, text: str, flt: Filter, k: int) -> list[Hit]:
        enc_id = self.words_encoder_id
        coll = self.store.find(self.kind, enc_id)
        if coll is None or coll.count() == 0:
            raise QueryError(f"no {enc_id} catalogue vectors for text search; re-import the catalogue with this profile")
        vec = cached_query_vector(self.encoder(enc_id), text)
        return [Hit.from_row(r, coll.name) for r in _search(coll, vec, max(1, min(k, QUERY_WINDOW)), flt)]


def compose_vectors(encoder: Encoder, image_vec: np.ndarray, plus: Sequence[str], minus: Sequence[str], text_weight: float) -> np.ndarray:
    """The composed query vector (unit norm); texts are embedded by `encoder` as queries."""
    if not math.isfinite(text_weight) or not 0.0 <= text_weight <= 5.0:
        raise QueryError("the text weight must be between 0 and 5")
    q = l2_normalise(np.asarray(image_vec, dtype=np.float32)[None, :])[0].astype(np.float64)
    for terms, sign in ((plus, 1.0), (minus, -1.0)):
        for t in terms:
            q = q + sign * text_weight * cached_query_vector(encoder, t).astype(np.float64)
    if np.linalg.norm(q) < 1e-6:
        raise QueryError("the texts cancel the image out; lower the text weight")
    return l2_normalise(q[None, :].astype(np.float32))[0]


def _terms(texts: Sequence[str] | str | None) -> list[str]:
    if not texts:
        return []
    if isinstance(texts, str):
        texts = [texts]
    out = [" ".join(str(t).split())[:200] for t in texts]
    out = [t for t in out if t]
    if len(out) > MAX_TERMS:
        raise QueryError(f"at most {MAX_TERMS} --plus/--minus terms")
    return out


def _search(coll: Collection, vec: np.ndarray, k: int, flt: Filter) -> list[dict[str, Any]]:
    return coll.search(np.asarray(vec, dtype=np.float32)[None, :], k=k, filter=flt or None)[0]


def _haystack(hit: Hit) -> str:
    extra = hit.meta.get("extra") if isinstance(hit.meta, dict) else None
    parts = [hit.id, hit.title or "", hit.category or ""]
    if isinstance(extra, dict):
        parts += [str(v) for v in extra.values()]
    return " ".join(parts).lower()


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key that orders the numbers in a text by value: "Dress #23" before "Dress #208"."""
    import re

    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text.casefold()) if part)


SORTS = ("title", "price", "-price", "id")
_SCAN_FIELDS = {"title": ("id", "title"), "price": ("id", "price"), "-price": ("id", "price"), "id": ("id",)}


def _sort_keys(coll: Collection, flt: Filter, sort: str, words: list[str]) -> list[tuple[Any, ...]]:
    """(sort key…, id) of every item matching the filter (and every word), read from the
    database two or three fields at a time — never whole rows."""
    inf = float("inf")
    fields = _SCAN_FIELDS[sort] + (("title", "category", "meta") if words else ())
    out: list[tuple[Any, ...]] = []
    for row in coll.scan(flt or None, fields=tuple(dict.fromkeys(fields)), batch_size=4096):
        if words:
            hay = _haystack(Hit.from_row(row, coll.name))
            if not all(w in hay for w in words):
                continue
        rid, price = row["id"], row.get("price")
        if sort == "title":
            out.append((natural_key(row.get("title") or rid), rid))
        elif sort == "price":
            out.append((price if price is not None else inf, rid))
        elif sort == "-price":
            out.append((-(price if price is not None else -inf), rid))
        else:
            out.append((rid,))
    return out
