"""Indexers: read files, split them into items, embed them and upsert them into Milvus."""
