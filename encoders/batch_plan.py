"""A CPU model's batch size, chosen by measuring candidate sizes on the items being embedded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence

log = logging.getLogger(__name__)


class BatchSizePlan:
    """A CPU model's batch size, chosen from its measured time per item on the real inputs.

    Which size is fastest depends on the load: on 2 idle cores EfficientNet-Lite0 forwards
    ~85 images/s 2 at a time and ~70 32 at a time, but on a contended machine each small
    batch waits at every layer for a descheduled intra-op thread and 8 or 32 at a time win
    (`python -m bench.index_images`). So the plan tries each candidate size on the items it
    is embedding anyway (at least `PROBE_ITEMS`), largest first (a small batch on a loaded
    machine costs several times a large one; a large one on an idle machine ~1.2× a small
    one), and keeps the fastest per item.

    A candidate is measured again once `REPROBE_ITEMS` items have gone by without it (the load
    of a shared machine changes). Each time such a re-measurement still loses, that candidate
    waits twice as long for its next one (up to `REPROBE_MAX_ITEMS`); when it wins, the wait
    starts over. A try is not free: in a 256-photo run, EfficientNet-Lite0 lanes passing 8 at a
    time on one thread took ~57 ms a photo against ~36 for 2 at a time, and re-trying every 128
    items (each lane on its own) cost ~0.5 s of a 5.9 s run.

    Threads sharing the plan (the pipeline's forward lanes) do not try the same candidate at
    once: while one thread measures a size, another takes the next untried one, else the fastest.

    Measurements are kept per torch thread count (the pipeline's `ForwardPlan` changes it), as
    decayed sums (half-life `HALF_LIFE_ITEMS`). The first pass it is told about is ignored: a
    process's first forward pass pays one-time costs. Each size is chosen when the previous pass
    has been recorded, so a size that turns slow is left within the same call. Thread-safe; the
    encoder times its forward passes (`Encoder._measured`) and calls `record`.
    """

    PROBE_ITEMS = 4  # items a candidate is measured on before it counts (2 passes of 2)
    REPROBE_ITEMS = 128  # items after which a candidate's measurement is stale (at first)
    REPROBE_MAX_ITEMS = 1024  # the longest wait between tries of a candidate that keeps losing
    HALF_LIFE_ITEMS = 32.0

    def __init__(self, sizes: Sequence[int], threads: Callable[[], int] = lambda: 1) -> None:
        self.sizes = tuple(sorted({int(s) for s in sizes if s > 0}))
        if not self.sizes:
            raise ValueError("a batch size plan needs at least one size")
        self._threads = threads
        self._lock = threading.Lock()
        self.forget()

    def forget(self) -> None:
        """Drop every measurement (the next chunk is again ignored as a warm-up)."""
        with getattr(self, "_lock", threading.Lock()):
            # threads → size → [decayed seconds, decayed items, `_items` when last measured,
            # items since probed, 1 if this measurement replaced a stale one]
            self._stats: dict[int, dict[int, list[float]]] = {}
            self._wait: dict[tuple[int, int], int] = {}  # (threads, size) → items before a re-try
            self._trying: dict[int, tuple[int, int]] = {}  # thread id → (threads, size) it measures
            self._items = 0  # items recorded in all
            self._warm = False

    def per_item(self, size: int, threads: int | None = None) -> float | None:
        """Measured seconds per item at `size` (at `threads`, default torch's now); None if not measured."""
        with self._lock:
            st = self._stats.get(self._threads() if threads is None else threads, {}).get(size)
            return st[0] / st[1] if st and st[1] else None

    def reprobe_after(self, size: int, threads: int | None = None) -> int:
        """Items that go by before `size` is measured again (at `threads`, default torch's now)."""
        with self._lock:
            return self._wait.get((self._threads() if threads is None else threads, size), self.REPROBE_ITEMS)

    def chunks(self, n: int) -> Iterator[int]:
        """Sizes of the forward passes (summing to `n`) that embed `n` items, each chosen when
        the previous one has been recorded: a fitting candidate not measured yet (or stale),
        largest first, else the one measured fastest per item (fewer items left than it: all
        of them in one pass)."""
        left = n
        while left > 0:
            size = min(self.next_size(left), left)
            yield size
            left -= size

    def next_size(self, left: int) -> int:
        """The next forward pass's size with `left` items still to embed."""
        me = threading.get_ident()
        with self._lock:
            threads = self._threads()
            stats = self._stats.get(threads, {})
            tried_elsewhere = {s for tid, (t, s) in self._trying.items() if tid != me and t == threads}
            fit = [s for s in self.sizes if s <= left] or [self.sizes[0]]
            for s in reversed(fit):  # largest first: the safe size on a loaded machine
                if s not in tried_elsewhere and self._needs_measuring(threads, s, stats.get(s)):
                    self._trying[me] = (threads, s)
                    return s
            self._trying.pop(me, None)
            # the fastest measured, fitting or not: fewer items left than it are one pass
            measured = [s for s in self.sizes if s in stats and stats[s][1]]
            return min(measured, key=lambda s: stats[s][0] / stats[s][1]) if measured else fit[0]

    def _needs_measuring(self, threads: int, size: int, st: list[float] | None) -> bool:
        return st is None or st[3] < self.PROBE_ITEMS or self._stale(threads, size, st, self._items)

    def _stale(self, threads: int, size: int, st: list[float], items: int) -> bool:
        return items - st[2] >= self._wait.get((threads, size), self.REPROBE_ITEMS)

    def record(self, size: int, seconds: float) -> None:
        """One forward pass of `size` items took `seconds` (counted when `size` is a candidate)."""
        if size <= 0:
            return
        with self._lock:
            self._trying.pop(threading.get_ident(), None)
            if not self._warm:
                self._warm = True
                return
            self._items += size
            if size not in self.sizes:
                return
            threads = self._threads()
            stats = self._stats.setdefault(threads, {})
            st = stats.get(size)
            if st is None or self._stale(threads, size, st, self._items - size):
                st = stats[size] = [0.0, 0.0, 0.0, 0.0, float(st is not None)]  # measured again from scratch
            d = 0.5 ** (size / self.HALF_LIFE_ITEMS)
            st[0] = st[0] * d + seconds
            st[1] = st[1] * d + size
            st[2] = self._items
            st[3] += size
            if st[4] and st[3] - size < self.PROBE_ITEMS <= st[3]:  # a re-try has just been measured
                self._after_retry(threads, size, stats)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("batch %d: %.1f ms/item (threads %d)", size, 1000 * st[0] / st[1], threads)

    def _after_retry(self, threads: int, size: int, stats: dict[int, list[float]]) -> None:
        """A candidate measured again: if it still loses to a fresh measurement, wait longer
        before the next try; if it wins, start the wait over."""
        mine = stats[size][0] / stats[size][1]
        others = [
            st[0] / st[1]
            for s, st in stats.items()
            if s != size and st[1] and st[3] >= self.PROBE_ITEMS and not self._stale(threads, s, st, self._items)
        ]
        key = (threads, size)
        if others and mine > min(others):
            self._wait[key] = min(2 * self._wait.get(key, self.REPROBE_ITEMS), self.REPROBE_MAX_ITEMS)
        else:
            self._wait.pop(key, None)
