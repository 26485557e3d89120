"""PANNs CNN14 through panns-inference's model code with random weights (its real weights
are not available offline): shapes, tags, the tag bridge for text → sound, the
checkpoint override, and the one-sentence error when the weights are missing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import apply_env

pytestmark = pytest.mark.slow

RATE = 32000


def clip(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * (300 + 100 * seed) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def panns():
    from encoders import get_encoder

    return get_encoder("panns:Cnn14/random", "cpu").load()


def test_shapes_norms_and_short_clips(panns):
    clips = [clip(0.1, 1), clip(1.0, 2), clip(10.0, 3)]
    vecs = panns.embed_documents(clips)
    assert vecs.shape == (3, 2048) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert panns.spec.dim == 2048 and panns.sample_rate == RATE
    again = panns.embed_documents([clips[1]])  # deterministic, batch-independent
    np.testing.assert_allclose(again[0], vecs[1], atol=1e-5)


def test_tags_are_audioset_labels(panns):
    from encoders.panns_encoder import audioset_labels

    labels = audioset_labels()
    assert len(labels) == 527 and labels[0] == "Speech" and labels[74] == "Dog" and labels[75] == "Bark"
    tags = panns.tags([clip(2.0)], top=5)[0]
    assert len(tags) == 5 and all(name in labels and 0.0 <= p <= 1.0 for name, p in tags)
    assert [p for _, p in tags] == sorted((p for _, p in tags), reverse=True)


def test_tag_bridge_puts_sounds_in_the_text_space(panns):
    from encoders import get_encoder

    bridge = panns.text_bridge("sentence_transformers:all-MiniLM-L6-v2")
    assert bridge.spec.id == "panns_tags:Cnn14/random+all-MiniLM-L6-v2" and bridge.audio_encoder is panns
    docs = bridge.embed_documents([clip(1.0), clip(2.0, 5)])
    queries = bridge.embed_queries(["dog barking"])
    assert docs.shape == (2, 384) and queries.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert get_encoder(bridge.spec.id, "cpu") is bridge


def test_index_and_text_search_through_tags(panns, tmp_path, store, monkeypatch):
    """The full-profile path with random weights: two collections, tags stored, `search text --kind audio`."""
    from app.cli.audio import audio_encoders
    from app.search.audio import search_audio
    from app.search.engine import SearchEngine
    from encoders.profiles import PROFILES
    from indexers.audio import index_audio

    folder = tmp_path / "s"
    folder.mkdir()
    for i, secs in enumerate((1.0, 3.0, 12.0)):
        sf.write(folder / f"c{i}.wav", clip(secs, i), RATE)
    encoders = audio_encoders("panns:Cnn14/random", "cpu")
    assert [e.spec.id for e in encoders] == ["panns:Cnn14/random", "panns_tags:Cnn14/random+all-MiniLM-L6-v2"]
    report = index_audio([folder], store, encoders, progress=False)
    assert report.indexed == 3 and report.collections == [
        "audio__panns_cnn14_random", "audio__panns_tags_cnn14_random_all_minilm_l6_v2"
    ]
    rows = store.find("audio", "panns:Cnn14/random").query(limit=100)
    assert len(rows) == 1 + 1 + 2  # 12 s → windows 0–10 and 2–12
    assert all(len(r["meta"]["tags"]) == 5 and r["text"].count("(") == 5 for r in rows)

    profile = dataclasses.replace(PROFILES["full"], audio="panns:Cnn14/random")
    engine = SearchEngine(store, profile, device="cpu")
    hits = engine.search_text("dog barking", kind="audio", k=3)
    assert 1 <= len(hits) <= 3 and all(h.kind == "audio" and h.text and h.meta.get("tags") for h in hits)
    top = search_audio(engine, folder / "c1.wav", k=2)[0]
    assert top.title == "c1" and top.score == pytest.approx(1.0, abs=1e-4)


def test_choose_the_text_model_of_the_sound_tags(panns, tmp_path, store):
    """`models use sounds-text ID`: the stored sounds' tags are embedded again with the chosen text
    model (here MiniLM truncated to 128-d, a distinct id with real weights), words → sounds answer
    from that collection, and prune keeps it while dropping the old tag collection."""
    from app.search.engine import SearchEngine
    from encoders.profiles import PROFILES, apply_choices
    from indexers.audio import index_audio
    from indexers.library_models import prunable, read_choices, switch

    folder = tmp_path / "s"
    folder.mkdir()
    for i, secs in enumerate((1.0, 4.0)):
        sf.write(folder / f"t{i}.wav", clip(secs, i + 3), RATE)
    profile = dataclasses.replace(PROFILES["full"], audio="panns:Cnn14/random")
    from encoders.profiles import sound_encoders

    assert index_audio([folder], store, sound_encoders(profile, "cpu"), progress=False).indexed == 2
    small = "sentence_transformers:all-MiniLM-L6-v2@128"
    report = switch(store, "sounds-text", small, device="cpu", progress=False, profile=profile)
    assert report.cut_over and report.fields == {"audio_text": small}
    assert [(r.kind, r.indexed) for r in report.fills] == [("audio", 2)]
    bridge_id = "panns_tags:Cnn14/random+all-MiniLM-L6-v2@128"
    coll = store.find("audio", bridge_id)
    assert coll is not None and coll.dim == 128 and coll.count() == store.find("audio", "panns:Cnn14/random").count()

    chosen = apply_choices(profile, read_choices(store).active)
    assert chosen.sound_tags_text == small and chosen.audio == "panns:Cnn14/random"
    hits = SearchEngine(store, chosen, device="cpu").search_text("dog barking", kind="audio", k=2)
    assert hits and {h.collection for h in hits} == {coll.name}
    gone = {c.name for c in prunable(store, profile, "sentence_transformers:all-MiniLM-L6-v2", "cpu")}
    assert gone == {"audio__panns_tags_cnn14_random_all_minilm_l6_v2"}, gone


def test_the_server_indexes_the_tag_bridge_too(panns, tmp_path, tmp_db):
    """`index audio` through a running server (`app.server.indexing.run_index`) fills the sound
    model and its tag bridge, as the CLI does (it once filled only the sound model, so words →
    sounds found nothing for sounds indexed through the server)."""
    from app.context import Context
    from app.server.indexing import run_index
    from app.settings import Settings
    from encoders.profiles import PROFILES

    folder = tmp_path / "s"
    folder.mkdir()
    sf.write(folder / "a.wav", clip(2.0, 9), RATE)
    ctx = Context(Settings.load(overrides={"db": tmp_db}), given_profile=dataclasses.replace(PROFILES["full"], audio="panns:Cnn14/random"))
    report = run_index(ctx, "audio", [str(folder)])
    assert report.indexed == 1
    assert report.collections == ["audio__panns_cnn14_random", "audio__panns_tags_cnn14_random_all_minilm_l6_v2"]
    assert ctx.engine.search_text("a dog", kind="audio", k=1)[0].collection == "audio__panns_tags_cnn14_random_all_minilm_l6_v2"


def test_checkpoint_override(panns, tmp_path, monkeypatch):
    import torch

    from encoders.panns_encoder import PannsEncoder

    path = tmp_path / "my_cnn14.pth"
    torch.save({"model": panns._model.state_dict(), "iteration": 1}, path)
    apply_env(monkeypatch, MMSEARCH_WEIGHTS_PANNS_CNN14=str(path))
    enc = PannsEncoder(device="cpu")
    assert enc.weights_available()
    x = [clip(2.0, 7)]
    np.testing.assert_allclose(enc.embed_documents(x), panns.embed_documents(x), atol=1e-5)
    assert enc.weights_source == str(path)

    direct = PannsEncoder(checkpoint_path=tmp_path / "missing.pth", device="cpu")
    assert not direct.weights_available()
    with pytest.raises(Exception, match="missing.pth does not exist"):
        direct.load()


def test_a_broken_checkpoint_is_one_sentence(tmp_path, monkeypatch):
    from encoders.base import WeightsNotFoundError
    from encoders.panns_encoder import PannsEncoder

    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    apply_env(monkeypatch, MMSEARCH_WEIGHTS_PANNS_CNN14=str(bad))
    with pytest.raises(WeightsNotFoundError, match="bad.pth is not a CNN14 checkpoint"):
        PannsEncoder(device="cpu").load()


def test_missing_weights_are_one_clear_error(tmp_path, monkeypatch, capsys):
    from app.cli.main import main
    from encoders.base import WeightsNotFoundError
    from encoders.panns_encoder import PannsEncoder
    from milvus.client import close

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/panns_data here
    enc = PannsEncoder(device="cpu")
    assert not enc.weights_available()
    with pytest.raises(WeightsNotFoundError, match=r"weights for panns:Cnn14 not found; run `mmsearch models pull panns:Cnn14`"):
        enc.load()

    folder = tmp_path / "s"
    folder.mkdir()
    sf.write(folder / "a.wav", clip(1.0), RATE)
    db = str(tmp_path / "w.db")
    try:
        assert main(["index", "audio", str(folder), "--db", db, "--encoder", "panns:Cnn14", "-q", "--json"]) == 1
    finally:
        close(db)
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mmsearch: error: weights for panns:Cnn14 not found")
    assert "MMSEARCH_WEIGHTS_PANNS_CNN14" in err[-1]
    assert not store_has_audio(db)  # it failed before creating collections


def store_has_audio(db: str) -> bool:
    from milvus import VectorStore
    from milvus.client import close

    try:
        return any(c.kind == "audio" for c in VectorStore(db).list_collections())
    finally:
        close(db)


def test_sound_eval_runs_through_the_panns_query_path(panns):
    """`mmsearch eval --dataset freedesktop-sounds` with PANNs: queries go through its own
    `embed_queries` (not the documents' path). Random weights carry no meaning, so the
    figures are checked for count and range only; their meaning is tested with aiSFX."""
    from app.eval.audio import FREEDESKTOP_SOUNDS, eval_near_duplicates, load_sound_set

    if not FREEDESKTOP_SOUNDS.is_dir():
        pytest.fail(f"{FREEDESKTOP_SOUNDS} is missing: apt-get install sound-theme-freedesktop")
    clips = load_sound_set(limit=3)
    res = eval_near_duplicates(panns, clips)
    assert res.encoder == "panns:Cnn14/random" and res.task == "audio→audio"
    assert res.queries == len(clips) == 3 * 5
    assert 0.0 <= res.recall[1] <= res.recall[5] <= res.recall[10] <= 1.0
    assert 0.0 <= res.map10 <= 1.0 and 0.0 <= res.ndcg10 <= 1.0
    assert res.encode_ms > 0 and -1.0 <= res.threshold <= 1.0
