"""Small named records kept in the database itself, and collection aliases where the backend has them.

A record is a JSON object under a key (e.g. `"models"`: which encoder each kind of library uses).
They live in one tiny collection, `mmsearch_records`, beside the content collections, so every
process that opens the database — the CLI, `mmsearch serve`, its API, another machine on a
server — reads the same ones. (Milvus wants a vector field in every collection: a 2-d dummy.)
`VectorStore.list_collections` skips it, as it carries no mmsearch description.

Aliases point a stable name at a collection (`alter_alias` switches it in one step). Servers
have them; Milvus Lite 2.5 has not, and `point_alias` then says so by returning False.
"""

from __future__ import annotations

import json
import logging
import weakref
from typing import Any

from milvus.client import import_pymilvus
from milvus.errors import StoreError, translate
from milvus.filters import Filter
from milvus.store import VectorStore

log = logging.getLogger(__name__)

RECORDS = "mmsearch_records"
_VALUE_BYTES = 60_000
_DUMMY = [1.0, 0.0]
_ready: weakref.WeakSet[VectorStore] = weakref.WeakSet()  # stores whose records collection is loaded


def _ensure(store: VectorStore) -> None:
    """Create the records collection once (it is tiny and always loaded)."""
    if store in _ready:
        return
    client = store.client
    if client.has_collection(RECORDS):
        state = str(client.get_load_state(RECORDS).get("state", ""))
        if "Loaded" not in state:
            client.load_collection(RECORDS)
        _ready.add(store)
        return
    DataType = import_pymilvus().DataType
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False, description="mmsearch records (settings kept in the database)")
    schema.add_field("id", DataType.VARCHAR, max_length=64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=len(_DUMMY))
    schema.add_field("value", DataType.VARCHAR, max_length=_VALUE_BYTES)
    index = client.prepare_index_params()
    index.add_index("vector", metric_type="IP", index_type="FLAT", params={})
    try:
        client.create_collection(RECORDS, schema=schema, index_params=index)
    except Exception:
        if not client.has_collection(RECORDS):  # else another process made it at the same moment
            raise
    client.load_collection(RECORDS)
    _ready.add(store)


def read_record(store: VectorStore, key: str) -> dict[str, Any] | None:
    """The record under `key`, or None when there is none (never creates anything)."""
    with translate(f"reading the record {key}"):
        if store not in _ready and not store.client.has_collection(RECORDS):
            return None
        _ensure(store)
        strong = {} if store.is_lite else {"consistency_level": "Strong"}
        rows = store.client.query(RECORDS, filter=Filter.eq("id", key).expr(), output_fields=["value"], **strong)
    if not rows:
        return None
    try:
        value = json.loads(rows[0]["value"])
    except (TypeError, ValueError) as exc:
        raise StoreError(f"the record {key} in {store.uri} is unreadable ({exc})") from exc
    return value if isinstance(value, dict) else None


def write_record(store: VectorStore, key: str, value: dict[str, Any]) -> None:
    """Replace the record under `key` (one upsert: readers see the old or the new one whole)."""
    text = json.dumps(value, sort_keys=True)
    if len(text.encode()) > _VALUE_BYTES:
        raise StoreError(f"the record {key} is too large ({len(text)} characters)")
    with translate(f"writing the record {key}"):
        _ensure(store)
        store.client.upsert(RECORDS, [{"id": key, "vector": _DUMMY, "value": text}])
        if store.is_lite:  # Lite serves reads of unflushed rows from a memtable it scans: seal the one row
            store.client.flush(RECORDS)


def point_alias(store: VectorStore, alias: str, collection: str) -> bool:
    """Point `alias` at `collection` (create it or switch it in one step). False where the
    backend has no aliases (Milvus Lite); a server's refusal raises StoreError."""
    if store.is_lite:
        return False
    with translate(f"pointing the alias {alias} at {collection}"):
        try:
            current = store.client.describe_alias(alias)
        except Exception:
            current = None
        if current:
            store.client.alter_alias(collection, alias)
        else:
            store.client.create_alias(collection, alias)
    log.info("alias %s → %s", alias, collection)
    return True


def alias_target(store: VectorStore, alias: str) -> str | None:
    """The collection an alias points at (None: no such alias, or no aliases here)."""
    if store.is_lite:
        return None
    try:
        found = store.client.describe_alias(alias)
    except Exception:
        return None
    return (found or {}).get("collection_name")


def drop_aliases_of(store: VectorStore, collection: str) -> None:
    """Drop every alias of `collection` (a server refuses to drop a collection that has some)."""
    if store.is_lite:
        return
    with translate(f"listing the aliases of {collection}"):
        try:
            aliases = store.client.list_aliases(collection).get("aliases", [])
        except Exception:
            return
        for alias in aliases:
            store.client.drop_alias(alias)
