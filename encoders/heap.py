"""Keeping Python's cycle collector out of imports and model loading.

Importing torch, torchvision and timm and loading a model makes some 400,000 objects that live
as long as the process. While they are being made, the collector's full collections walk all
those made so far, again and again: in a new `mmsearch index images` process, 6 full
collections took 0.65 s of its 5.5 s, all of them inside those imports (`gc.callbacks`). Paused
for that work and then frozen (`gc.freeze`), the objects are left out of every later
collection too, so an index run's collections walk only what the run has made.
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
    paused; then, if it made `FREEZE_FROM` objects or more, freeze every object that exists
    (`gc.freeze`), and resume the collector. Blocks may nest or overlap in threads: the last
    one out decides.

    The freeze also keeps the cyclic garbage that exists at that moment from ever being
    collected: in a new `mmsearch index images` process, 11,000 objects of 7.7 MB (their own
    sizes) beside the 630,000 frozen, once. Smaller blocks are not frozen, so a process that
    loads many small models does not gather such garbage each time."""
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
