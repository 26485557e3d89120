"""open_clip (a tiny config and ViT-B-32) and ResNet50 with random weights: shapes, norms,
batching, and text/image queries landing in one searchable space. No weights are needed."""

from __future__ import annotations

import numpy as np
import pytest

from app.search.engine import SearchEngine
from app.search.queries import load_query_image
from encoders import EncoderError, get_encoder
from encoders.profiles import Profile
from indexers.images import index_images

pytestmark = pytest.mark.slow

TEXTS = ["a cat", "a rocket on a launch pad", "red shoes", "an astronaut", "a bowl of coffee"]


@pytest.fixture(params=["tiny", "ViT-B-32"])
def clip(request, tiny_clip_id):
    """(encoder, expected dim): the shared registry instance, on the CPU for exact comparisons."""
    eid, dim = (tiny_clip_id, 64) if request.param == "tiny" else ("open_clip:ViT-B-32/random", 512)
    enc = get_encoder(eid, "cpu")
    old = enc.batch_size
    yield enc, dim
    enc.batch_size = old


def _unit(x: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5))


def test_clip_dims_and_unit_norm(clip, test_images):
    enc, dim = clip
    assert enc.spec.dim == dim
    docs = enc.embed_documents(test_images[:3])
    texts = enc.embed_queries(TEXTS[:2])
    assert docs.shape == (3, dim) and texts.shape == (2, dim)
    assert docs.dtype == np.float32 and texts.dtype == np.float32
    assert _unit(docs) and _unit(texts)
    assert enc.weights_source.startswith("random")


def test_clip_batching_matches_one_by_one(clip, test_images):
    enc, _ = clip
    enc.batch_size = 4  # 6 images → batches of 4 and 2
    batched = enc.embed_documents(test_images)
    single = np.concatenate([enc.embed_documents([im]) for im in test_images])
    assert np.allclose(batched, single, atol=1e-4)
    enc.batch_size = 2
    t_batched = enc.embed_queries(TEXTS)
    t_single = np.concatenate([enc.embed_queries([t]) for t in TEXTS])
    assert np.allclose(t_batched, t_single, atol=1e-4)
    assert not np.allclose(batched[0], batched[1], atol=1e-3)  # different inputs, different vectors


def test_clip_text_and_image_queries_share_the_document_space(clip, test_images):
    enc, dim = clip
    img_query = enc.embed_queries([test_images[0]])
    assert np.allclose(img_query, enc.embed_documents([test_images[0]]), atol=1e-5)
    text_query = enc.embed_queries(["a cat"])
    assert text_query.shape == (1, dim)
    assert not np.allclose(text_query, img_query, atol=1e-2)
    with pytest.raises(EncoderError, match="all texts or all images"):
        enc.embed_queries(["a cat", test_images[0]])


