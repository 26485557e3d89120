"""Ask page: a chat over the indexed documents and transcripts, answers streamed with citations.

Retrieval and answering live in `app.rag` / `app.generators`; this page only shows them.
Document text is always shown as text (escaped Markdown or `st.text`), never as HTML.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import streamlit as st

from app.views import state as ui_state
from app.views.common import empty_state, plain, show_error

st.title("Ask your documents")

try:
    store = ui_state.get_store()
except Exception as exc:  # store trouble: say it and stop this page
    show_error(exc)
    st.stop()


def _has_documents() -> bool:
    """Whether any document chunks or transcripts are indexed."""
    from indexers.docs import DOC_KIND

    try:
        return any(c.kind == DOC_KIND and c.count for c in store.list_collections())
    except Exception:  # the question will say what is wrong
        return True


if not _has_documents():
    empty_state(
        "documents",
        "mmsearch index docs PATH_OR_URL",
        "Spoken words of sounds and videos count too (`mmsearch index audio PATH --speech`, `mmsearch index video PATH`).",
    )

GENERATORS = {
    "Automatic": "auto",
    "Extractive (offline)": "extractive",
    "Ollama": "ollama",
    "OpenAI-compatible": "openai",
}

with st.sidebar:
    st.subheader("Answering")
    mode = st.selectbox("Retrieval", ["hybrid", "dense", "bm25"], help="hybrid: meaning (embeddings) and words (BM25), fused by rank")
    k = st.slider("Sources to cite", 1, 10, 5)
    rerank = st.text_input("Re-rank with a cross-encoder", placeholder="hub id or local folder (optional)").strip() or None
    conf = ui_state.settings()
    env_llm = (conf.llm or "auto").split(":")[0].lower()
    labels = list(GENERATORS)
    default = next((i for i, lab in enumerate(labels) if GENERATORS[lab] == env_llm), 0)
    gen_label = st.selectbox("Answer with", labels, index=default)
    llm_url = llm_model = api_key = None
    if GENERATORS[gen_label] == "ollama":
        llm_url = st.text_input("Ollama URL", conf.ollama_host)
        llm_model = st.text_input("Model", conf.llm_model or "", placeholder="first installed model") or None
    elif GENERATORS[gen_label] == "openai":
        llm_url = st.text_input("Base URL", conf.llm_url or "https://api.openai.com/v1")
        llm_model = st.text_input("Model", conf.llm_model or "") or None
        api_key = st.text_input("API key", type="password") or None
    if st.button("Clear conversation"):
        st.session_state["ask_messages"] = []


@st.cache_resource(show_spinner="Loading the text model…")
def get_retriever(mode: str, rerank: str | None):
    return ui_state.get_engine().retriever(mode=mode, rerank=rerank)


def safe(pieces: Iterable[str]) -> Iterator[str]:
    """Stream text as text: Markdown escaped, line breaks kept."""
    for piece in pieces:
        yield plain(piece).replace("\n", "  \n")


def show_citations(citations: list[dict[str, Any]]) -> None:
    from app.search.hits import score_label

    if not citations:
        return
    st.markdown("**Sources**")
    for c in citations:
        st.caption(plain(f"[{c['n']}] {c['label']}  ·  {score_label(c.get('relevance'), c['score'])}"))
        with st.expander(f"Passage [{c['n']}]"):
            st.text(c["chunk_text"] or "")


def show_provenance(generator: str, note: str | None) -> None:
    """Which generator answered, and why it was not a language model when it fell back."""
    st.caption(plain(f"Answered by {generator}" + (f" — {note}" if note else "")))


def show_weak(weak: str | None) -> None:
    """Say, before the answer, that the documents may not hold it."""
    if weak:
        st.warning(plain(weak[0].upper() + weak[1:] + "."))


def show_message(msg: dict[str, Any]) -> None:
    with st.chat_message(msg["role"]):
        if msg["role"] == "user":
            st.text(msg["content"])
            return
        show_weak(msg.get("weak"))
        st.markdown(plain(msg["content"]).replace("\n", "  \n"))
        show_provenance(msg.get("generator", ""), msg.get("note"))
        show_citations(msg.get("citations", []))


messages: list[dict[str, Any]] = st.session_state.setdefault("ask_messages", [])
if not messages:
    st.caption(
        "Questions are answered from what `mmsearch index docs PATH_OR_URL` indexed (and from transcripts of audio and "
        "video), with numbered sources. Without a reachable language model the answer quotes the best sentences."
    )
for msg in messages:
    show_message(msg)

question = st.chat_input("Ask a question about your documents")
if question:
    from app.answer.ask import ask_stream, citation, hit_label

    messages.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.text(question)
    with st.chat_message("assistant"):
        try:
            stream = ask_stream(question, get_retriever(mode, rerank), k=int(k), llm=GENERATORS[gen_label], llm_url=llm_url, api_key=api_key, model=llm_model, settings=conf)
            show_weak(stream.weak)
            st.write_stream(safe(stream))
            answer = stream.answer()
        except Exception as exc:
            show_error(exc)
            messages.pop()
        else:
            show_provenance(answer.generator, answer.note)
            citations = [{**citation(h), "n": n, "label": hit_label(h)} for n, h in enumerate(answer.hits, 1)]
            show_citations(citations)
            messages.append(
                {"role": "assistant", "content": answer.text, "note": answer.note, "weak": answer.weak, "citations": citations, "generator": answer.generator}
            )
