"""aiSFX sound-effect embeddings (512-d), offline: the weights ship in the `aisfx` wheel.

Ma & Lerch, "Representation Learning for the Automatic Indexing of Sound Effects
Libraries", ISMIR 2022; model and checkpoint © A. B. Ma and A. Lerch, CC BY 4.0.
We use only the package's checkpoint and its `EmbeddingNet` (aisfx/models/cnn2d.py)
and compute the input ourselves: its own librosa helper forgets to transpose, and its
metadata pins numpy 1.23 / librosa 0.9.

Input, as in the paper: 44.1 kHz mono, peak-normalised; 2048-sample Hann frames every
1024 samples; 96 HTK mel bands (0–22.05 kHz, unit-sum triangles) of the power spectrum;
log10(1e4·x + 1) scaled by the paper's maximum; shaped (frames, 96) and padded to at
least 100 frames (~2.3 s), below which the model was never run. The network max-pools
over time, so any longer window yields one 512-d vector.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import Encoder, EncoderSpec, WeightsNotFoundError
from encoders.ids import AISFX_ID
from encoders.weights import local_weights, override_env_var

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
N_MELS = 96
MIN_FRAMES = 100
SPEC_MAX = 9.457798957824707  # the paper's normalisation ('original'): min 0, max this
_WEIGHTS_FILE = "checkpoint.pth"


def packaged_aisfx_path() -> Path | None:
    """aisfx/models/checkpoint.pth inside the installed wheel (found without importing it)."""
    try:
        spec = importlib.util.find_spec("aisfx")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "models" / _WEIGHTS_FILE
    return p if p.exists() else None


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """HTK-mel triangular filters (n_mels, n_fft//2+1), each summing to 1 (librosa `htk=True, norm=1`)."""
    fmax = sr / 2 if fmax is None else fmax

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)

    fft_freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    points = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(points)
    ramps = points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-10)
    return weights.astype(np.float32)


def _load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint is a pickled (state_dict, ds_dict); load it without running pickled code."""
    import torch

    allowed: list[Any] = [np.dtype, type(np.dtype("int64")), type(np.dtype("float64"))]
    try:
        from numpy._core.multiarray import scalar  # numpy ≥ 2

        allowed.append((scalar, "numpy.core.multiarray.scalar"))
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]

        allowed.append(scalar)
    with torch.serialization.safe_globals(allowed):
        obj = torch.load(path, map_location="cpu", weights_only=True)
    state = obj[0] if isinstance(obj, (tuple, list)) else obj
    if not isinstance(state, dict):
        raise ValueError("not a state dict")
    return state


class AisfxEncoder(Encoder):
    """Sound clips (mono float32 at 44.1 kHz) → 512-d aiSFX embeddings. No tags."""

    sample_rate = SAMPLE_RATE
    # Library clips are also embedded starting 50…250 ms in, and a query the same way; the best
    # pair counts. Measured on the freedesktop sounds: a copy with its first 50–300 ms cut ranks
    # its source first in 165/167 cases (154/167 without), and the reverse direction likewise.
    start_offsets_s: tuple[float, ...] = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25)
    cpu_batch_size = 8
    has_tags = False  # and so no `text_bridge`: aiSFX has no labels to search by words

    def __init__(self, device: str = "auto", batch_size: int | None = None) -> None:
        super().__init__(device=device, batch_size=batch_size)
        self.spec = EncoderSpec(
            id=AISFX_ID,
            dim=512,
            document_kinds=("audio",),
            query_kinds=("audio",),
            description="aiSFX sound-effects embeddings (Ma & Lerch, ISMIR 2022, CC BY 4.0), offline weights",
            extra={"sample_rate": SAMPLE_RATE},
        )
        self._model = None
        self._fb = None
        self._window = None

    def _weights_path(self) -> Path | None:
        return local_weights(AISFX_ID, _WEIGHTS_FILE) or packaged_aisfx_path()

    def weights_available(self) -> bool:
        return self._weights_path() is not None

    def _load(self) -> None:
        import torch

        path = self._weights_path()
        if path is None:
            raise WeightsNotFoundError(AISFX_ID, override_env_var(AISFX_ID), "pip install --no-deps aisfx==0.1.2")
        try:
            from aisfx.models.cnn2d import EmbeddingNet
        except ImportError as exc:
            raise WeightsNotFoundError(AISFX_ID, override_env_var(AISFX_ID), f"the aisfx model code is missing: {exc}") from exc
        try:
            state = _load_checkpoint(path)
        except Exception as exc:  # unreadable or foreign checkpoint
            raise WeightsNotFoundError(AISFX_ID, override_env_var(AISFX_ID), f"{path}: {str(exc).splitlines()[0][:200]}") from exc
        prefix = "embedding_net."
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)} or state
        net = EmbeddingNet("max", 3, 1, 64)
        try:
            net.load_state_dict(sub)
        except RuntimeError as exc:
            raise WeightsNotFoundError(AISFX_ID, override_env_var(AISFX_ID), f"{path} does not fit the aiSFX network") from exc
        self._model = net.eval().to(self.device)
        self._fb = torch.from_numpy(mel_filterbank()).to(self.device)
        self._window = torch.hann_window(N_FFT, device=self.device)
        self.weights_source = str(path)

    def features(self, samples: np.ndarray) -> Any:
        """The model input for one clip: a (frames ≥ 100, 96) tensor."""
        import torch

        x = torch.as_tensor(np.ascontiguousarray(samples, dtype=np.float32), device=self.device).reshape(-1)
        if x.numel() < N_FFT:
            x = torch.nn.functional.pad(x, (0, N_FFT - x.numel()))
        peak = x.abs().max()
        if peak > 0:
            x = x / peak
        spec = torch.stft(x, N_FFT, HOP, window=self._window, center=True, pad_mode="constant", return_complex=True)
        mel = self._fb @ spec.abs().pow(2)
        mel = torch.log10(mel * 1e4 + 1.0) / SPEC_MAX
        mel = mel.T  # (frames, bands): the transpose aisfx's own helper forgets
        if mel.shape[0] < MIN_FRAMES:
            mel = torch.nn.functional.pad(mel, (0, 0, 0, MIN_FRAMES - mel.shape[0]))
        return mel

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        import torch

        feats = [self.features(np.asarray(it)) for it in items]
        out = np.zeros((len(items), self.spec.dim), dtype=np.float32)
        # Equal lengths share a forward pass; zero-padding would change the max over time.
        by_len: dict[int, list[int]] = {}
        for i, f in enumerate(feats):
            by_len.setdefault(f.shape[0], []).append(i)
        with torch.inference_mode():
            for idx in by_len.values():
                batch = torch.stack([feats[i] for i in idx])
                out[idx] = self._model(batch).float().cpu().numpy()
        return out
