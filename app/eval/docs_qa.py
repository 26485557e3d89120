"""`mmsearch eval --dataset docs-qa`: does document search find the passage that answers?

The corpus: seven licence texts Debian's base-files ships (/usr/share/common-licenses) and five
short Korean articles written for this set (`app.eval.docs_qa_korean`), indexed together into a
fresh Milvus Lite collection per text encoder, as `mmsearch index docs` would. Each question has
the file that answers it and a key phrase of the answering passage. Scores per retrieval:
- passage@3: the key phrase is in one of the first three passages (what `ask` cites first);
- passage@1: the key phrase is in the first passage;
- file@1: the first passage comes from the expected file.
Retrievals: dense, BM25 (the client's, as on Milvus Lite), and hybrid with each fusion asked
for (`app.search.fusion`); the two rankings are computed once per question and fused each way.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from app.eval.docs_qa_korean import ARTICLES
from app.search.fusion import DEFAULT_FUSION, Fusion, fuse, parse_fusion

log = logging.getLogger(__name__)

LICENCE_DIR = Path("/usr/share/common-licenses")
LICENCES = ("Apache-2.0", "GPL-3", "LGPL-2.1", "MPL-2.0", "Artistic", "BSD", "CC0-1.0")
DEFAULT_ENCODERS = ("sentence_transformers:all-MiniLM-L6-v2",)
# The fusions `--fusion all` compares (the measured table is in app/search/fusion.py).
FUSION_CANDIDATES = (
    "rrf:k=60,w=1", "rrf:k=10,w=1", "rrf:k=60,w=2", "rrf:k=60,w=3", "rrf:k=10,w=2",
    "dense-first:b=0.1", "dense-first:b=0.2", "dense-first:b=0.3", "dense-first:b=0.5",
    "convex:a=0.5", "convex:a=0.7", "convex:a=0.8",
)
TOP = 3  # passages that count as cited first
METRICS = (("passage@3", 1), ("passage@1", 2), ("file@1", 3))  # name, index in Score.counts


@dataclass(frozen=True)
class Question:
    """A question, the file whose text answers it, and a phrase of the answering passage."""

    lang: str
    file: str
    question: str
    key: str


_EN = [  # (file, question, key phrase of the answering passage)
    ("Apache-2.0", "What does the Apache licence say about patents?", "Grant of Patent License"),
    ("Apache-2.0", "What must I do with the NOTICE text file when I redistribute the work?", "readable copy of the attribution notices"),
    ("Apache-2.0", "Am I allowed to use the licensor's trademarks and product names?", "does not grant permission to use the trade"),
    ("Apache-2.0", "What happens to my patent licence if I sue a contributor for patent infringement?", "institute patent litigation"),
    ("Apache-2.0", "Are the contributions I send to the project covered by the same licence?", "Submission of Contributions"),
    ("Apache-2.0", "Under Apache 2.0, what do I have to do in files I modified?", "cause any modified files to carry"),
    ("Apache-2.0", "How do I apply the Apache License to my own code?", "APPENDIX: How to apply"),
    ("GPL-3", "If I violate the GPL version 3 and then stop, do I get my licence back?", "is reinstated"),
    ("GPL-3", "Am I allowed to sell copies of a GPLv3 program?", "charge any price or no price"),
    ("GPL-3", "What does GPLv3 say about DRM and laws against circumventing technological measures?", "Anti-Circumvention"),
    ("GPL-3", "How do I have to provide the source when I ship a GPLv3 program as a binary?", "Conveying Non-Source Forms"),
    ("GPL-3", "What counts as a User Product in the GPL?", "\"User Product\" is either"),
    ("GPL-3", "Do I have to accept the GPL just to run a copy of the program?", "not required to accept this License in order to receive or run"),
    ("GPL-3", "Which patent claims of a contributor does GPLv3 license to me?", "essential patent claims"),
    ("GPL-3", "Can I combine GPLv3 code with code under the Affero GPL?", "Affero General Public License into a single"),
    ("GPL-3", "What extra permissions or terms may I add to material I contribute to a GPLv3 work?", "for material you add to a covered work"),
    ("LGPL-2.1", "Can I link my proprietary program with an LGPL library and distribute the result?", "As an exception to the Sections above"),
    ("LGPL-2.1", "May I switch a copy of an LGPL library to the ordinary GNU GPL?", "opt to apply the terms of the ordinary GNU General Public"),
    ("LGPL-2.1", "What if a court ruling about patents stops me from meeting the LGPL's conditions?", "consequence of a court judgment or allegation of patent"),
    ("LGPL-2.1", "Does an LGPL library come with any warranty?", "LICENSED FREE OF CHARGE"),
    ("LGPL-2.1", "Why is the Lesser GPL called lesser?", "Less protective of the users' freedom"),
    ("MPL-2.0", "In which courts can a lawsuit about the Mozilla Public License be brought?", "courts of a jurisdiction where the defendant maintains"),
    ("MPL-2.0", "When do my rights under the MPL end?", "terminate automatically"),
    ("MPL-2.0", "Can I distribute a Larger Work under terms of my choice?", "Larger Work under terms of Your choice"),
    ("MPL-2.0", "Under the MPL, what must I do when I distribute the software in executable form?", "Distribution of Executable Form"),
    ("MPL-2.0", "Can MPL code also be distributed under a secondary licence such as the GPL?", "additionally distribute such Covered Software under the terms"),
    ("Artistic", "Can I charge a fee for distributing the Package?", "reasonable copying fee"),
    ("Artistic", "May the name of the Copyright Holder be used to promote products made from the Package?", "Copyright Holder may not be used to endorse"),
    ("Artistic", "Can I include this Package in a commercial distribution?", "Aggregation of this Package with a commercial distribution"),
    ("BSD", "May the name of the University be used to endorse products derived from this software?", "Neither the name of the University"),
    ("BSD", "What must a redistribution in binary form include?", "Redistributions in binary form must reproduce"),
    ("CC0-1.0", "How does CC0 give up copyright to dedicate a work to the public domain?", "unconditionally waives"),
    ("CC0-1.0", "What happens if the CC0 waiver is judged invalid?", "Public License Fallback"),
    ("CC0-1.0", "Does CC0 waive patent or trademark rights?", "No trademark or patent rights held by Affirmer are waived"),
]
_KO = [
    ("김치.txt", "고추는 언제 한국에 들어왔나요?", "임진왜란 무렵"),
    ("김치.txt", "배추김치를 담글 때 배추는 소금물에 얼마나 절이나요?", "여덟 시간에서 열 시간"),
    ("김치.txt", "김장 문화는 언제 유네스코 무형문화유산이 되었나요?", "2013년"),
    ("한글.txt", "훈민정음은 언제 반포되었나요?", "1446년에 반포"),
    ("한글.txt", "처음 만든 한글은 모두 몇 글자였나요?", "스물여덟 자"),
    ("한글.txt", "자음은 무엇을 본떠 만들었나요?", "발음 기관의 모양"),
    ("해녀.txt", "해녀가 물 위로 올라와 숨을 내쉴 때 나는 소리를 뭐라고 하나요?", "숨비소리"),
    ("해녀.txt", "해녀들이 옷을 갈아입고 불을 쬐는 곳은 어디인가요?", "불턱"),
    ("한강.txt", "북한강과 남한강은 어디에서 만나나요?", "두물머리에서"),
    ("한강.txt", "한강에 처음 놓인 다리는 무엇인가요?", "한강철교"),
    ("태양광.txt", "태양광 패널은 어느 방향으로 몇 도 기울여 설치해야 하나요?", "남쪽으로 향하게"),
    ("태양광.txt", "태양광 패널은 얼마나 자주 청소해야 하나요?", "두세 번 물로 닦아"),
]
QUESTIONS: tuple[Question, ...] = tuple(Question("en", *q) for q in _EN) + tuple(Question("ko", *q) for q in _KO)


def normalise(text: str) -> str:
    """Lower case, whitespace collapsed: how key phrases are looked for in passages."""
    return " ".join((text or "").split()).lower()


def pick_questions(limit: int | None = None) -> list[Question]:
    """All questions, or `limit` per language spread evenly over each language's list."""
    if not limit:
        return list(QUESTIONS)
    out: list[Question] = []
    for lang in ("en", "ko"):
        qs = [q for q in QUESTIONS if q.lang == lang]
        step = max(1.0, len(qs) / limit)
        out += [qs[int(i * step)] for i in range(min(limit, len(qs)))]
    return out


