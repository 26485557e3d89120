"""A numpy forward pass of BERT sentence encoders (all-MiniLM-L6-v2), without torch.

`sentence_transformers:all-MiniLM-L6-v2` is a 6-layer, 384-wide BERT followed by mean pooling.
Importing sentence-transformers costs seconds (transformers, torch, scikit-learn); a query needs
only a WordPiece tokenizer and about 11M multiply-adds per token. This module runs exactly that:

- the model folder's own `tokenizer.json` through the `tokenizers` library (the Rust tokenizer
  that sentence-transformers itself uses), truncated to the model's `max_seq_length` (256 for
  MiniLM, from `sentence_bert_config.json`) as sentence-transformers truncates;
- the `model.safetensors` tensors, memory-mapped (the format is an 8-byte header length, a JSON
  header and raw little-endian arrays; no `safetensors` import needed);
- embeddings → 6 × (self-attention, GELU feed-forward, post-LayerNorm) → mean over the real tokens.

The vectors equal sentence-transformers' (cosine ≥ 0.9999, tests/integration/test_minilm_fast_path.py),
so a collection indexed by either path is searched by the other. `configure(enabled=False)` turns
the fast path off (the benchmarks' baseline; a user never needs it).

Importing this module costs nothing: numpy and tokenizers load in `load_bert`.
"""

from __future__ import annotations

import json
import math
import mmap
import threading
from pathlib import Path
from typing import Any, Sequence

# Calls of up to this many texts always take the numpy path (a query, the sentences of an
# extractive answer): cheaper than importing torch to find the device.
SMALL_CALL = 64
# Whether large document runs on a CPU take it too. No: torch's kernels were faster here for
# 256-token chunks in batches of 32 (bench/cold_cli.py's throughput table: CPU time per text).
DOCUMENTS_ON_CPU = False
BATCH = 32  # texts per forward, sorted by length
_enabled = True
_models: dict[str, "NumpyBert"] = {}
_lock = threading.Lock()


def configure(enabled: bool = True) -> None:
    """Use the numpy path where it applies (default), or never (the benchmarks' baseline)."""
    global _enabled
    _enabled = enabled


def enabled() -> bool:
    """Whether the numpy path is in use."""
    return _enabled


def supported(folder: Path | None) -> bool:
    """True when `folder` holds a BERT sentence-transformers model this module runs exactly:
    safetensors weights, a tokenizer.json, GELU, absolute positions, and mean pooling."""
    if folder is None:
        return False
    try:
        config = json.loads((folder / "config.json").read_text())
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        (folder / "model.safetensors").is_file()
        and (folder / "tokenizer.json").is_file()
        and config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and bool(pooling.get("pooling_mode_mean_tokens"))
        and not any(pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"))
    )


def load_bert(folder: Path) -> "NumpyBert":
    """The model in `folder`, loaded once per process (the weights stay memory-mapped)."""
    key = str(folder.resolve())
    with _lock:
        model = _models.get(key)
        if model is None:
            model = _models[key] = NumpyBert(folder)
        return model


