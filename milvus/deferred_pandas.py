"""Import a module (pymilvus) with pandas deferred until something uses it.

pymilvus imports pandas when it loads (~0.65 s here, 40 % of a cold `mmsearch search`) for the
DataFrame support of its ORM, which mmsearch never uses: `MilvusClient`'s insert, search and
query take lists of dicts. `import_deferring_pandas(name)` imports `name` with stand-ins for
`pandas`, `pandas.api` and `pandas.api.types` in `sys.modules`, and takes them out again once
the import is done. The modules that imported them keep the stand-ins, which behave as pandas
from then on, importing it the first time they are used:

- an attribute read after the import (`pd.DataFrame` in an `isinstance` check) is pandas's own;
- a function bound during the import (`from pandas.api.types import is_scalar`) calls pandas's;
- an annotation evaluated during the import (`data: Union[List, pd.DataFrame]`) holds a
  placeholder class, as only annotations read attributes at that point.

If pandas is already imported, nothing is deferred. If the import fails with the stand-ins
(a pymilvus that uses pandas in a way not foreseen here), `name`'s partly imported modules are
dropped and it is imported again as usual, with a debug log line.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

DEFERRED = ("pandas", "pandas.api", "pandas.api.types")

_importing = threading.local()  # set in the thread that imports with the stand-ins
_lock = threading.Lock()  # held for that import: another thread using a stand-in waits for its end


def import_deferring_pandas(name: str) -> types.ModuleType:
    """`importlib.import_module(name)`, with pandas imported only when first used (see above)."""
    if name in sys.modules or "pandas" in sys.modules:
        return importlib.import_module(name)
    with _lock:
        stand_ins = {module: DeferredModule(module) for module in DEFERRED}
        sys.modules.update(stand_ins)
        _importing.active = True
        try:
            return importlib.import_module(name)
        except Exception:
            log.debug("importing %s with pandas deferred failed; importing it as usual", name, exc_info=True)
            for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[module]
        finally:
            _importing.active = False
            for module, stand_in in stand_ins.items():
                if sys.modules.get(module) is stand_in:
                    del sys.modules[module]
    return importlib.import_module(name)


class DeferredModule(types.ModuleType):
    """A stand-in for a pandas module: placeholders while the import runs, pandas after it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []  # a package, so that `pandas.api.types` can be imported

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if getattr(_importing, "active", False):
            return self._placeholder(attr)
        with _lock:  # another thread may be importing with the stand-ins: let it finish first
            pass
        return getattr(importlib.import_module(self.__name__), attr)

    def _placeholder(self, attr: str) -> Any:
        child = sys.modules.get(f"{self.__name__}.{attr}")
        if isinstance(child, DeferredModule):
            return child
        if self.__name__ == "pandas.api.types":
            return _deferred_function(attr)
        return type(attr, (), {"__module__": self.__name__, "__doc__": "stands for pandas's class until pandas is imported"})


def _deferred_function(attr: str) -> Callable[..., Any]:
    """A function that calls `pandas.api.types.<attr>`, importing pandas on the first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module("pandas.api.types"), attr)(*args, **kwargs)

    call.__name__ = call.__qualname__ = attr
    call.__module__ = "pandas.api.types"
    return call