def test_tiny_clip_profile_end_to_end(tiny_clip_id, test_images, tmp_path, store):
    """Index files with the tiny CLIP, then query the same collection by text and by photo."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, im in enumerate(test_images):
        im.save(folder / f"p{i}.png")
    enc = get_encoder(tiny_clip_id, "cpu")
    report = index_images([folder], store, [enc], progress=False)
    assert report.indexed == 6 and not report.failed
    profile = Profile("tiny", image_encoders=(tiny_clip_id,), text_to_image=tiny_clip_id, image_to_image=tiny_clip_id, text=tiny_clip_id)
    assert profile.shared_text_image_space
    engine = SearchEngine(store, profile, device="cpu")

    hits = engine.search_image(load_query_image(folder / "p3.png"), k=3)
    assert hits[0].title == "p3" and hits[0].score == pytest.approx(1.0, abs=1e-3)

    text_hits = engine.search_text("a cat", k=6)
    assert len(text_hits) == 6
    # the store's score for a text query is the cosine with the stored image vectors
    qv = enc.embed_queries(["a cat"])[0]
    stored = {r["id"]: np.asarray(r["vector"]) for r in store.find("image", tiny_clip_id).query(with_vectors=True)}
    for h in text_hits:
        assert h.score == pytest.approx(float(qv @ stored[h.id]), abs=1e-3)


def test_resnet50_random(test_images):
    enc = get_encoder("torchvision:resnet50/random", "cpu")
    assert enc.spec.dim == 2048 and enc.spec.id == "torchvision:resnet50/random"
    old = enc.batch_size
    enc.batch_size = 3
    try:
        batched = enc.embed_documents(test_images[:4])  # batches of 3 and 1
    finally:
        enc.batch_size = old
    assert batched.shape == (4, 2048) and batched.dtype == np.float32 and _unit(batched)
    single = np.concatenate([enc.embed_documents([im]) for im in test_images[:4]])
    assert np.allclose(batched, single, atol=1e-4)
    assert np.allclose(enc.embed_queries([test_images[0]]), batched[:1], atol=1e-4)
    assert enc.weights_source.startswith("random")


def test_prepared_inputs_embed_like_the_images(clip, test_images):
    """`prepare_document` (run on indexers' worker threads) changes nothing in the vectors;
    an input prepared for another model is refused."""
    from encoders.base import EncoderError

    enc, _ = clip
    resnet = get_encoder("torchvision:resnet50/random", "cpu")
    for e in (enc, resnet):
        prepared = [e.prepare_document(im) for im in test_images[:3]]
        assert np.allclose(e.embed_documents(prepared), e.embed_documents(test_images[:3]), atol=1e-5)
    with pytest.raises(EncoderError, match="prepared for"):
        resnet.embed_documents([enc.prepare_document(test_images[0])])


# The public config.json of xlm-roberta-base: the multilingual CLIP's text tower architecture.
XLM_ROBERTA_BASE_CONFIG = {
    "architectures": ["XLMRobertaForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 514,
    "model_type": "xlm-roberta",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "position_embedding_type": "absolute",
    "type_vocab_size": 1,
    "vocab_size": 250002,
}


def test_multilingual_clip_builds_from_a_local_text_config_with_random_weights(tmp_path, monkeypatch, test_images):
    """xlm-roberta-base-ViT-B-32 needs its text model's config and tokenizer, which no package
    ships: without them the encoder says what is missing; with the config in `hf_text` beside the
    weights the whole architecture builds offline and embeds photos. Its tokenizer (a
    SentencePiece model) cannot be made here, so a text query names the missing tokenizer."""
    import json

    from encoders.ids import MULTILINGUAL_CLIP_ID
    from encoders.open_clip_encoder import HF_TEXT_DIR, OpenClipEncoder
    from encoders.weights import override_env_var
    from tests.conftest import apply_env

    real = get_encoder(MULTILINGUAL_CLIP_ID, "cpu")
    assert real.spec.dim == 512 and real.hf_text_model() == "xlm-roberta-base" and not real.weights_available()
    with pytest.raises(EncoderError, match="mmsearch models pull open_clip:xlm-roberta-base-ViT-B-32/laion5b_s13b_b90k"):
        real.load()

    enc = OpenClipEncoder("xlm-roberta-base-ViT-B-32", None, device="cpu")
    with pytest.raises(EncoderError, match="config and tokenizer of its text model xlm-roberta-base"):
        OpenClipEncoder("xlm-roberta-base-ViT-B-32", None, device="cpu").load()
    folder = tmp_path / "mclip"
    (folder / HF_TEXT_DIR).mkdir(parents=True)
    (folder / HF_TEXT_DIR / "config.json").write_text(json.dumps(XLM_ROBERTA_BASE_CONFIG))
    apply_env(monkeypatch, **{override_env_var(enc.spec.id): str(folder)})
    assert enc.weights_available()
    enc.load()
    params = sum(p.numel() for p in enc._model.parameters())
    assert 350e6 < params < 380e6  # ViT-B/32 (88M) + XLM-RoBERTa base (278M) + projections
    docs = enc.embed_documents(test_images[:2])
    assert docs.shape == (2, 512) and _unit(docs)
    with pytest.raises(EncoderError, match="tokenizer of its text model xlm-roberta-base"):
        enc.embed_queries(["나비"])
