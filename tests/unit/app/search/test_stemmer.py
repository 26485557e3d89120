"""BM25's stemmer: PyStemmer (Snowball's C library) gives the stems of snowballstemmer's
pure-Python English stemmer, the reference, on every word of the licence texts and of this
repository's documentation, and one stemmer per thread."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from app.search import bm25

REPO = Path(__file__).resolve().parents[4]
EXTRA = [
    "patents", "licensing", "redistribution", "generously", "skies", "dying", "news", "proceed",
    "exceeding", "succeeded", "cañon", "naïve", "résumé", "straße", "x", "ab", "1990s", "don't",
    "consign", "consigned", "consigning", "consignment", "knightly", "tomorrow's", "ÉTÉ",
]


def vocabulary() -> list[str]:
    """Every word (as the analyzer splits and lower-cases it) of the licence texts and the docs."""
    words = set(EXTRA)
    files = [*Path("/usr/share/common-licenses").glob("*"), *REPO.glob("*.md"), *(REPO / "docs").rglob("*.md")]
    for f in files:
        if f.is_file():
            words.update(re.findall(r"\w+", f.read_text(errors="ignore").lower()))
    return sorted(words)


def test_pystemmer_gives_the_reference_stems() -> None:
    stemmer = pytest.importorskip("Stemmer")
    from snowballstemmer.english_stemmer import EnglishStemmer

    words = vocabulary()
    assert len(words) > 1000
    ours, reference = stemmer.Stemmer("english"), EnglishStemmer()
    differ = [(w, ours.stemWord(w), reference.stemWord(w)) for w in words if ours.stemWord(w) != reference.stemWord(w)]
    assert differ == []


def test_bm25_stems_with_pystemmer_where_installed() -> None:
    stemmer = pytest.importorskip("Stemmer")
    assert isinstance(bm25._stemmer(), stemmer.Stemmer)
    assert bm25.stem("patents") == "patent" and bm25.stem("licensing") == "licens"


def test_each_thread_has_its_own_stemmer() -> None:
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(bm25._stemmer()))
    thread.start()
    thread.join()
    assert seen and seen[0] is not bm25._stemmer()
    assert bm25._stemmer() is bm25._stemmer()
