"""What every search returns: `Hit`, its JSON form, and how hits are shown (spans, times, tags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON_FIELDS = ("id", "score", "source", "kind", "title", "price", "start_s", "end_s", "text", "saving", "saving_pct")


@dataclass
class Hit:
    """One search result; `to_json()` is the CLI's and the API's `--json` contract."""

    id: str
    score: float
    source: str | None = None
    kind: str | None = None
    title: str | None = None
    price: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    text: str | None = None
    currency: str | None = None
    category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    collection: str = ""
    saving: float | None = None  # catalogue: anchor price − price (negative: costs more)
    saving_pct: float | None = None  # catalogue: saving / anchor price, a fraction (0.25 = 25 %)
    relevance: float | None = None  # documents: cosine similarity of the passage to the question (not in JSON_FIELDS; `ask --json` cites it)

    @classmethod
    def from_row(cls, row: dict[str, Any], collection: str) -> "Hit":
        return cls(
            id=row["id"],
            score=float(row.get("score", 0.0)),
            source=row.get("source"),
            kind=row.get("kind"),
            title=row.get("title"),
            price=row.get("price"),
            start_s=row.get("start_s"),
            end_s=row.get("end_s"),
            text=row.get("text"),
            currency=row.get("currency"),
            category=row.get("category"),
            meta=row.get("meta") or {},
            collection=collection,
            relevance=row.get("relevance"),
        )

    def to_json(self) -> dict[str, Any]:
        """The CLI's `--json` contract: these keys, absent values null."""
        out = {k: getattr(self, k) for k in JSON_FIELDS}
        out["score"] = round(self.score, 6)
        if self.saving is not None:
            out["saving"] = round(self.saving, 4)
        if self.saving_pct is not None:
            out["saving_pct"] = round(self.saving_pct, 6)
        return out

    @property
    def thumb(self) -> str | None:
        return self.meta.get("thumb")


def split_by_threshold(hits: list[Hit], threshold: float | None) -> tuple[list[Hit], list[Hit]]:
    """(good matches, weaker ones) for a calibrated threshold; all good when there is none."""
    if threshold is None:
        return hits, []
    return [h for h in hits if h.score >= threshold], [h for h in hits if h.score < threshold]


def fmt_ts(seconds: float) -> str:
    """12.3 → "0:12", 3725 → "1:02:05"."""
    s = int(max(0.0, seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def hit_tags(hit: Hit) -> list[tuple[str, float]]:
    """The stored tags of a hit's window (PANNs), as (label, score)."""
    return [(str(t[0]), float(t[1])) for t in hit.meta.get("tags") or [] if len(t) == 2]


def fmt_span(hit: Hit) -> str:
    """A hit's time span: \"12.0–22.0 s\", or \"\" for hits without one."""
    if hit.start_s is None:
        return ""
    end = f"–{hit.end_s:.1f}" if hit.end_s is not None else ""
    return f"{hit.start_s:.1f}{end} s"


def score_label(relevance: float | None, score: float) -> str:
    """What a reader is shown for a citation: the passage's similarity to the question where it is
    known ("similarity score 0.62"), else the ranking's score ("score 7.410": BM25 in `--mode bm25`)."""
    return f"similarity score {relevance:.2f}" if relevance is not None else f"score {score:.3f}"
