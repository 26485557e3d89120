"""Model inputs prepared on the decode worker threads, ahead of the model.

Resizing and normalising a decoded image into a model's input tensor costs ~3 ms per
photo; done on the workers that decode the next batch, it overlaps the model's forward
pass instead of adding to it (`python -m bench.index_images`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from encoders.base import Encoder

# Items decoded and embedded per pipeline step. Encoders split a step into their own batch
# size (EfficientNet-Lite0 runs fastest 2 at a time on a CPU); a larger step keeps the
# decode workers ahead and makes fewer, larger upserts.
PIPELINE_BATCH = 32


def pipeline_batch(encoders: Sequence[Encoder]) -> int:
    """Items per pipeline step: PIPELINE_BATCH, or more for encoders that batch larger (GPUs)."""
    return max([PIPELINE_BATCH, *(enc.batch_size for enc in encoders)])


def prepare_inputs(item: Any, encoders: Sequence[Encoder]) -> dict[str, Any]:
    """Each distinct model input of `item` for `encoders`, keyed by `prepare_key`."""
    out: dict[str, Any] = {}
    for enc in encoders:
        key = enc.prepare_key
        if key is not None and key not in out:
            out[key] = enc.prepare_document(item)
    return out


def inputs_for(enc: Encoder, items: Sequence[Any], prepared: Sequence[dict[str, Any]]) -> list[Any]:
    """What to hand `enc.embed_documents`: the prepared input where there is one, else the item.

    Encoders sharing a key get the very same objects, which lets the label bridge reuse
    the EfficientNet forward pass of the same batch."""
    key = enc.prepare_key
    return [p.get(key, item) if key else item for item, p in zip(items, prepared)]


@contextmanager
def model_threads_beside(workers: int, encoders: Sequence[Encoder]) -> Iterator[None]:
    """While `workers` decode threads run, let CPU models use only the remaining cores.

    torch's intra-op threads wait on each other at every layer, so one of them losing its
    core to a decode thread stalls all of them: on 2 cores, 2 torch threads beside 2 decode
    workers indexed ~25 photos/s, 1 torch thread ~32 (`python -m bench.index_images`)."""
    if not any(enc.device == "cpu" and enc.prepare_key for enc in encoders):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, (os.cpu_count() or 1) - workers)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
