"""Milvus filter expressions built from typed values, never from raw user text.

Every literal is rendered by `_literal`: strings are quoted with backslashes and
quotes escaped, numbers must be finite. Field names come from a fixed allow-list.
Ranges are written as two comparisons because Milvus Lite rejects chained ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

FILTERABLE_FIELDS = frozenset({"id", "source", "kind", "title", "price", "currency", "category", "start_s", "end_s"})
# Number columns are DOUBLE/FLOAT: Milvus Lite 2.5 fails on an int literal among floats
# (`price in [0, 10.0]`), so values for these are always written as floats.
NUMBER_FIELDS = frozenset({"price", "start_s", "end_s"})
# Keys of the JSON `meta` column that filters may name: `media` ("audio" / "video") marks
# transcript segments by where they were spoken.
META_KEYS = frozenset({"media"})


def _field(name: str) -> str:
    if name not in FILTERABLE_FIELDS:
        raise ValueError(f"cannot filter on {name!r}")
    return name


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if not math.isfinite(float(value)):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(float(value)) if isinstance(value, float) else str(int(value))
    if isinstance(value, str):
        # Only the escapes both Milvus Lite and a server parse: \\ \" \n \r \t. Other control
        # characters go in raw (both accept them; Lite rejects json's \uXXXX escapes).
        return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'
    raise TypeError(f"unsupported filter value type: {type(value).__name__}")


def _typed(name: str, value: object) -> str:
    if name in NUMBER_FIELDS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _literal(float(value))
    return _literal(value)


def to_stand_ins(expr: str) -> str:
    """Rewrite a rendered expression for backends that store `STAND_INS` in place of some
    characters (Lite 2.x): the \\n \\r \\t escapes and raw single quotes inside literals become
    their stand-ins. Every backslash and single quote in an expression comes from `_literal`
    (field names are allow-listed), so a left-to-right scan is exact."""
    escapes = {"n": "\n", "r": "\r", "t": "\t"}
    out, i = [], 0
    while i < len(expr):
        ch = expr[i]
        if ch == "\\" and i + 1 < len(expr):
            nxt = expr[i + 1]
            out.append(STAND_INS[escapes[nxt]] if nxt in escapes else ch + nxt)
            i += 2
            continue
        out.append(STAND_INS.get(ch, ch) if ch == "'" else ch)
        i += 1
    return "".join(out)


# Characters Milvus Lite 2.x mishandles, and the private-use characters stored in their place:
# its filter parser cannot match control characters, and its upsert splices primary keys into
# SQL unquoted, so an id with a single quote fails (or worse).
STAND_INS = {"\n": "\ue00a", "\r": "\ue00d", "\t": "\ue009", "'": "\ue027"}


@dataclass(frozen=True)
class Filter:
    """An AND of typed conditions. Build with the class methods and `&`."""

    clauses: tuple[str, ...] = field(default_factory=tuple)
    numeric_fields: frozenset[str] = frozenset()  # fields compared as numbers (see Collection)

    @classmethod
    def eq(cls, name: str, value: object) -> "Filter":
        return cls((f"{_field(name)} == {_typed(name, value)}",))

    @classmethod
    def ne(cls, name: str, value: object) -> "Filter":
        return cls((f"{_field(name)} != {_typed(name, value)}",))

    @classmethod
    def lt(cls, name: str, value: float) -> "Filter":
        return cls((f"{_field(name)} < {_literal(float(value))}",), frozenset({name}))

    @classmethod
    def le(cls, name: str, value: float) -> "Filter":
        return cls((f"{_field(name)} <= {_literal(float(value))}",), frozenset({name}))

    @classmethod
    def ge(cls, name: str, value: float) -> "Filter":
        return cls((f"{_field(name)} >= {_literal(float(value))}",), frozenset({name}))

    @classmethod
    def between(cls, name: str, low: float | None, high: float | None) -> "Filter":
        f = cls()
        if low is not None:
            f = f & cls.ge(name, low)
        if high is not None:
            f = f & cls.le(name, high)
        return f

    @classmethod
    def gt(cls, name: str, value: object) -> "Filter":
        """`name > value`: numbers compare as numbers, strings by their UTF-8 bytes (keyset paging by id)."""
        if name in NUMBER_FIELDS:
            return cls((f"{_field(name)} > {_literal(float(value))}",), frozenset({name}))  # type: ignore[arg-type]
        return cls((f"{_field(name)} > {_literal(value)}",))

    @classmethod
    def not_in(cls, name: str, values: list[object]) -> "Filter":
        if not values:
            raise ValueError("not_in needs at least one value")
        return cls((f"{_field(name)} not in [{', '.join(_typed(name, v) for v in values)}]",))

    @classmethod
    def is_in(cls, name: str, values: list[object]) -> "Filter":
        if not values:
            raise ValueError("is_in needs at least one value")
        return cls((f"{_field(name)} in [{', '.join(_typed(name, v) for v in values)}]",))

    @classmethod
    def meta_eq(cls, key: str, value: object) -> "Filter":
        """`meta[key] == value` on the JSON `meta` column (keys from an allow-list)."""
        if key not in META_KEYS:
            raise ValueError(f"cannot filter on meta key {key!r}")
        return cls((f'meta["{key}"] == {_literal(value)}',))

    @classmethod
    def not_null(cls, name: str) -> "Filter":
        return cls((f"{_field(name)} is not null",))

    def __and__(self, other: "Filter") -> "Filter":
        return Filter(self.clauses + other.clauses, self.numeric_fields | other.numeric_fields)

    def __bool__(self) -> bool:
        return bool(self.clauses)

    def expr(self) -> str:
        """The Milvus expression ('' for no filter)."""
        return " and ".join(f"({c})" for c in self.clauses)
