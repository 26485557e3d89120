"""A plain transformer checkpoint as a bi-encoder: `sentence_transformers:FOLDER#cls|mean|max`.

The checkpoint is a tiny random BERT (2 layers, 32-d) with a 20-word vocabulary, built and
saved at test time; each pooling's vectors are checked against the same pooling computed by
hand from the model's token vectors, and the pooled encoder indexes documents into Milvus Lite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoders import get_encoder
from encoders.base import EncoderError
from indexers.docs import index_docs

WORDS = ["the", "a", "kettle", "heron", "owl", "night", "fish", "reeds", "water", "boil", "descale", "hunts", "mice", "at", "in"]
TEXTS = ["the heron fish", "a kettle boil water at night in the reeds", "owl"]  # different lengths: padding matters


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=64).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=5 + len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )
    BertModel(config).eval().save_pretrained(folder)
    return folder


def by_hand(folder: Path, texts: list[str], pooling: str) -> np.ndarray:
    """The pooled, normalised vectors computed from the checkpoint's token vectors directly."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        h = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
    if pooling == "cls":
        v = h[:, 0]
    elif pooling == "mean":
        v = (h * mask).sum(1) / mask.sum(1)
    else:
        v = h.masked_fill(mask == 0, -1e9).max(1).values
    v = v.numpy()
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("pooling", ["cls", "mean", "max"])
def test_each_pooling_is_the_pooling_by_hand(tiny_bert, pooling):
    enc = get_encoder(f"sentence_transformers:{tiny_bert}#{pooling}", "cpu")
    assert enc.weights_available()
    vecs = enc.embed_documents(TEXTS)
    assert enc.spec.dim == 32 and enc.spec.id.endswith(f"#{pooling}")
    np.testing.assert_allclose(vecs, by_hand(tiny_bert, TEXTS, pooling), atol=1e-5)
    np.testing.assert_allclose(enc.embed_queries(TEXTS), vecs, atol=1e-6)  # a bi-encoder: one tower, no prefixes


def test_poolings_differ_and_truncate(tiny_bert):
    cls, mean, mx = (get_encoder(f"sentence_transformers:{tiny_bert}#{p}", "cpu").embed_documents(TEXTS) for p in ("cls", "mean", "max"))
    assert not np.allclose(cls, mean, atol=1e-3) and not np.allclose(mean, mx, atol=1e-3)
    short = get_encoder(f"sentence_transformers:{tiny_bert}#mean@16", "cpu")
    assert short.spec.dim == 16
    want = mean[:, :16] / np.linalg.norm(mean[:, :16], axis=1, keepdims=True)
    np.testing.assert_allclose(short.embed_documents(TEXTS), want, atol=1e-5)


def test_unknown_pooling_is_refused(tiny_bert):
    with pytest.raises(EncoderError, match=r"unknown pooling 'sum'.*cls, mean, max"):
        get_encoder(f"sentence_transformers:{tiny_bert}#sum", "cpu")


def test_pooled_checkpoint_indexes_documents(tiny_bert, store, tmp_path):
    (tmp_path / "notes.md").write_text("# Birds\nthe heron fish in the reeds at night\n\nthe owl hunts mice")
    enc = get_encoder(f"sentence_transformers:{tiny_bert}#mean", "cpu")
    report = index_docs([tmp_path / "notes.md"], store, enc, progress=False)
    assert report.ok and report.chunks >= 1
    infos = [c for c in store.list_collections() if c.kind == "doc"]
    assert [(c.encoder, c.dim) for c in infos] == [(f"sentence_transformers:{tiny_bert}#mean", 32)]
