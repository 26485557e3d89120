"""The Encoder interface shared by every model family.

An encoder turns documents (images, texts, sounds) and queries into L2-normalised
float32 vectors. Models load lazily, on first use, so building an encoder is cheap.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoders.batch_plan import BatchSizePlan
from encoders.frozen import FrozenForward
from encoders.heap import imported, long_lived

log = logging.getLogger(__name__)

# Labels with their scores, per document: [[("Dog", 0.82), ("Bark", 0.61)], …]
Labels = list[list[tuple[str, float]]]
# `get_encoder(id, device, batch_size)`, handed to encoders that build others by id, so that
# no encoder module imports the registry.
EncoderLookup = Callable[[str, str, "int | None"], "Encoder"]
_VIEWS_LOCK = threading.RLock()  # a composite's view takes its parts' views inside it


class EncoderError(RuntimeError):
    """A user-facing encoder problem; the message is one clear sentence."""


class WeightsNotFoundError(EncoderError):
    """The model's weights are neither local nor downloadable here."""

    def __init__(self, model: str, env_var: str | None = None, detail: str = "") -> None:
        fix = f"run `mmsearch models pull {model}` where a network is available"
        if env_var:
            fix += f", or set {env_var} to a local weights file"
        msg = f"weights for {model} not found; {fix}."
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)
        self.model = model


@dataclass(frozen=True)
class EncoderSpec:
    """What an encoder is: its id, vector size and what it can embed."""

    id: str
    dim: int
    document_kinds: tuple[str, ...]  # what embed_documents accepts: "image", "text", "audio"
    query_kinds: tuple[str, ...]  # what embed_queries accepts
    metric: str = "COSINE"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, eq=False)
class PreparedInput:
    """A document already turned into its model input by `Encoder.prepare_document`."""

    key: str  # the `prepare_key` of the encoders that accept it
    tensor: Any


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation that leaves all-zero rows at zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


# torchvision Compose → (steps before ToTensor, Normalize mean, std), or None where it does not fit
_SPLIT_TRANSFORMS: "weakref.WeakKeyDictionary[Any, tuple[list[Any], np.ndarray, np.ndarray] | None]" = weakref.WeakKeyDictionary()


def pil_model_input(transform: Any, image: Any) -> Any:
    """`transform(image)` for a PIL image, with its final ToTensor + Normalize done in numpy.

    Same float32 values bit for bit (the same IEEE operations: x / 255, − mean, / std), but
    without torch's intra-op threads: on a decode worker those start an OpenMP team of their
    own beside the model's, and on a busy CPU each tiny parallel op then waits for a
    descheduled thread (a 224-px input took 130 ms instead of 4 at load 8 on 2 cores).
    Transforms of another shape are applied as they are."""
    import torch

    split = _split_transform(transform)
    if split is None or getattr(image, "mode", None) != "RGB":
        return transform(image)
    steps, mean, std = split
    for step in steps:
        image = step(image)
    if getattr(image, "mode", None) != "RGB":
        return transform(image)
    x = np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1), dtype=np.float32)
    x /= np.float32(255)
    x -= mean
    x /= std
    return torch.from_numpy(x)


def rgb(image: Any) -> Any:
    """`image` in RGB mode: itself when it already is (PIL's `convert` would copy it)."""
    return image if getattr(image, "mode", None) == "RGB" else image.convert("RGB")


def _split_transform(transform: Any) -> tuple[list[Any], np.ndarray, np.ndarray] | None:
    try:
        return _SPLIT_TRANSFORMS[transform]
    except (KeyError, TypeError):
        pass
    split = None
    steps = list(getattr(transform, "transforms", None) or [])
    names = [type(s).__name__ for s in steps]
    if len(steps) >= 2 and names[-2] in ("ToTensor", "MaybeToTensor") and names[-1] == "Normalize" and "ToTensor" not in "".join(names[:-2]):
        import torch

        norm = steps[-1]
        mean = torch.as_tensor(norm.mean, dtype=torch.float32).numpy().reshape(-1, 1, 1)
        std = torch.as_tensor(norm.std, dtype=torch.float32).numpy().reshape(-1, 1, 1)
        if mean.size == 3 and std.size == 3 and not getattr(norm, "inplace", False):
            split = (steps[:-2], mean.copy(), std.copy())
    try:
        _SPLIT_TRANSFORMS[transform] = split
    except TypeError:  # not weak-referenceable: nothing cached
        pass
    return split