def read_safetensors(path: Path) -> dict[str, Any]:
    """name → read-only numpy array over a memory map of the file (no copy)."""
    import numpy as np

    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    n = int.from_bytes(buf[:8], "little")
    header = json.loads(buf[8 : 8 + n])
    start = 8 + n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = np.dtype(dtypes[info["dtype"]])
        lo, hi = info["data_offsets"]
        arr = np.frombuffer(buf, dtype=dtype, count=(hi - lo) // dtype.itemsize, offset=start + lo)
        tensors[name] = arr.reshape(info["shape"])
    return tensors


class NumpyBert:
    """A BERT encoder with mean pooling, in numpy (float32), from a sentence-transformers folder."""

    def __init__(self, folder: Path) -> None:
        import numpy as np
        from tokenizers import Tokenizer

        self.folder = folder
        config = json.loads((folder / "config.json").read_text())
        try:
            st_config = json.loads((folder / "sentence_bert_config.json").read_text())
        except (OSError, ValueError):
            st_config = {}
        self.max_length = int(st_config.get("max_seq_length") or config.get("max_position_embeddings", 512))
        self.lowercase = bool(st_config.get("do_lower_case", False))
        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dim = self.hidden

        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(self.max_length)  # longest-first, counting [CLS] and [SEP], as transformers does
        self.tokenizer = tok

        w = read_safetensors(folder / "model.safetensors")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
        g = lambda name: w[prefix + name]  # noqa: E731
        self.word = g("embeddings.word_embeddings.weight")
        self.position = g("embeddings.position_embeddings.weight")
        self.token_type0 = np.array(g("embeddings.token_type_embeddings.weight")[0])
        self.emb_ln = (g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([g(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")])  # (3h, h)
            qkv_b = np.concatenate([g(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append(
                (
                    np.ascontiguousarray(qkv_w.T), qkv_b,
                    np.ascontiguousarray(g(p + "attention.output.dense.weight").T), g(p + "attention.output.dense.bias"),
                    (g(p + "attention.output.LayerNorm.weight"), g(p + "attention.output.LayerNorm.bias")),
                    np.ascontiguousarray(g(p + "intermediate.dense.weight").T), g(p + "intermediate.dense.bias"),
                    np.ascontiguousarray(g(p + "output.dense.weight").T), g(p + "output.dense.bias"),
                    (g(p + "output.LayerNorm.weight"), g(p + "output.LayerNorm.bias")),
                )
            )

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """WordPiece ids with [CLS] … [SEP], truncated to `max_length` (inputs stripped, as
        sentence-transformers strips them)."""
        texts = [t.strip() for t in texts]
        if self.lowercase:
            texts = [t.lower() for t in texts]
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def encode(self, texts: Sequence[str], batch_size: int = BATCH) -> Any:
        """(n, hidden) float32 mean-pooled token vectors (not normalised), in input order.
        Texts are batched by length, so little is spent on padding."""
        import numpy as np

        ids = self.token_ids(texts)
        out = np.zeros((len(ids), self.hidden), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        for s in range(0, len(order), batch_size):
            rows = order[s : s + batch_size]
            with _blas_threads(len(rows) * len(ids[rows[0]])):
                out[rows] = self.forward([ids[i] for i in rows])
        return out

    def forward(self, batch: list[list[int]]) -> Any:
        """Mean-pooled last hidden states of one batch of token-id lists."""
        import numpy as np

        n, length = len(batch), max(len(b) for b in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, b in enumerate(batch):
            ids[i, : len(b)] = b
            mask[i, : len(b)] = 1.0
        x = self.word[ids] + self.position[:length] + self.token_type0  # (n, L, h)
        x = _layer_norm(x.reshape(n * length, self.hidden), *self.emb_ln, self.eps)
        # padded keys get the most negative float, as transformers' extended attention mask
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        heads, d = self.heads, self.hidden // self.heads
        scale = np.float32(1.0 / math.sqrt(d))
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(n, length, 3, heads, d).transpose(2, 0, 3, 1, 4)  # (3, n, H, L, d)
            scores = (qkv[0] * scale) @ qkv[1].transpose(0, 1, 3, 2) + bias  # (n, H, L, L)
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(n * length, self.hidden)
            x = _layer_norm(ctx @ o_w + o_b + x, *ln1, self.eps)
            x = _layer_norm(_gelu(x @ i_w + i_b) @ f_w + f_b + x, *ln2, self.eps)
        x = x.reshape(n, length, self.hidden)
        summed = np.einsum("nlh,nl->nh", x, mask)
        return summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)


# Batches of up to this many (padded) tokens run on one BLAS thread: a query's matrices are so
# small that waking more threads costs more than it saves, and on a busy CPU a descheduled
# OpenBLAS thread stalls each product (measured here at load 9 on 2 cores: the attention
# products of 10 × 256 tokens took 30-50 ms on one thread, 0.6-4 s on two).
ONE_THREAD_TOKENS = 4096
_controller: Any = None


def _blas_threads(tokens: int) -> Any:
    """A context that keeps numpy's BLAS on one thread for a small batch (threadpoolctl, where
    installed; else nothing changes)."""
    import contextlib

    global _controller
    if tokens > ONE_THREAD_TOKENS:
        return contextlib.nullcontext()
    try:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        return _controller.limit(limits=1, user_api="blas")
    except Exception:  # threadpoolctl missing or unable to see the BLAS: leave it as it is
        return contextlib.nullcontext()


def _layer_norm(x: Any, weight: Any, bias: Any, eps: float) -> Any:
    import numpy as np

    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(eps)) * weight + bias


def _gelu(x: Any) -> Any:
    """Exact (erf) GELU, as BERT's "gelu": 0.5·x·(1 + erf(x/√2)), in place of `x`. numpy has no
    erf; this is Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), with three temporaries."""
    import numpy as np

    a = np.abs(x)
    a *= np.float32(1.0 / math.sqrt(2.0))  # |z|, z = x/√2
    t = a * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(np.float32(1.0), poly, out=poly)  # erf(|z|)
    np.copysign(poly, x, out=poly)  # erf(z)
    poly += 1.0
    x *= poly
    x *= np.float32(0.5)
    return x
