"""app/search/catalogue.py: titles sort naturally (numbers by value, case ignored)."""

from __future__ import annotations

from app.search.catalogue import natural_key


def test_numbers_in_titles_sort_by_value():
    titles = ["Dress #208", "Dress #23", "dress #3", "Boot", "Dress #23b", "#1"]
    assert sorted(titles, key=natural_key) == ["#1", "Boot", "dress #3", "Dress #23", "Dress #23b", "Dress #208"]


def test_mixed_text_and_number_parts_never_compare_badly():
    assert sorted(["10", "a", "2", "a2", "a10", ""], key=natural_key) == ["", "2", "10", "a", "a2", "a10"]
