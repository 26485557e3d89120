"""Model inputs prepared on the decode worker threads, ahead of the model.

Resizing and normalising a decoded image into a model's input tensor costs ~3 ms per
photo; done on the workers that decode the next batch, it overlaps the model's forward
pass instead of adding to it (`python -m bench.index_images`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

from encoders.base import Encoder

log = logging.getLogger(__name__)
T = TypeVar("T")

# Items decoded and embedded per pipeline step. Encoders split a step into their own batch
# size (EfficientNet-Lite0 measures which of 2, 8 and 32 runs fastest on a CPU at the load
# it meets); a larger step keeps the decode workers ahead and makes fewer, larger upserts.
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


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> float:
    """The 1-minute load average (runnable threads, all processes); 0 where the OS has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


class ThreadPlan:
    """torch's intra-op threads beside the decode workers, chosen from measured costs.

    Two candidates on a CPU: all cores (`full`), where decoding the next batch interrupts the
    model's threads for about its own CPU time, or all but one (`beside`), where decoding
    overlaps the model completely but the model has one thread fewer. Which wins depends on
    the model: CLIP ViT-B-32 forwards a photo in ~38 ms on 2 cores (~66 ms on one) against
    ~10 ms of decoding, so it wants every core; EfficientNet-Lite0's ~12 ms forward is
    comparable to its decoding, so one core for each can win. The plan measures the decode
    workers' CPU time per item and each step's time per item, starts on every core, tries
    `beside` once when decoding costs at least `PROBE_RATIO` of a forward pass, then keeps
    the faster, trying the other again every `REPROBE_EVERY` steps (the load on a shared
    machine changes). It also tries `beside` when other processes keep every core busy (the
    load average less this run's own threads is at least the cores): then each torch thread
    loses its core at random, and every layer waits for the slowest; EfficientNet-Lite0
    forwarded 64 photos in 27 s on one thread and 34 s on two at load ~11 on 2 cores.
    Use it as a context manager; it restores torch's threads on exit.
    """

    PROBE_RATIO = 0.5  # decode ÷ forward time per item above which `beside` is worth a try
    REPROBE_EVERY = 8

    def __init__(
        self, workers: int, encoders: Sequence[Encoder], cores: int | None = None, load: Callable[[], float] | None = None
    ) -> None:
        self.active = any(enc.device == "cpu" and enc.prepare_key for enc in encoders)
        self.cores = cores or available_cores()
        self.workers = workers
        self._load = load or load_average
        self.full = self.cores
        self.beside = max(1, self.cores - min(workers, 1))
        self.threads = self.full
        self._lock = threading.Lock()
        self._decode_s = 0.0
        self._decoded = 0
        self._step_s: dict[int, float] = {}  # threads → seconds per item of a whole step (EMA)
        self._forward_s: dict[int, float] = {}  # threads → seconds per item of the model's forward (EMA)
        self._since_probe = 0
        self._before: int | None = None

    def __enter__(self) -> ThreadPlan:
        if self.active:
            import torch

            self._before = torch.get_num_threads()
            self._set(self.full)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._before is not None:
            import torch

            torch.set_num_threads(self._before)

    def _set(self, threads: int) -> None:
        import torch

        self.threads = threads
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    def timed(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a decode worker, its CPU time counted as decoding."""
        t0 = time.thread_time()
        try:
            return fn(*args)
        finally:
            self.add_decode(time.thread_time() - t0)

    def add_decode(self, cpu_s: float, items: int = 1) -> None:
        """Count `cpu_s` CPU seconds of decoding and preparing `items` items."""
        with self._lock:
            self._decode_s += cpu_s
            self._decoded += items

    @property
    def decode_per_item(self) -> float | None:
        """Mean CPU seconds a worker spent decoding and preparing one item; None before any."""
        with self._lock:
            return self._decode_s / self._decoded if self._decoded else None

    def oversubscribed(self) -> bool:
        """True when other processes keep every core busy: the load average, less this run's
        own torch threads and decode workers, is at least the cores."""
        return self._load() - (self.full + self.workers) >= self.cores

    def record(self, items: int, step_s: float, forward_s: float) -> None:
        """One pipeline step of `items`: its wall time (waiting for decoding included) and the
        model's part of it; then choose the threads for the next step."""
        if not self.active or items <= 0:
            return
        for table, value in ((self._step_s, step_s / items), (self._forward_s, forward_s / items)):
            old = table.get(self.threads)
            table[self.threads] = value if old is None else 0.5 * (old + value)
        self._since_probe += 1
        self._choose()

    def _choose(self) -> None:
        if self.full == self.beside:
            return
        other = self.beside if self.threads == self.full else self.full
        if other not in self._step_s:
            decode, forward = self.decode_per_item, self._forward_s.get(self.full)
            if self.threads == self.full and decode is not None and forward and decode < self.PROBE_RATIO * forward and not self.oversubscribed():
                return  # the model dominates, on cores of its own: every core to it
            nxt = other
        elif self._since_probe >= self.REPROBE_EVERY:
            nxt = other
        else:
            nxt = min(self._step_s, key=self._step_s.__getitem__)
        if nxt != self.threads:
            self._since_probe = 0
            log.debug(
                "torch threads %d → %d (decode %.1f ms/item; step ms/item by threads: %s)",
                self.threads, nxt, 1000 * (self.decode_per_item or 0),
                {k: round(1000 * v, 1) for k, v in self._step_s.items()},
            )
            self._set(nxt)
