"""Model inputs prepared on the decode worker threads, ahead of the model.

Resizing and normalising a decoded image into a model's input tensor costs ~3 ms per
photo; done on the workers that decode the next batch, it overlaps the model's forward
pass instead of adding to it (`python -m bench.index_images`).
"""

from __future__ import annotations

from typing import Any, Sequence

from encoders.base import Encoder


# Items decoded and embedded per pipeline step. Encoders split a step into their own batch
# size (EfficientNet-Lite0 measures which of 2, 8 and 32 runs fastest on a CPU at the load
# it meets); a larger step keeps the decode workers ahead and makes fewer, larger upserts.
PIPELINE_BATCH = 32


def pipeline_batch(encoders: Sequence[Encoder]) -> int:
    """Items per pipeline step: PIPELINE_BATCH, or more for encoders that batch larger (GPUs)."""
    return max([PIPELINE_BATCH, *(enc.batch_size for enc in encoders)])


def decode_side(encoders: Sequence[Encoder]) -> int:
    """The shorter side a photo must keep when decoded: the largest input among `encoders`."""
    return max((enc.image_side for enc in encoders), default=224)


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