def prepare_corpus(dest: Path) -> Path:
    """`dest` filled with the licence texts and the Korean articles (FileNotFoundError naming the
    Debian package when the licences are missing)."""
    missing = [n for n in LICENCES if not (LICENCE_DIR / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{LICENCE_DIR} lacks {', '.join(missing)}: install Debian's base-files")
    dest.mkdir(parents=True, exist_ok=True)
    for n in LICENCES:
        shutil.copy(LICENCE_DIR / n, dest / n)
    for name, text in ARTICLES.items():
        (dest / name).write_text(text, encoding="utf-8")
    return dest


@dataclass
class Score:
    """Hits of one retrieval: per language, [questions, passage@3 hits, passage@1 hits, file@1 hits]."""

    counts: dict[str, list[int]] = field(default_factory=dict)

    def add(self, lang: str, passage: bool, first: bool, file: bool) -> None:
        c = self.counts.setdefault(lang, [0, 0, 0, 0])
        c[0] += 1
        c[1] += int(passage)
        c[2] += int(first)
        c[3] += int(file)

    def rate(self, lang: str | None, which: int) -> float | None:
        """Share of questions (of `lang`, or all) with a hit: which=1 passage@3, 2 passage@1, 3 file@1."""
        rows = [c for l, c in self.counts.items() if lang in (None, l)]
        n = sum(c[0] for c in rows)
        return sum(c[which] for c in rows) / n if n else None


@dataclass
class DocsQaResult:
    """One encoder's scores: retrieval name ("dense", "bm25", "hybrid rrf:k=60,w=1", …) → Score."""

    encoder: str
    questions: int
    chunks: int
    index_s: float
    scores: dict[str, Score]
    misses: dict[str, list[str]] = field(default_factory=dict)  # retrieval → questions without a passage hit
    error: str | None = None

    def to_dict(self) -> dict:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {
            "encoder": self.encoder, "task": "question→passage", "questions": self.questions, "chunks": self.chunks,
            "index_s": round(self.index_s, 1), "error": self.error,
            "retrievals": {
                name: {f"{lang or 'all'}_{m}": r(s.rate(lang, i)) for lang in ("en", "ko", None) for m, i in METRICS}
                for name, s in self.scores.items()
            },
        }


def judge(rows: Sequence[dict], q: Question) -> tuple[bool, bool, bool]:
    """(passage@3, passage@1, file@1) of ranked rows (dicts with `text` and `source`) for a question."""
    key = normalise(q.key)
    passage = any(key in normalise(r.get("text") or "") for r in rows[:TOP])
    first = bool(rows) and key in normalise(rows[0].get("text") or "")
    file = bool(rows) and Path(str(rows[0].get("source") or "")).name == q.file
    return passage, first, file


def eval_docs_qa(
    encoder_id: str,
    questions: Sequence[Question] | None = None,
    fusions: Sequence[Fusion | str] = (DEFAULT_FUSION,),
    device: str = "auto",
    workdir: Path | None = None,
) -> DocsQaResult:
    """Index the corpus with `encoder_id` into a fresh Milvus Lite file and score every question
    by dense, BM25 and each fusion of the two (hybrid). A missing encoder or its weights give a
    result with `error` set instead of raising."""
    from app.search.docs import Retriever
    from encoders import get_encoder
    from indexers.docs import index_docs
    from milvus import VectorStore
    from milvus.client import close

    questions = list(questions or QUESTIONS)
    fusions = [parse_fusion(f) for f in fusions]
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="mmsearch-docs-qa-")) if own else workdir
    uri = str(root / "docs-qa.db")
    try:
        try:
            enc = get_encoder(encoder_id, device)
        except Exception as exc:  # an unknown id or missing weights: reported in the table
            return DocsQaResult(encoder_id, len(questions), 0, 0.0, {}, error=str(exc).splitlines()[0][:200])
        folder = prepare_corpus(root / "corpus")
        store = VectorStore(uri)
        t0 = time.perf_counter()
        report = index_docs([folder], store, enc, progress=False)
        index_s = time.perf_counter() - t0
        if report.failed:
            log.warning("docs-qa: %d inputs failed to index", len(report.failed))
        retriever = Retriever(store, enc.spec.id, device=device, mode="hybrid", bm25="client")
        chunks = retriever.collection().count()
        names = ["dense", "bm25"] + [f"hybrid {f.spec}" for f in fusions]
        scores = {n: Score() for n in names}
        misses: dict[str, list[str]] = {n: [] for n in names}
        for q in questions:
            dense, words = retriever.rankings(q.question)
            ranked = [dense, words] + [fuse(dense, words, f, k=TOP) for f in fusions]
            for name, rows in zip(names, ranked):
                passage, first, file = judge(rows, q)
                scores[name].add(q.lang, passage, first, file)
                if not passage:
                    misses[name].append(q.question)
        close(uri)
        return DocsQaResult(enc.spec.id, len(questions), chunks, index_s, scores, misses)
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)
