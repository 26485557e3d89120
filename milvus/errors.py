"""Store errors whose messages are meant for users."""


class StoreError(RuntimeError):
    """A vector-store problem, stated in one sentence."""


class StoreLockedError(StoreError):
    """A Milvus Lite file is open in another process."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the database {path} is in use by another process; "
            "start `mmsearch db serve` or use a server URI (--db http://host:19530)"
        )


class CollectionMismatchError(StoreError):
    """A collection was opened with an encoder other than the one that filled it."""