def resolve_device(device: str = "auto") -> str:
    """Map "auto" to cuda, then mps, then cpu; pass explicit devices through."""
    if device != "auto":
        return device
    torch = imported("torch")  # the process's first import of torch, most often

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class Encoder:
    """Base class: lazy loading, batching and normalisation.

    Subclasses implement `_load()` and `_embed_documents_batch` / `_embed_queries_batch`.
    Optional capabilities (tags, a text bridge, sample rate, …) are declared here with safe
    defaults, so callers read `enc.sample_rate` or call `enc.tags(…)` on any encoder.

    An encoder from `get_encoder` is shared by every caller: do not mutate it. A caller
    that wants its own batch size takes `enc.with_batch_size(n)`, a view that shares
    the loaded model.
    """

    spec: EncoderSpec
    # Measured per model on 2 CPU cores (bench/index_images.py): depthwise CNNs run
    # fastest in small batches on a CPU, transformers in larger ones; GPUs want big batches.
    cpu_batch_size: int = 32
    gpu_batch_size: int = 128
    # Candidate batch sizes on a CPU, chosen among by measurement on the real inputs
    # (`BatchSizePlan`) unless the caller fixes a size; (): always `cpu_batch_size`.
    cpu_batch_sizes: tuple[int, ...] = ()
    # CNNs run faster on channels-last tensors (oneDNN on a CPU: EfficientNet-Lite0 2 at a
    # time 75 → 85 images/s, 8 at a time 47 → 72; tensor cores on a GPU).
    channels_last: bool = False
    # CNNs whose forward a long CPU run freezes (`encoders.frozen`: batch norm folded, oneDNN
    # fusions; ResNet50 1.2×, EfficientNet-Lite0 1.6× here); they run it through `self._forward`.
    freezes_on_cpu: bool = False
    # Encoders whose `prepare_document` gives the same input share a key, so an indexer
    # prepares each document once for all of them; None: nothing to prepare.
    prepare_key: str | None = None
    # The side of the square image the model takes, in pixels: photos need be decoded no larger
    # than what this needs (`indexers.image_io.open_image`'s `short_side`).
    image_side: int = 224

    # -- optional capabilities (safe defaults; subclasses override) ---------------
    sample_rate: int | None = None
    """Rate (Hz) of the mono clips an audio encoder embeds; None: not said (indexers assume 16 kHz)."""
    start_offsets_s: tuple[float, ...] = (0.0,)
    """Start offsets (s) at which each audio window is also embedded; (0.0,): the window only."""
    has_tags: bool = False
    """True when `tags()` gives labels for the documents (PANNs: AudioSet classes)."""
    image_encoder: Encoder | None = None
    """The image model a composite encoder runs its documents through (label bridge); else None."""

    # Sub-encoders (attribute names) that must batch like this encoder, so both see the same
    # chunks and share one forward pass; `with_batch_size` gives them the same batch size.
    _batch_parts: tuple[str, ...] = ()
    _origin: Encoder | None = None  # the shared encoder this one is a batch-size view of
    _model: Any = None  # the loaded model (subclasses)

    def __init__(self, device: str = "auto", batch_size: int | None = None) -> None:
        self.device_request = device
        self.batch_size = batch_size  # None: the model's size for the device, resolved on first use
        self._loaded = False
        self._lock = threading.Lock()
        self.weights_source: str = "not loaded"
        self._views: dict[int, Encoder] = {}
        self._forward = FrozenForward()  # shared with the batch-size views (a shallow copy)

    @property
    def batch_size(self) -> int:
        """Items per forward pass: the caller's, else the model's size for its device. Resolved on
        first use, because resolving `device="auto"` imports torch (a text query on the numpy
        MiniLM path never does). Kept in `__dict__["batch_size"]`, which views keep as their own."""
        size = self.__dict__.get("batch_size")
        if not size:
            size = self.__dict__["batch_size"] = self.cpu_batch_size if self.device == "cpu" else self.gpu_batch_size
        return size

    @batch_size.setter
    def batch_size(self, value: int | None) -> None:
        self.__dict__["batch_size"] = value
        self.__dict__["_batch_size_given"] = bool(value)

    @property
    def adapts_batch_size(self) -> bool:
        """True when this encoder picks its CPU batch size by measurement (it has candidate
        sizes and no caller fixed one); on other devices it runs `batch_size` regardless."""
        return bool(self.cpu_batch_sizes) and not self.__dict__.get("_batch_size_given")

    @property
    def batch_plan(self) -> BatchSizePlan | None:
        """The measured choice of batch size when this encoder adapts it on a CPU; else None."""
        if not self.adapts_batch_size or self.device != "cpu":
            return None
        plan = self.__dict__.get("_batch_plan")
        if plan is None:
            with _VIEWS_LOCK:
                plan = self.__dict__.get("_batch_plan")
                if plan is None:
                    import torch

                    plan = self.__dict__["_batch_plan"] = BatchSizePlan(self.cpu_batch_sizes, torch.get_num_threads)
        return plan

    def _chunk_sizes(self, n: int) -> Iterable[int]:
        """Sizes of the forward passes that embed `n` items: the plan's (each chosen after the
        previous pass was timed by `_measured`), else `batch_size` each."""
        plan = self.batch_plan
        if plan is not None:
            return plan.chunks(n)
        size = self.batch_size
        return [min(size, n - i) for i in range(0, n, size)]

    def _measured(self, fn: Callable[[list[Any]], Any], chunk: list[Any]) -> Any:
        """`fn(chunk)`, one forward pass, its time told to the batch plan where there is one."""
        plan = self.batch_plan
        if plan is None:
            return fn(chunk)
        frozen_before = self._forward.is_frozen
        t0 = time.perf_counter()
        out = fn(chunk)
        if self._forward.is_frozen == frozen_before:  # the pass that froze the forward timed the freezing
            plan.record(len(chunk), time.perf_counter() - t0)
        return out

    def expect_documents(self, n: int) -> None:
        """Say that about `n` documents are coming (an indexer's count of files): an encoder
        with a one-time speed-up that pays off over many (a frozen CNN forward) takes it."""
        self._forward.expect(n)  # freezes only where `_use_forward` enabled it
        for part in self.parts():
            part.expect_documents(n)

    @property
    def forward_frozen(self) -> bool:
        """True when this encoder's forward runs as a frozen graph (`encoders.frozen`)."""
        return self._forward.is_frozen and self._forward.allowed

    def allow_freezing(self, allowed: bool) -> None:
        """Let a long CPU run freeze this encoder's forward (the default), or keep it eager from
        now on (a frozen graph is kept for when it is allowed again). Shared with its views."""
        self._forward.allowed = allowed

    def tags(self, items: list[Any], top: int = 5, min_score: float = 0.0) -> Labels | None:
        """Top labels with their scores, per document; None when this encoder has no tags."""
        return None

    def classify(self, images: list[Any], top: int = 5) -> Labels | None:
        """Top class labels with their probabilities, per image; None when it does not classify."""
        return None

    def text_bridge(self, text_encoder_id: str | None = None) -> Encoder | None:
        """The encoder that puts this one's documents in a text model's space (text → sound); None if none."""
        return None

    def pull(self) -> Path | None:
        """Download the weights (needs a network) and return where they are; None: nothing to download."""
        return None

    def parts(self) -> tuple[Encoder, ...]:
        """The encoders a composite encoder is made of (label and tag bridges); () for the others."""
        return ()

    def text_tokenizer(self) -> tuple[Any, int | None] | None:
        """The model's own Hugging Face tokenizer and max sequence length (loads it); None if it has none."""
        return None

    @property
    def embeds_queries_as_documents(self) -> bool:
        """True when a query is embedded exactly as a document (aiSFX, PANNs, the fake encoder)."""
        return type(self)._embed_queries_batch is Encoder._embed_queries_batch

    def parameter_bytes(self) -> int:
        """Memory of the loaded model's parameters, with its parts' (0 before loading)."""
        total = 0
        if hasattr(self._model, "parameters"):
            total += sum(p.numel() * p.element_size() for p in self._model.parameters())
        return total + sum(part.parameter_bytes() for part in self.parts())

    # -- per-caller batch size -------------------------------------------------
    def with_batch_size(self, batch_size: int | None) -> Encoder:
        """This encoder embedding `batch_size` items at a time: a view that shares the loaded
        model, its lock and its caches (one per size, so equal sizes give the same view);
        None, 0 or this encoder's own fixed size give this encoder itself (an encoder that
        adapts its size gives a view fixed at `batch_size`)."""
        if not batch_size or (batch_size == self.batch_size and not self.adapts_batch_size):
            return self
        origin = self._origin or self
        if batch_size == origin.batch_size and not origin.adapts_batch_size:
            return origin
        with _VIEWS_LOCK:
            views = origin.__dict__.setdefault("_views", {})
            view = views.get(batch_size)
            if view is None:
                view = copy.copy(origin)
                view.__dict__.pop("_batch_plan", None)  # a fixed size measures nothing
                view.batch_size = batch_size
                view._origin = origin
                for name in self._batch_parts:
                    setattr(view, name, getattr(origin, name).with_batch_size(batch_size))
                views[batch_size] = view
        return view

    # -- loading -------------------------------------------------------------
    @property
    def device(self) -> str:
        """The device the model runs on ("auto" resolved)."""
        return resolve_device(self.device_request)

    def load(self) -> Encoder:
        """Load the model now (normally done on first embed); a view loads its origin's."""
        origin = self._origin
        if origin is not None:
            if not self._loaded:
                origin.load()
                own = {"batch_size", "_batch_size_given", "_batch_plan", "_origin", *self._batch_parts}
                self.__dict__.update({k: v for k, v in origin.__dict__.items() if k not in own})
            return self
        with self._lock:
            if not self._loaded:
                with long_lived():
                    self._load()
                self._loaded = True
                if log.isEnabledFor(logging.INFO):  # resolving the device may import torch: only when it is said
                    log.info("loaded %s on %s (weights: %s)", self.spec.id, self.device, self.weights_source)
        return self

    def _load(self) -> None:
        raise NotImplementedError

    def weights_available(self) -> bool:
        """True when the weights can be loaded without a network (no download attempted)."""
        return True

    # -- device helpers for subclasses ---------------------------------------
    def _place_model(self, model: Any) -> Any:
        """The model in eval mode on the encoder's device (channels-last where that is faster)."""
        import torch

        model = model.eval().to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def _use_forward(self, module: Any) -> None:
        """Run forward passes through `module` via `self._forward` (frozen on a CPU once a run
        is long enough, for encoders that set `freezes_on_cpu`)."""
        self._forward.use(module, self.freezes_on_cpu and self.device == "cpu")

    def _to_device(self, x: Any) -> Any:
        """A CPU batch on the model's device; on CUDA through pinned memory, without blocking."""
        if self.channels_last and x.dim() == 4:
            import torch

            x = x.contiguous(memory_format=torch.channels_last)
        if self.device == "cuda":
            return x.pin_memory().to(self.device, non_blocking=True)
        return x.to(self.device)

    def _autocast(self) -> Any:
        """Mixed precision on CUDA (bf16 where the GPU has it, else fp16); nothing elsewhere."""
        import contextlib

        if self.device != "cuda":
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)

    # -- preparing inputs ahead of the model ------------------------------------
    def prepare_document(self, item: Any) -> Any:
        """Per-document CPU work (e.g. resize and normalise a decoded image into the model's
        input tensor) that an indexer runs on worker threads while the model embeds the
        previous batch. `embed_documents` accepts the result in place of the item."""
        if self.prepare_key is None:
            return item
        self.load()
        return PreparedInput(self.prepare_key, self._input_tensor(item))

    def _input_tensor(self, item: Any) -> Any:
        """The model's input tensor for one document (encoders with a `prepare_key`)."""
        raise NotImplementedError

    def _finish_input(self, tensor: Any) -> Any:
        """The rest of the preprocessing, on the model's thread: work that would start torch's
        intra-op threads (e.g. resizing a tensor), which must not run on the decode workers."""
        return tensor

    def _stack_inputs(self, items: Sequence[Any]) -> Any:
        """One batch tensor: prepared inputs as they are, other items through `_input_tensor`
        (both finished by `_finish_input`)."""
        import torch

        tensors = []
        for it in items:
            if isinstance(it, PreparedInput):
                if it.key != self.prepare_key:
                    raise EncoderError(f"{self.spec.id} was given an input prepared for {it.key}")
                tensors.append(self._finish_input(it.tensor))
            else:
                tensors.append(self._finish_input(self._input_tensor(it)))
        return torch.stack(tensors)

    # -- embedding -----------------------------------------------------------
    def embed_documents(self, items: Sequence[Any]) -> np.ndarray:
        """Embed documents (images, texts, …) as an (n, dim) unit-norm float32 array."""
        return self._batched(items, self._embed_documents_batch)

    def embed_queries(self, items: Sequence[Any]) -> np.ndarray:
        """Embed queries (text for CLIP/text models, files or images for others)."""
        return self._batched(items, self._embed_queries_batch)

    def _batched(self, items: Sequence[Any], fn) -> np.ndarray:
        items = list(items)
        if not items:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        self.load()
        out = l2_normalise(self._embed_all(items, fn))
        if out.shape != (len(items), self.spec.dim):
            raise EncoderError(f"{self.spec.id} returned shape {out.shape}, expected ({len(items)}, {self.spec.dim})")
        return out

    def _embed_all(self, items: list[Any], fn: Callable[[list[Any]], np.ndarray]) -> np.ndarray:
        """`fn` over `items` in forward-pass chunks (`_chunk_sizes`), concatenated. Encoders
        that chunk inside `fn` themselves (EfficientNet, the label bridge) hand it everything."""
        parts, i = [], 0
        for size in self._chunk_sizes(len(items)):
            parts.append(self._measured(fn, items[i : i + size]))
            i += size
        return np.concatenate(parts, axis=0)

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        raise NotImplementedError

    def _embed_queries_batch(self, items: list[Any]) -> np.ndarray:
        return self._embed_documents_batch(items)
