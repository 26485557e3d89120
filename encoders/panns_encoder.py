"""PANNs CNN14 (Kong et al. 2020) via `panns-inference`: a 2048-d embedding and 527 AudioSet
tag scores per clip (32 kHz mono), plus a tag bridge for text → sound search.

Weights (`Cnn14_mAP=0.431.pth`, ~330 MB) are not packaged: they are looked up at the
`checkpoint_path` given, `MMSEARCH_WEIGHTS_PANNS_CNN14` (a file or a folder), the mmsearch
cache (`mmsearch models pull panns:Cnn14`), then panns-inference's own `~/panns_data/`.
Nothing downloads at load time. `panns:Cnn14/random` runs the same code with random
weights (tests, benchmarks).

The model class is imported from panns_inference's `models.py` without running the
package's `__init__`, which shells out to `wget` for the label list on import; the 527
AudioSet labels ship with mmsearch (encoders/data/audioset_labels.csv, from Google's
AudioSet ontology, CC BY 4.0).

The tag bridge is built from encoders handed in (the registry builds them); `text_bridge`
gets the shared bridge through the `lookup` the registry gives, so this module never
imports the registry.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import logging
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import (
    Encoder,
    EncoderError,
    EncoderLookup,
    EncoderSpec,
    Labels,
    WeightsNotFoundError,
)
from encoders.ids import PANNS_ID, PANNS_RANDOM_ID, tag_bridge_id
from encoders.label_bridge import cached_label_vectors, weighted_label_vectors
from encoders.pull import download_url, find_model_file
from encoders.weights import cache_path, explicit_weights, override_env_var

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "Cnn14_mAP=0.431.pth"
CHECKPOINT_URL = "https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1"
SAMPLE_RATE = 32000
MIN_SAMPLES = SAMPLE_RATE  # CNN14 pools time 32×: pad clips shorter than 1 s
LABELS_CSV = Path(__file__).parent / "data" / "audioset_labels.csv"
_PKG_ALIAS = "_mmsearch_panns_inference"


def audioset_labels() -> list[str]:
    """The 527 AudioSet class names in CNN14's output order."""
    with open(LABELS_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    labels = [r["display_name"] for r in sorted(rows, key=lambda r: int(r["index"]))]
    if len(labels) != 527:
        raise EncoderError(f"{LABELS_CSV} holds {len(labels)} labels, expected 527")
    return labels


def panns_models_module() -> types.ModuleType:
    """panns_inference/models.py, imported under a private package name so that the
    package's `__init__` (which runs `wget` on import) never executes."""
    name = f"{_PKG_ALIAS}.models"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("panns_inference")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError("PANNs needs the panns-inference package: pip install panns-inference")
    pkg = types.ModuleType(_PKG_ALIAS)
    pkg.__path__ = list(spec.submodule_search_locations)  # type: ignore[attr-defined]
    sys.modules[_PKG_ALIAS] = pkg
    os.environ.setdefault("MPLBACKEND", "Agg")  # models.py imports matplotlib.pyplot
    return importlib.import_module(name)


def _default_panns_path() -> Path:
    return Path.home() / "panns_data" / CHECKPOINT_FILE


def _load_state_dict(path: Path) -> dict[str, Any]:
    """The checkpoint's `model` entry (or a plain state dict), loaded without running pickled code."""
    import torch

    allowed: list[Any] = [np.ndarray, np.dtype]
    try:
        from numpy._core.multiarray import _reconstruct, scalar

        allowed += [(_reconstruct, "numpy.core.multiarray._reconstruct"), (scalar, "numpy.core.multiarray.scalar"), _reconstruct, scalar]
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]

        allowed += [_reconstruct, scalar]
    allowed += [type(np.dtype(t)) for t in ("float32", "float64", "int64", "int32", "bool")]
    with torch.serialization.safe_globals(allowed):
        obj = torch.load(path, map_location="cpu", weights_only=True)
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise ValueError("not a PyTorch state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


class PannsEncoder(Encoder):
    """Clips (mono float32 at 32 kHz) → 2048-d CNN14 embeddings; `tags()` gives AudioSet labels.

    `lookup` (the registry's `get_encoder`) lets `text_bridge` return the shared tag bridge;
    without it (an encoder built directly) the bridge is built here, with its own text model.
    """

    sample_rate = SAMPLE_RATE
    start_offsets_s: tuple[float, ...] = (0.0,)
    cpu_batch_size = 4
    gpu_batch_size = 32
    has_tags = True

    def __init__(
        self,
        pretrained: bool = True,
        checkpoint_path: str | Path | None = None,
        device: str = "auto",
        batch_size: int | None = None,
        lookup: EncoderLookup | None = None,
    ) -> None:
        super().__init__(device=device, batch_size=batch_size)
        self.lookup = lookup
        self.pretrained = pretrained
        self.checkpoint_path = Path(checkpoint_path).expanduser() if checkpoint_path else None
        self.spec = EncoderSpec(
            id=PANNS_ID if pretrained else PANNS_RANDOM_ID,
            dim=2048,
            document_kinds=("audio",),
            query_kinds=("audio",),
            description="PANNs CNN14 (AudioSet), 2048-d + 527 tags" + ("" if pretrained else " — random weights"),
            extra={"sample_rate": SAMPLE_RATE},
        )
        self._model = None
        self._labels: list[str] | None = None
        # The tag bridge asks for the scores of the batch just embedded: keep them (holding
        # the arrays themselves, so identity comparison stays sound).
        self._last: tuple[list[Any], np.ndarray, np.ndarray] | None = None

    # -- weights -----------------------------------------------------------------
    def _weights_path(self) -> Path | None:
        if self.checkpoint_path is not None:
            return self.checkpoint_path if self.checkpoint_path.is_file() else None
        found = find_model_file(PANNS_ID, (CHECKPOINT_FILE,))
        if found is not None or explicit_weights(PANNS_ID) is not None:
            return found
        default = _default_panns_path()
        return default if default.is_file() and default.stat().st_size > 3e8 else None

    def weights_available(self) -> bool:
        """True when the checkpoint is on this machine (always, for random weights)."""
        return not self.pretrained or self._weights_path() is not None

    def pull(self) -> Path | None:
        """Download the checkpoint into the mmsearch cache (or from `MMSEARCH_MODELS_MIRROR`),
        resuming an interrupted download; Zenodo publishes no checksum in the URL, so the size
        is checked, and `load` reads it as a state dict (needs a network)."""
        if not self.pretrained:
            return None
        download_url(CHECKPOINT_URL, cache_path(PANNS_ID, CHECKPOINT_FILE))
        path = self._weights_path()
        if path is None:
            raise WeightsNotFoundError(PANNS_ID, override_env_var(PANNS_ID), "downloaded, but not where mmsearch looks")
        return path

    def _load(self) -> None:
        import torch

        env = override_env_var(PANNS_ID)
        path = None
        if self.pretrained:
            path = self._weights_path()
            if path is None:
                where = f"{self.checkpoint_path} does not exist" if self.checkpoint_path else f"looked in ${env}, the mmsearch cache and ~/panns_data/"
                raise WeightsNotFoundError(PANNS_ID, env, where)
        models = panns_models_module()
        with torch.random.fork_rng(devices=[]):  # random weights are the same in every run
            torch.manual_seed(0)
            model = models.Cnn14(
                sample_rate=SAMPLE_RATE, window_size=1024, hop_size=320, mel_bins=64, fmin=50, fmax=14000, classes_num=527
            )
        if path is not None:
            try:
                state = _load_state_dict(path)
                model.load_state_dict(state)
            except Exception as exc:  # unreadable, foreign or truncated checkpoint
                raise WeightsNotFoundError(PANNS_ID, env, f"{path} is not a CNN14 checkpoint: {str(exc).splitlines()[0][:160]}") from exc
            self.weights_source = str(path)
        else:
            self.weights_source = "random (tests)"
        self._model = model.eval().to(self.device)

    # -- embedding -----------------------------------------------------------------
    def forward(self, items: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings (n, 2048) and tag probabilities (n, 527) for mono 32 kHz clips."""
        last = self._last
        if last is not None and len(last[0]) == len(items) and all(a is b for a, b in zip(last[0], items)):
            return last[1], last[2]
        self.load()
        import torch

        emb = np.zeros((len(items), 2048), dtype=np.float32)
        probs = np.zeros((len(items), 527), dtype=np.float32)
        clips = []
        for it in items:
            x = np.asarray(it, dtype=np.float32).reshape(-1)
            if x.size < MIN_SAMPLES:
                x = np.pad(x, (0, MIN_SAMPLES - x.size))
            clips.append(x)
        by_len: dict[int, list[int]] = {}
        for i, x in enumerate(clips):
            by_len.setdefault(x.size, []).append(i)
        with torch.inference_mode():
            for idx in by_len.values():
                for s in range(0, len(idx), self.batch_size):
                    part = idx[s : s + self.batch_size]
                    batch = torch.from_numpy(np.stack([clips[i] for i in part])).to(self.device)
                    out = self._model(batch, None)
                    emb[part] = out["embedding"].float().cpu().numpy()
                    probs[part] = out["clipwise_output"].float().cpu().numpy()
        self._last = (list(items), emb, probs)
        return emb, probs

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        return self.forward(items)[0]

    def labels(self) -> list[str]:
        """The 527 AudioSet class names, in the order of the tag scores."""
        if self._labels is None:
            self._labels = audioset_labels()
        return self._labels

    def tags(self, items: list[Any], top: int = 5, min_score: float = 0.0) -> Labels:
        """Top AudioSet labels with their scores, per clip."""
        _, probs = self.forward(items)
        names = self.labels()
        out = []
        for row in probs:
            idx = np.argsort(-row)[:top]
            out.append([(names[i], float(row[i])) for i in idx if row[i] >= min_score])
        return out

    def text_bridge(self, text_encoder_id: str | None = None) -> Encoder:
        """The encoder that puts this model's tags in a text model's space (text → sound),
        batching like this encoder so both share one forward pass per chunk."""
        bridge_id = tag_bridge_id(self.spec.id, text_encoder_id)
        if self.lookup is not None:
            return self.lookup(bridge_id, self.device_request, self.batch_size)
        from encoders.sentence_transformers_encoder import SentenceTransformerEncoder

        text_name = bridge_id.rpartition("+")[2]
        model, _, dim = text_name.partition("@")
        text = SentenceTransformerEncoder(model, dim=int(dim) if dim else None, device=self.device_request)
        return PannsTagBridgeEncoder(self, text, device=self.device_request)


class PannsTagBridgeEncoder(Encoder):
    """Text → sound without a shared text-audio model (like the image label bridge).

    A clip's vector is the score-weighted sum of text embeddings of its top AudioSet labels;
    a text query is embedded by the same text model and lands in the same space. It knows
    only AudioSet's 527 classes: "dog barking", "church bell", "applause" work.
    """

    cpu_batch_size = PannsEncoder.cpu_batch_size  # same chunks as the audio encoder: one forward pass
    has_tags = True
    _batch_parts = ("audio_encoder",)  # `with_batch_size` keeps the chunks equal

    def __init__(self, audio_encoder: PannsEncoder, text_encoder: Encoder, top_k: int = 5, device: str = "auto", batch_size: int | None = None) -> None:
        super().__init__(device=device, batch_size=batch_size or audio_encoder.batch_size)
        self.audio_encoder = audio_encoder
        self.text_encoder = text_encoder
        self.top_k = top_k
        self.sample_rate = audio_encoder.sample_rate
        self.start_offsets_s = audio_encoder.start_offsets_s
        self.spec = EncoderSpec(
            id=tag_bridge_id(audio_encoder.spec.id, text_encoder.spec.id),
            dim=text_encoder.spec.dim,
            document_kinds=("audio",),
            query_kinds=("text",),
            description=f"AudioSet tags of {audio_encoder.spec.id}, embedded with {text_encoder.spec.id} (text → sound)",
            extra={"sample_rate": audio_encoder.sample_rate},
        )
        self._label_vecs: np.ndarray | None = None

    def weights_available(self) -> bool:
        """True when both the audio and the text model load without a network."""
        return self.audio_encoder.weights_available() and self.text_encoder.weights_available()

    def parts(self) -> tuple[Encoder, ...]:
        """The audio encoder and the text encoder."""
        return (self.audio_encoder, self.text_encoder)

    def _load(self) -> None:
        # Queries need only the text model; the audio side loads on the first document batch.
        self.text_encoder.load()
        self.weights_source = f"{self.audio_encoder.spec.id} + {self.text_encoder.weights_source}"

    def tags(self, items: list[Any], top: int = 5, min_score: float = 0.0) -> Labels:
        """The audio encoder's AudioSet tags for the clips."""
        return self.audio_encoder.tags(items, top=top, min_score=min_score)

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        if self._label_vecs is None:
            self._label_vecs = cached_label_vectors(self.text_encoder, self.audio_encoder.labels(), "audioset_labels")
        _, probs = self.audio_encoder.forward(items)
        return weighted_label_vectors(probs, self._label_vecs, self.top_k)

    def _embed_queries_batch(self, items: list[Any]) -> np.ndarray:
        return self.text_encoder.embed_queries([str(t) for t in items])
