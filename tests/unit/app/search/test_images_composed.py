"""app/search/images.py: photo + words make one query where text and images share a space."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.errors import QueryError
from app.search.engine import SearchEngine
from encoders import get_encoder
from encoders.base import l2_normalise
from indexers.images import index_images


@pytest.fixture
def engine(fake_profile, make_images, store):
    folder = make_images(8)
    assert index_images([folder], store, [get_encoder("fake:16")], progress=False).indexed == 8
    return SearchEngine(store, fake_profile, device="cpu"), folder


def test_the_query_is_the_normalised_sum_of_photo_and_words(engine, monkeypatch):
    from PIL import Image

    eng, folder = engine
    photo = Image.open(min(folder.iterdir())).convert("RGB")
    enc = get_encoder("fake:16", "cpu")
    seen = {}
    real_search = eng.search

    def spy(coll, vec, k, flt=None):
        seen["vec"] = vec
        return real_search(coll, vec, k, flt)

    monkeypatch.setattr(eng, "search", spy)
    hits = eng.search_composed(photo, "  red  ", k=3)
    img = l2_normalise(np.asarray(enc.embed_queries([photo]), dtype=np.float32))[0]
    txt = l2_normalise(np.asarray(enc.embed_queries(["red"]), dtype=np.float32))[0]
    expected = (img + txt) / np.linalg.norm(img + txt)
    assert np.allclose(seen["vec"], expected, atol=1e-5)
    assert len(hits) == 3 and hits == sorted(hits, key=lambda h: -h.score)


def test_without_a_shared_space_words_are_refused_in_a_sentence(engine):
    eng, _ = engine
    eng.profile = dataclasses.replace(eng.profile, text_to_image="fake:8")
    with pytest.raises(QueryError, match="no shared text–image space"):
        eng.search_composed(object(), "red", k=3)
