"""The text analyzer Milvus's BM25 function uses for `text`, kept as close as Milvus allows to the
client's (`app.search.bm25.analyze`), which imports the stop words from here so both drop the same.

Milvus (≥ 2.5): the `standard` tokenizer (Unicode word boundaries), `lowercase`, a `stop` filter
with `BM25_STOP_WORDS`, and the English Snowball `stemmer` (Porter2, as the client's
`snowballstemmer`). Differences that remain, because Milvus 2.5's analyzers cannot express them:
- CJK: the client indexes overlapping character bigrams of Hangul, Han and kana runs ("특허는" →
  "특허", "허는"), so a word matches with or without its particle; Milvus's standard tokenizer keeps a
  Hangul word whole ("특허는" does not match "특허") and splits Han characters one by one. Milvus's
  dictionary tokenizers (`jieba`, `lindera` with ko-dic) need a specially built server, and none
  makes bigrams. `bm25="client"` (`--bm25 client`) gives CJK documents the client's analysis.
- Single-character tokens: the client drops them (except CJK), Milvus keeps them.
- Numbers with dots ("2.0"): one token in Milvus, two (dropped) digits in the client.
- Milvus Lite 3.2 (a Python engine) applies the stop words but ignores the stemmer: "patents" does
  not find "Patent" there. On Lite the client ranks BM25 by default anyway (`app.search.docs`).
"""

from __future__ import annotations

from typing import Any

# Function words of English questions and documents; dropped before stemming, on both paths.
BM25_STOP_WORDS: tuple[str, ...] = tuple(
    "a about an and any are as at be been but by can could did do does explain for from had has have how i if in into is "
    "it its may me mean might must my no not of on or our say shall should so such tell than that the their them then "
    "there these they this those to was we were what when where which while who whom why will with would you your".split()
)

BM25_ANALYZER: dict[str, Any] = {
    "tokenizer": "standard",
    "filter": [
        "lowercase",
        {"type": "stop", "stop_words": list(BM25_STOP_WORDS)},
        {"type": "stemmer", "language": "english"},
    ],
}


def text_field_params() -> dict[str, Any]:
    """Keyword arguments for the `text` VARCHAR field of a collection with Milvus's BM25 function."""
    return {"enable_analyzer": True, "analyzer_params": BM25_ANALYZER}
