"""The full-text analyzer (`app.search.bm25.analyze`): English stems and stop words, CJK bigrams,
and the same analysis from Milvus's own BM25 (a Milvus Lite 3.2 server on loopback)."""

from __future__ import annotations

import pytest

from app.search.bm25 import BM25Index, analyze, terms
from encoders import get_encoder
from indexers.docs import DOC_KIND
from milvus.analyzer import BM25_ANALYZER, BM25_STOP_WORDS, text_field_params

ROWS = [
    {"id": "patent", "text": "3. Grant of Patent License. Each Contributor grants You a patent license to make and sell the Work."},
    {"id": "apache", "text": "Apache License, Version 2.0. Apache Software Foundation. Apache projects use the Apache licence."},
    {"id": "kettle", "text": "Descale the kettle monthly with white vinegar."},
    {"id": "haenyeo", "text": "물 위로 올라와 숨을 내쉴 때 나는 휘파람 같은 소리를 숨비소리라고 한다."},
    {"id": "hangul", "text": "훈민정음은 1443년에 창제되었고 1446년에 반포되었다."},
    {"id": "panda", "text": "大熊猫は中国の竹林に住んでいる。"},
]


def test_english_words_are_stemmed_and_stop_words_dropped():
    assert analyze("What does the Apache licence say about patents?") == ["apach", "licenc", "patent"]
    assert analyze("Grant of Patent License") == ["grant", "patent", "licens"]
    assert analyze("Redistributing, redistributed, redistribution") == ["redistribut"] * 3
    assert terms("The owls") == analyze("The owls") == ["owl"]
    assert all(analyze(w) == [] for w in BM25_STOP_WORDS)


def test_cjk_runs_become_bigrams_so_particles_do_not_hide_words():
    assert analyze("특허권을 부여한다") == ["특허", "허권", "권을", "부여", "여한", "한다"]
    assert analyze("大熊猫") == ["大熊", "熊猫"] and analyze("パンダ") == ["パン", "ンダ"]
    assert analyze("나 is a word") == ["나", "word"]  # one CJK character stays; English keeps its rules
    assert analyze("ＡＢＣ ｐａｔｅｎｔｓ") == ["abc", "patent"]  # full-width letters are folded (NFKC)


def test_bm25_matches_inflected_words_and_korean_without_particles():
    idx = BM25Index(ROWS)
    assert idx.search("patents", 1)[0]["id"] == "patent"  # "patents" never matched "Patent" before
    assert idx.search("descaling kettles", 1)[0]["id"] == "kettle"
    assert idx.search("숨비소리는 무엇인가요?", 1)[0]["id"] == "haenyeo"
    assert idx.search("훈민정음 반포", 1)[0]["id"] == "hangul"
    assert idx.search("大熊猫", 1)[0]["id"] == "panda"
    assert idx.search("the of and", 5) == []  # only stop words: nothing matches


def test_milvus_analyzer_params_say_the_same():
    stop = next(f for f in BM25_ANALYZER["filter"] if isinstance(f, dict) and f["type"] == "stop")
    assert stop["stop_words"] == list(BM25_STOP_WORDS)
    assert {"type": "stemmer", "language": "english"} in BM25_ANALYZER["filter"] and "lowercase" in BM25_ANALYZER["filter"]
    assert text_field_params() == {"enable_analyzer": True, "analyzer_params": BM25_ANALYZER}


@pytest.fixture(scope="module")
def lite3(tmp_path_factory):
    """A store with Milvus's BM25 function: Milvus Lite 3.2 serving on loopback."""
    from milvus import VectorStore
    from milvus.client import close
    from milvus.servers import LocalServer

    with LocalServer("lite3-server", tmp_path_factory.mktemp("lite3") / "data") as server:
        yield VectorStore(server.uri)
        close(server.uri)


def test_milvus_bm25_ranks_english_as_the_client_does(lite3):
    """Milvus's analyzer drops the same stop words and, for words both keep whole, ranks as the
    client does. Milvus Lite 3.2 applies the stop filter but ignores the stemmer (Milvus servers
    ≥ 2.5 stem); on Lite the client ranks the words anyway (`bm25="auto"`)."""
    enc = get_encoder("fake:16")
    coll = lite3.collection(DOC_KIND, enc.spec.id, enc.spec.dim, bm25=True)
    assert coll.has_bm25
    coll.upsert([{**r, "vector": v, "source": f"/d/{r['id']}", "kind": "doc"} for r, v in zip(ROWS, enc.embed_documents([r["text"] for r in ROWS]))])
    coll.flush()
    client = BM25Index(ROWS)
    for q in ("patent", "What does the Apache licence say about the patent?", "kettle vinegar", "Descale"):
        milvus = [r["id"] for r in coll.text_search([q], k=3)[0]]
        assert milvus and milvus[0] == client.search(q, 1)[0]["id"], (q, milvus)
    assert coll.text_search(["the of and what does"], k=3)[0] == []  # only stop words: Milvus drops them too
