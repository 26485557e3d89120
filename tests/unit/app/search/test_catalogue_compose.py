"""Composed queries ("like this, but red") with a random-weight CLIP: the vector arithmetic,
the scores it produces, and the plain refusal on the offline profile (no shared space)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import define_profiles
from PIL import Image, ImageDraw

from app.errors import QueryError
from app.search.catalogue import Catalogue, compose_vectors, default_floor
from encoders import get_encoder
from encoders.profiles import PROFILES, Profile

CLIP = "open_clip:ViT-B-32/random"
CLIP_PROFILE = Profile("full", image_encoders=(CLIP,), text_to_image=CLIP, image_to_image=CLIP, text=CLIP, note="random CLIP (tests)")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def clip():
    return get_encoder(CLIP, "cpu")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """Eight product images with a catalogue CSV."""
    d = tmp_path_factory.mktemp("shop")
    (d / "img").mkdir()
    lines = ["id,title,price,currency,category,image"]
    for i in range(8):
        img = Image.new("RGB", (64, 64), "white")
        ImageDraw.Draw(img).rectangle([8 + i * 2, 8, 40 + i * 2, 56], fill=((i * 37) % 256, (i * 91) % 256, 200 - i * 20))
        img.save(d / "img" / f"{i}.png")
        lines.append(f"C{i},Thing {i},{10 + i * 5}.00,EUR,tops,img/{i}.png")
    (d / "c.csv").write_text("\n".join(lines) + "\n")
    return d


@pytest.fixture(scope="module")
def clip_catalogue(shop, clip, tmp_path_factory):
    from indexers.catalogue import index_catalogue
    from milvus import VectorStore
    from milvus.client import close

    uri = str(tmp_path_factory.mktemp("clipdb") / "c.db")
    store = VectorStore(uri)
    assert index_catalogue(shop / "c.csv", store, [clip]).indexed == 8
    yield Catalogue(store, CLIP_PROFILE, "cpu")
    close(uri)


def _stored(cat: Catalogue) -> dict[str, np.ndarray]:
    rows = cat.collection().query(limit=100, with_vectors=True)
    return {r["id"]: np.asarray(r["vector"], dtype=np.float32) for r in rows}


def test_compose_arithmetic(clip_catalogue, clip):
    cat = clip_catalogue
    vec = _stored(cat)["C0"]
    red, striped, blue = (clip.embed_queries([t])[0] for t in ("red", "striped", "blue"))
    assert cat.can_compose

    q = cat.compose(vec, ["red"], ["striped"], 0.7)
    np.testing.assert_allclose(q, _unit(_unit(vec) + 0.7 * red - 0.7 * striped), atol=1e-5)
    assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-5)
    # "more red" moves the query towards "red", "less striped" away from "striped"
    assert q @ red > _unit(vec) @ red
    assert q @ striped < _unit(vec) @ striped
    # several terms add up; weight 0 leaves the image alone; a heavier weight moves further
    np.testing.assert_allclose(cat.compose(vec, ["red", "blue"], [], 0.5), _unit(_unit(vec) + 0.5 * red + 0.5 * blue), atol=1e-5)
    np.testing.assert_allclose(cat.compose(vec, ["red"], [], 0.0), _unit(vec), atol=1e-6)
    assert cat.compose(vec, ["red"], [], 2.0) @ red > q @ red
    with pytest.raises(QueryError, match="text weight"):
        compose_vectors(clip, vec, ["red"], [], -1.0)
    with pytest.raises(QueryError, match="cancel"):
        compose_vectors(clip, red, [], ["red"], 1.0)


def test_composed_search_ranks_by_the_composed_vector(clip_catalogue, clip):
    cat = clip_catalogue
    stored = _stored(cat)
    res = cat.similar("C0", k=10, plus=["red"], minus=["striped"], text_weight=1.0, min_similarity=-1.0)
    q = cat.compose(stored["C0"], ["red"], ["striped"], 1.0)
    assert res.composed and "C0" not in [h.id for h in res.hits] and len(res.hits) == 7
    for h in res.hits:
        assert h.score == pytest.approx(float(q @ stored[h.id]), abs=1e-4)
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)
    # with text weight 0 the ranking is the plain image ranking
    plain = cat.similar("C0", k=10, min_similarity=-1.0)
    zero = cat.similar("C0", k=10, plus=["red"], text_weight=0.0, min_similarity=-1.0)
    assert [h.id for h in zero.hits] == [h.id for h in plain.hits]
    # the default floor is scaled by the anchor's own score against the composed vector
    scaled = cat.similar("C0", k=10, plus=["red"], minus=["striped"], text_weight=1.0)
    assert scaled.floor == pytest.approx(default_floor(CLIP) * float(q @ _unit(stored["C0"])), abs=1e-5)


def test_offline_profile_says_it_needs_clip(store):
    cat = Catalogue(store, PROFILES["offline"], "cpu")
    assert not cat.can_compose
    with pytest.raises(QueryError, match="needs a CLIP/SigLIP encoder"):
        cat.similar("anything", plus=["red"])
    with pytest.raises(QueryError, match="needs a CLIP/SigLIP encoder"):
        cat.similar_to_image(Image.new("RGB", (8, 8)), minus=["striped"])


def test_cli_plus_minus(shop, tmp_db, monkeypatch, capsys, tmp_path):
    from app.cli.main import main

    define_profiles(monkeypatch, tmp_path, CLIP_PROFILE)  # a user's own "full" in mmsearch.toml
    assert main(["index", "catalogue", str(shop / "c.csv"), "--db", tmp_db, "--profile", "full", "--device", "cpu", "-q"]) == 0
    capsys.readouterr()
    base = ["search", "image", str(shop / "img" / "3.png"), "--db", tmp_db, "--device", "cpu", "--min-similarity", "-1", "--json"]
    assert main(base + ["--profile", "full", "--catalogue", "--plus", "red", "--minus", "striped", "--text-weight", "0.8", "-k", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and all(h["kind"] == "product" for h in hits)
    assert main(["similar", "C3", "--db", tmp_db, "--profile", "full", "--device", "cpu", "--plus", "red", "--cheaper", "--min-similarity", "-1", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["id"] for h in hits] and all(h["price"] < 25 for h in hits)
    assert main(base + ["--profile", "offline", "--catalogue", "--plus", "red"]) == 1
    assert "needs a CLIP/SigLIP encoder" in capsys.readouterr().err
