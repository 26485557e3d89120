"""The vector store: the only package that imports pymilvus (through
`milvus.client.import_pymilvus`) and the one that turns its errors into `StoreError`
(`milvus.errors.translate`).

Milvus Lite (a local `.db`) is the default; a server is one URI away
(`--db http://host:19530` or `MILVUS_URI`).
"""

from milvus.errors import CollectionMismatchError, StoreError, StoreLockedError
from milvus.filters import Filter
from milvus.store import Collection, VectorStore, default_uri

__all__ = [
    "Collection",
    "CollectionMismatchError",
    "Filter",
    "StoreError",
    "StoreLockedError",
    "VectorStore",
    "default_uri",
]
