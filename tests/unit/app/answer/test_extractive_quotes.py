"""Extractive answers quote the sentence that answers, never a heading or a title line."""

from __future__ import annotations

import numpy as np

from app.answer.ask import QuotingExtractive, ask, is_heading, quoting, rank_sentences
from app.answer.generators import ExtractiveGenerator, GeneratorChoice
from app.search.docs import Retriever
from encoders import get_encoder
from indexers.docs import DOC_KIND

APACHE = """Apache License
Version 2.0, January 2004
http://www.apache.org/licenses/

TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION

3. Grant of Patent License. Subject to the terms of this License, each Contributor grants You a patent license to make, use and sell the Work.

4. Redistribution. You may reproduce and distribute copies of the Work in any medium."""
KOREAN = """제주의 해녀

해녀는 장비 없이 바다에 들어가 해산물을 따는 잠수부를 말한다.

물 위로 올라와 숨을 내쉴 때 나는 휘파람 같은 소리를 숨비소리라고 한다."""


def test_headings_title_lines_and_urls_are_recognised():
    for line in ("Apache License", "Version 2.0, January 2004", "http://www.apache.org/licenses/", "3. Grant of Patent License.",
                 "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "제주의 해녀", "## Owls", "APPENDIX: How to apply",
                 "Redistribution."):
        assert is_heading(line), line
    for line in ("Descale the kettle monthly with white vinegar.", "Owls hunt at night.", "숨비소리라고 한다.",
                 "BECAUSE THE LIBRARY IS LICENSED FREE OF CHARGE, THERE IS NO WARRANTY FOR THE LIBRARY, TO THE EXTENT PERMITTED BY LAW.",
                 "Each Contributor grants You a patent license to make, use and sell the Work."):
        assert not is_heading(line), line


def test_the_answering_sentence_wins_by_shared_terms():
    ranked = rank_sentences("What does the Apache licence say about patents?", [APACHE])
    assert ranked[0][1].startswith("Subject to the terms of this License, each Contributor grants You a patent license")
    assert not any(is_heading(s) for _, s, _ in ranked)
    assert rank_sentences("숨비소리는 무엇인가요?", [KOREAN])[0][1].startswith("물 위로 올라와")  # Korean terms: bigrams
    assert rank_sentences("anything", ["Apache License\nVersion 2.0"]) == []


def test_meaning_counts_when_an_embedder_is_given():
    """With an embedder the cosine decides between sentences that share no term with the question."""
    texts = ["The barn owl hunts mice in the fields at night. Herons wade in shallow water."]

    def embed(items: list[str]) -> np.ndarray:
        vecs = np.array([[1.0, 0.0] if ("heron" in s.lower() or "wading" in s.lower()) else [0.0, 1.0] for s in items])
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)

    assert rank_sentences("Which bird is wading?", texts, embed)[0][1] == "Herons wade in shallow water."


def test_quoting_replaces_only_the_plain_extractive_answerer():
    choice = quoting(GeneratorChoice(ExtractiveGenerator(reason="offline", max_sentences=2), note="why"))
    assert type(choice.generator) is QuotingExtractive and choice.generator.reason == "offline" and choice.generator.max_sentences == 2
    other = object()
    assert quoting(GeneratorChoice(other)).generator is other


def test_ask_quotes_the_sentence_not_the_title(store):
    enc = get_encoder("fake:16")
    coll = store.collection(DOC_KIND, enc.spec.id, enc.spec.dim)
    texts = [APACHE, "The kettle manual. Descale the kettle monthly with white vinegar."]
    coll.upsert([{"id": f"d{i}", "vector": v, "source": f"/docs/{i}", "kind": "doc", "title": f"doc {i}", "text": t}
                 for i, (t, v) in enumerate(zip(texts, enc.embed_documents(texts)))])
    answer = ask("What does the Apache licence say about patents?", Retriever(store, "fake:16", mode="bm25"), k=2, llm="extractive")
    quotes = answer.text.split("\n\n")[1:]  # the fake encoder's vectors mean nothing: the order is not asserted
    assert any(q.startswith("“Subject to the terms of this License, each Contributor grants You a patent license") for q in quotes), answer.text
    assert not any(is_heading(q.rsplit("”", 1)[0].lstrip("“")) for q in quotes), quotes
