"""The HTTP API (FastAPI) over the same search services as the CLI and the app.

Hits have the CLI's `--json` keys (`app.search.hits.JSON_FIELDS`). Errors a user can fix come
back as 400/404 with one sentence in `detail`. The OpenAPI page is at `/api/docs`.

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations, and the
request models are defined inside `create_api`.
"""


import json
import logging
from pathlib import Path
from typing import Any, Callable, Iterator

from app.context import Context
from app.errors import QueryError, user_message
from encoders.base import EncoderError
from milvus.errors import StoreError
from app.server.auth import LOCAL
from app.server.jobs import JobRunner
from app.server.library import KINDS, LibraryError, confine, label_for, save_uploads

log = logging.getLogger(__name__)

TEXT_KINDS = ("image", "product", "audio", "video", "doc")


def create_api(get_context: Callable[[], Context], get_jobs: Callable[[], JobRunner]) -> Any:
    """The FastAPI app; mount it at `/api`."""
    from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
    from fastapi.responses import JSONResponse, StreamingResponse
    from pydantic import BaseModel, Field

    api = FastAPI(
        title="mmsearch API",
        description="Search photos, products, sounds, videos and documents; add content with index jobs.",
        version="1",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )

    async def friendly(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": user_message(exc)}, status_code=400)

    # errors a user can act on: one sentence, no traceback in the log
    for kind in (ValueError, EncoderError, StoreError):
        api.add_exception_handler(kind, friendly)

    def hits_json(hits: list[Any], kind: str, query_kind: str, encoder_id: str | None = None) -> dict[str, Any]:
        ctx = get_context()
        from indexers.calibration import CUT_OFF_SEARCHES

        good = ctx.engine.good_match_threshold(kind, query_kind, encoder_id) if (kind, query_kind) in CUT_OFF_SEARCHES else None
        return {"hits": [h.to_json() for h in hits], "good_match": good}

    def settings_max_bytes() -> int:
        return int(get_context().settings.upload_max_mb * 1e6)

    async def read_capped(upload: UploadFile, limit: int) -> bytes:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise LibraryError(f"{upload.filename}: over the {limit / 1e6:.0f} MB upload limit")
        return data

    # -- health and models ----------------------------------------------------------------
    @api.get("/health", summary="Is the server up, and on which database")
    def health() -> dict[str, Any]:
        ctx = get_context()
        return {"status": "ok", "db": ctx.settings.db, "profile": ctx.profile.name}

    @api.get("/models", summary="The active model of each kind")
    def models() -> dict[str, Any]:
        ctx = get_context()
        p = ctx.profile
        return {
            "profile": p.name,
            "reason": ctx.profile_reason,
            "image_encoders": list(p.image_encoders),
            "text_to_image": p.text_to_image,
            "image_to_image": p.image_to_image,
            "catalogue": {"photos": p.image_model("product"), "words": p.words_model("product"), "fills": list(p.fills("product"))},
            "video": {"words": p.words_model("video"), "fills": list(p.fills("video"))},
            "audio": p.audio,
            "audio_text": p.sound_tags_text,
            "text": ctx.text_encoder_choice()[0],
            "transcriber": ctx.settings.transcriber,
        }

    class ModelChoice(BaseModel):
        kind: str = Field(description="photos, photos-text, catalogue, videos, sounds, sounds-text or text")
        encoder: str = Field(description="an encoder id, e.g. open_clip:ViT-B-16-SigLIP/webli")

    @api.post("/models", summary="Switch the model of a kind: fill its collection from the stored sources, then cut over", status_code=202)
    def use_model(body: ModelChoice) -> dict[str, Any]:
        from encoders import get_encoder
        from encoders.profiles import choice_fields, choice_kind

        ctx = get_context()
        kind = choice_kind(body.kind)
        enc = get_encoder(body.encoder, ctx.device)
        choice_fields(kind, enc.spec)  # a model that cannot serve the kind is refused before the job
        if not enc.weights_available():
            enc.load()  # "weights … not found; run `mmsearch models pull …`"
        return get_jobs().submit("models", [kind, body.encoder], label=f"{kind} → {body.encoder}").to_json()

    # -- search ---------------------------------------------------------------------------
    class TextQuery(BaseModel):
        q: str = Field(description="the words to search for")
        kind: str = Field("image", description="image, product, audio, video or doc")
        k: int = Field(10, ge=1, le=200)

    @api.post("/search/text", summary="Search by words")
    def search_text(query: TextQuery) -> dict[str, Any]:
        if query.kind not in TEXT_KINDS:
            raise QueryError(f"kind must be one of {', '.join(TEXT_KINDS)}")
        hits = get_context().engine.search_text(query.q, kind=query.kind, k=query.k)
        return hits_json(hits, query.kind, "text")

    @api.get("/search", summary="Search by words (GET form)")
    def search_get(q: str, kind: str = "image", k: int = 10) -> dict[str, Any]:
        return search_text(TextQuery(q=q, kind=kind, k=k))

    @api.post("/search/image", summary="Search by an uploaded photo")
    async def search_image(file: UploadFile = File(...), k: int = Form(10), encoder: str | None = Form(None)) -> dict[str, Any]:
        from app.search.queries import load_query_image

        data = await read_capped(file, settings_max_bytes())
        image = load_query_image(data)
        hits = get_context().engine.search_image(image, k=k, encoder_id=encoder or None)
        return hits_json(hits, "image", "image", encoder or None)

    @api.post("/search/audio", summary="Search by an uploaded sound clip")
    async def search_audio(file: UploadFile = File(...), k: int = Form(10), encoder: str | None = Form(None)) -> dict[str, Any]:
        data = await read_capped(file, settings_max_bytes())
        hits = get_context().engine.search_audio(data, k=k, encoder_id=encoder or None)
        return hits_json(hits, "audio", "audio", encoder or None)

    @api.get("/video/moments", summary="Moments of indexed videos that match words (frames and speech)")
    def video_moments(q: str, k: int = 10) -> dict[str, Any]:
        return hits_json(get_context().engine.search_text(q, kind="video", k=k), "video", "text")

    @api.get("/items/{item_id}/similar", summary="Catalogue items that look like an item, optionally cheaper")
    def similar(item_id: str, k: int = 10, cheaper: bool = False, same_category: bool = True, max_price: float | None = None) -> dict[str, Any]:
        from app.search.catalogue import Catalogue, PriceQuery

        ctx = get_context()
        cat = Catalogue(ctx.store, ctx.profile, ctx.device)
        result = cat.similar(item_id, k=k, query=PriceQuery(cheaper=cheaper, max_price=max_price), same_category=same_category)
        return {
            "anchor": result.anchor.to_json() if result.anchor else None,
            "hits": [h.to_json() for h in result.hits],
            "message": result.message(),
        }

    class Question(BaseModel):
        question: str
        k: int = Field(5, ge=1, le=50)
        mode: str = Field("hybrid", description="hybrid, dense or bm25")
        llm: str | None = Field(None, description="auto (default), extractive, ollama[:MODEL] or openai:MODEL, at the server's configured URL")
        model: str | None = Field(None, description="the language model's name, if not given in `llm`")

    @api.post("/ask", summary="Ask the indexed documents and transcripts (streamed as JSON lines)")
    def ask(body: Question) -> StreamingResponse:
        from app.answer.ask import ask_stream
        from app.search.queries import clean_text_query

        clean_text_query(body.question)
        ctx = get_context()
        if body.mode not in ("hybrid", "dense", "bm25"):
            raise QueryError("mode must be hybrid, dense or bm25")
        stream = ask_stream(body.question, ctx.engine.retriever(mode=body.mode), k=body.k, llm=body.llm, model=body.model, settings=ctx.settings)

        def lines() -> Iterator[bytes]:
            yield json.dumps({"type": "citations", "citations": [h.to_json() for h in stream.hits]}).encode() + b"\n"
            try:
                for piece in stream:
                    yield json.dumps({"type": "text", "text": piece}, ensure_ascii=False).encode() + b"\n"
                yield json.dumps({"type": "answer", **stream.answer().to_json()}, ensure_ascii=False).encode() + b"\n"
            except Exception as exc:  # the stream has started: say it in the stream
                yield json.dumps({"type": "error", "detail": user_message(exc)}).encode() + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    # -- index jobs -----------------------------------------------------------------------
    class PathJob(BaseModel):
        kind: str = Field(description="images, audio, video, docs or catalogue")
        paths: list[str] = Field(description="absolute paths on the server machine, inside the library folders")

    def job_or_404(job_id: str) -> Any:
        job = get_jobs().get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job

    @api.post("/jobs", summary="Index files or folders that are on the server machine", status_code=202)
    def submit_paths(body: PathJob, request: Request) -> dict[str, Any]:
        if body.kind not in KINDS:
            raise LibraryError(f"kind must be one of {', '.join(KINDS)}")
        if not body.paths:
            raise LibraryError("give at least one path")
        ctx = get_context()
        paths, skipped = [], []
        for raw in body.paths:
            if request.scope.get(LOCAL):  # the server's own user, through the CLI: as the CLI would
                paths.append(str(Path(raw).expanduser().resolve()))
                continue
            found, escapes = confine(raw, ctx.settings.library_roots)
            paths += [str(p) for p in found]
            skipped += escapes
        return get_jobs().submit(body.kind, paths, skipped=skipped).to_json()

    @api.post("/jobs/upload", summary="Upload files and index them", status_code=202)
    async def submit_upload(kind: str = Form(...), files: list[UploadFile] = File(...)) -> dict[str, Any]:
        if kind not in KINDS:
            raise LibraryError(f"kind must be one of {', '.join(KINDS)}")
        ctx = get_context()
        limit = settings_max_bytes()
        named = []
        for upload in files:
            try:
                named.append((upload.filename or "", await read_capped(upload, limit)))
            except LibraryError:
                named.append((upload.filename or "", None))  # over the limit: refused below, with the others
        saved, skipped = save_uploads(ctx.settings.uploads_dir(), kind, named, limit)
        return get_jobs().submit(kind, [str(p) for p in saved], label=label_for(saved), skipped=skipped).to_json()

    @api.get("/jobs", summary="Every index job, newest first")
    def list_jobs() -> list[dict[str, Any]]:
        return [j.to_json() for j in get_jobs().list()]

    @api.get("/jobs/{job_id}", summary="One job's progress and report")
    def get_job(job_id: str) -> dict[str, Any]:
        return job_or_404(job_id).to_json()

    @api.delete("/jobs/{job_id}", summary="Cancel a job (a running one stops after its current batch)")
    def cancel_job(job_id: str) -> dict[str, Any]:
        job_or_404(job_id)
        return get_jobs().cancel(job_id).to_json()  # type: ignore[union-attr]

    @api.delete("/sources", summary="Remove a file (every item made from it) from the index")
    def remove(source: str) -> dict[str, Any]:
        from app.server.library import remove_source

        removed = remove_source(get_context().store, source)
        if not removed:
            raise HTTPException(404, f"nothing indexed from {source}")
        return {"source": source, "removed": removed}

    return api
