"""The `docs-qa` evaluation set: its questions and texts, scoring, and a run with the fake encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.eval import docs_qa
from app.eval.docs_qa_korean import ARTICLES
from app.search.fusion import DEFAULT_FUSION


def test_the_set_has_enough_questions_in_both_languages():
    qs = docs_qa.QUESTIONS
    assert len(qs) >= 40 and sum(q.lang == "ko" for q in qs) >= 10 and sum(q.lang == "en" for q in qs) >= 30
    assert len({q.question for q in qs}) == len(qs)
    assert {q.file for q in qs if q.lang == "en"} == set(docs_qa.LICENCES)
    assert {q.file for q in qs if q.lang == "ko"} == set(ARTICLES)
    assert sum(len(t.encode()) for t in ARTICLES.values()) < 50_000


def test_each_key_phrase_is_in_its_file_and_no_other():
    if not all((docs_qa.LICENCE_DIR / n).is_file() for n in docs_qa.LICENCES):
        pytest.skip("Debian's base-files licence texts are not installed")
    texts = {n: docs_qa.normalise((docs_qa.LICENCE_DIR / n).read_text()) for n in docs_qa.LICENCES}
    texts |= {n: docs_qa.normalise(t) for n, t in ARTICLES.items()}
    for q in docs_qa.QUESTIONS:
        assert [n for n, t in texts.items() if docs_qa.normalise(q.key) in t] == [q.file], q


def test_pick_questions_spreads_over_each_language():
    picked = docs_qa.pick_questions(3)
    assert [q.lang for q in picked] == ["en"] * 3 + ["ko"] * 3
    assert len({q.file for q in picked if q.lang == "en"}) == 3
    assert docs_qa.pick_questions() == list(docs_qa.QUESTIONS)


def test_judging_and_rates():
    q = docs_qa.Question("en", "Apache-2.0", "patents?", "Grant of  Patent License")
    rows = [{"text": "Apache License", "source": "/x/Apache-2.0"}, {"text": "3. Grant of\nPatent License.", "source": "/x/Apache-2.0"}]
    assert docs_qa.judge(rows, q) == (True, False, True)
    assert docs_qa.judge([], q) == (False, False, False)
    s = docs_qa.Score()
    s.add("en", True, False, True)
    s.add("ko", False, False, False)
    assert s.rate("en", 1) == 1.0 and s.rate(None, 1) == 0.5 and s.rate("ko", 3) == 0.0 and s.rate("xx", 1) is None


def test_a_run_with_the_fake_encoder_scores_every_retrieval(tmp_path):
    """Hash vectors mean nothing, but BM25 finds Korean key words; the run's shape is the contract."""
    if not all((docs_qa.LICENCE_DIR / n).is_file() for n in docs_qa.LICENCES):
        pytest.skip("Debian's base-files licence texts are not installed")
    questions = docs_qa.pick_questions(2)
    r = docs_qa.eval_docs_qa("fake:16", questions, fusions=[DEFAULT_FUSION, "rrf:k=60,w=1"], device="cpu", workdir=tmp_path)
    assert r.error is None and r.chunks > 50 and r.questions == 4
    assert list(r.scores) == ["dense", "bm25", f"hybrid {DEFAULT_FUSION.spec}", "hybrid rrf:k=60,w=1"]
    assert r.scores["bm25"].rate("ko", 1) == 1.0
    d = r.to_dict()
    assert set(d["retrievals"]["bm25"]) == {f"{lang}_{m}" for lang in ("en", "ko", "all") for m, _ in docs_qa.METRICS}
    assert docs_qa.eval_docs_qa("nosuch:model", questions, workdir=tmp_path / "x").error


def test_cli_refuses_save_and_bad_fusions(tmp_path, monkeypatch, capsys):
    from app.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--dataset", "docs-qa", "--save"]) == 1
    assert "docs-qa measures document retrieval and has none" in capsys.readouterr().err
    assert main(["eval", "--dataset", "docs-qa", "--fusion", "magic", "--encoder", "fake:16"]) == 1
    assert "unknown fusion 'magic'" in capsys.readouterr().err
    assert not list(Path(tmp_path).glob("*.db"))
