"""The record of which model each kind of library uses, kept in the database (`milvus.records`,
key `models`): per profile field (`image_to_image`, `text_to_image`, `catalogue`,
`catalogue_text`, `video`, `audio`, `documents`),
the encoder chosen with `mmsearch models use KIND ID`, and the choice being filled (`pending`).
Every process that opens the database reads the same record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from encoders.profiles import CHOICE_FIELDS
from milvus import VectorStore
from milvus.records import read_record, write_record

RECORD_KEY = "models"


@dataclass
class ModelChoices:
    """The recorded choices: profile field → encoder id, active and being filled."""

    active: dict[str, str] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)
    pending_kind: str = ""  # the kind the pending choice is for ("photos", …)
    updated: float = 0.0

    @staticmethod
    def from_json(value: dict[str, Any] | None) -> ModelChoices:
        """The record as stored; unknown fields and empty ids are left out."""
        value = value or {}
        return ModelChoices(
            _fields(value.get("active")), _fields(value.get("pending")), str(value.get("pending_kind") or ""), float(value.get("updated") or 0.0)
        )

    def to_json(self) -> dict[str, Any]:
        """The record to store."""
        return {"active": self.active, "pending": self.pending, "pending_kind": self.pending_kind, "updated": self.updated}


def _fields(found: Any) -> dict[str, str]:
    return {k: str(v) for k, v in (found or {}).items() if k in CHOICE_FIELDS and v} if isinstance(found, dict) else {}


def read_choices(store: VectorStore) -> ModelChoices:
    """The choices recorded in the database (none recorded: empty)."""
    return ModelChoices.from_json(read_record(store, RECORD_KEY))


def write_choices(store: VectorStore, choices: ModelChoices) -> None:
    """Record the choices (one write: other processes see the old or the new ones whole)."""
    choices.updated = time.time()
    write_record(store, RECORD_KEY, choices.to_json())
