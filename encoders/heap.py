"""Keeping Python's cycle collector out of imports and model loading.

Importing torch, torchvision and timm and loading a model makes some 400,000 objects that live
as long as the process. While they are being made, the collector's full collections walk all
those made so far, again and again: in a new `mmsearch index images` process, 6 full
collections took 0.65-0.8 s of its 5.4 s, all of them inside those imports (`gc.callbacks`).
Paused for that work, then collected once and frozen (`gc.freeze`), the objects are left out of
every later collection too, so an index run's collections walk only what the run has made:
0.33-0.37 s in all.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator

#: New objects a block must have made to be frozen: a first import of a large library or a
#: first model load makes hundreds of thousands; a model of an imported library, a few thousand.
FREEZE_FROM = 50_000

_lock = threading.Lock()
_depth = 0  # blocks open now, in any thread
_was_enabled = True
_count_before = 0


@contextmanager
def long_lived() -> Iterator[None]:
    """Run the block (an import of a large library, a model load) with the cycle collector
    paused; then, if it made `FREEZE_FROM` objects or more, collect once and freeze every object
    left (`gc.freeze`); then resume the collector. Blocks may nest or overlap in threads: the
    last one out decides.

    The one collection before the freeze frees the cyclic garbage of that moment (11,000 objects
    after the imports of an image index run), which a freeze would otherwise keep for good,
    with whatever files or sockets it holds."""
    global _depth, _was_enabled, _count_before
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
            _count_before = gc.get_count()[0]
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                # while the collector is paused, the youngest generation's count is what was made
                if gc.get_count()[0] - _count_before >= FREEZE_FROM:
                    gc.collect()
                    gc.freeze()
                if _was_enabled:
                    gc.enable()


def imported(name: str) -> ModuleType:
    """The module `name`; its first import runs under `long_lived`."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    with long_lived():
        return importlib.import_module(name)
