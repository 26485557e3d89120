"""Milvus filter expressions built from typed values, never from raw user text.

Every literal is rendered by `_literal`: strings are quoted with backslashes and
quotes escaped, numbers must be finite. Field names come from a fixed allow-list.
Ranges are written as two comparisons because Milvus Lite rejects chained ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

FILTERABLE_FIELDS = frozenset({"id", "source", "kind", "title", "price", "currency", "category", "start_s", "end_s"})


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


@dataclass(frozen=True)
class Filter:
    """An AND of typed conditions. Build with the class methods and `&`."""

    clauses: tuple[str, ...] = field(default_factory=tuple)
    numeric_fields: frozenset[str] = frozenset()  # fields compared as numbers (see Collection)

    @classmethod
    def eq(cls, name: str, value: object) -> "Filter":
        return cls((f"{_field(name)} == {_literal(value)}",))

    @classmethod
    def ne(cls, name: str, value: object) -> "Filter":
        return cls((f"{_field(name)} != {_literal(value)}",))

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
    def is_in(cls, name: str, values: list[object]) -> "Filter":
        if not values:
            raise ValueError("is_in needs at least one value")
        return cls((f"{_field(name)} in [{', '.join(_literal(v) for v in values)}]",))

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
