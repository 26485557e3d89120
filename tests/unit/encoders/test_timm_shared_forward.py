"""EfficientNet's outputs are reused per input, whatever chunks the label bridge cuts (no model load)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("timm")

from encoders.timm_encoder import TimmEfficientNetEncoder  # noqa: E402


class _Input:
    """A stand-in for a prepared model input (only its identity matters here)."""

    def __init__(self, value: float) -> None:
        self.value = value


def _encoder(batch_size: int | None) -> tuple[TimmEfficientNetEncoder, list[int]]:
    enc = TimmEfficientNetEncoder(device="cpu", batch_size=batch_size)
    enc._loaded = True  # no weights: the forward pass below stands in for the model
    passes: list[int] = []

    def forward_batch(chunk: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        passes.append(len(chunk))
        v = np.array([[x.value] for x in chunk], np.float32)
        return np.repeat(v, 1280, axis=1), np.repeat(v, 1000, axis=1)

    enc._forward_batch = forward_batch  # type: ignore[method-assign]
    return enc, passes


@pytest.mark.parametrize("batch_size", [None, 3])
def test_inputs_just_embedded_are_not_run_again_whatever_the_chunks(batch_size: int | None) -> None:
    enc, passes = _encoder(batch_size)
    items = [_Input(float(i)) for i in range(20)]
    feats, probs = enc.forward(items)
    assert sum(passes) == 20 and feats.shape == (20, 1280) and probs.shape == (20, 1000)
    assert np.allclose(feats[:, 0], np.arange(20)) and np.allclose(probs[:, 5], np.arange(20))
    before = list(passes)
    # the label bridge's and classify's calls: other chunkings of the same objects
    again = np.concatenate([enc.forward(items[i : i + 7])[1] for i in range(0, 20, 7)])
    assert passes == before and np.allclose(again, probs)
    # a mix of seen and new inputs: only the new ones run
    new = [_Input(100.0), _Input(101.0)]
    f, _ = enc.forward([items[3], new[0], items[4], new[1]])
    assert sum(passes) - sum(before) == 2 and np.allclose(f[:, 0], [3, 100, 4, 101])
    # an equal value in another object is another input: it runs
    enc.forward([_Input(3.0)])
    assert sum(passes) - sum(before) == 3


def test_a_fixed_size_cuts_that_size_and_the_default_measures_among_candidates() -> None:
    enc, passes = _encoder(3)
    enc.forward([_Input(float(i)) for i in range(8)])
    assert passes == [3, 3, 2]
    enc, passes = _encoder(None)
    assert enc.batch_plan is not None and enc.batch_size == max(enc.cpu_batch_sizes)
    enc.forward([_Input(float(i)) for i in range(40)])
    assert sum(passes) == 40 and max(passes) <= 32 and set(passes) & set(enc.cpu_batch_sizes)
