"""How a CPU model's forward passes share the cores with decoding, chosen by measurement.

Two schedules on a CPU with at least two cores:

- `whole`: one forward pass at a time on torch threads for every core, while worker threads
  decode the next batch. Decoding takes cores from the forward, and torch's intra-op threads
  wait for each other at every layer, so one thread losing its core stalls them all.
- `lanes`: the step's batch cut in two, and the halves run at once, each on half the cores'
  torch threads (on 2 cores: one thread each, so no thread ever waits for another). A photo
  indexer's lane decodes its own share and then forwards it (`decodes_ahead` is False): with
  no decode workers beside them, the lanes are not preempted mid-forward either.

On this machine's 2 cores, photos per second end to end (`python -m bench.index_images`, 256
photos): lanes alone took EfficientNet-Lite0 from 28.2 to 35.9 and ResNet50 from 10.3 to 11.1,
and were also faster for CLIP ViT-B-32 and SigLIP; lanes that decode their own photos took
EfficientNet-Lite0 from 0.77× to 0.94× its forward alone (the same day, the same load). Which
schedule is faster still depends on the model, the cores and the load, so a long run measures
both on its own steps and keeps the faster.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

from encoders.base import Encoder

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

#: Forward passes at once in the `lanes` schedule.
LANES = 2


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Step(Generic[R]):
    """A step started in lanes (`ForwardPlan.start_in_lanes`): its schedule, and `results()`,
    which waits for each lane's result (in the items' order) and raises what a lane raised."""

    schedule: Schedule
    results: Callable[[], list[R]]


@dataclass(frozen=True)
class Schedule:
    """Forward passes at once (`lanes`) and torch's intra-op threads for each (`threads`)."""

    name: str
    lanes: int
    threads: int


def cut(items: Sequence[T], parts: int) -> list[list[T]]:
    """`items` in at most `parts` contiguous, non-empty runs, their sizes differing by at most one."""
    n = len(items)
    parts = max(1, min(parts, n))
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [list(items[a:b]) for a, b in zip(bounds, bounds[1:])]


class ForwardPlan:
    """The schedule of a photo run's CPU forward passes (see the module docstring), kept or
    changed after each pipeline step from the measured wall time per item of whole steps
    (waiting for decoding included). The first step is not counted (it loads and may freeze
    the model).

    Trying the other schedule costs a step at its speed (EfficientNet-Lite0 here: 32 photos at
    29/s instead of 46/s, 6 % of a 256-photo run), so it is first tried after `FIRST_PROBE`
    counted steps, when the run is long enough for a better choice to repay it; then again
    after `REPROBE_EVERY` steps, an interval that doubles (up to `REPROBE_MAX`) each time the
    tried schedule loses and starts over when it wins, since the load of a shared machine
    changes. Inactive (one lane, torch's threads untouched) without a CPU encoder that
    prepares its inputs, or on one core. Use it as a context manager: it sets torch's threads,
    runs the lanes and restores both."""

    FIRST_PROBE = 8
    REPROBE_EVERY = 8
    REPROBE_MAX = 64

    def __init__(self, encoders: Sequence[Encoder], cores: int | None = None, start: str = "lanes") -> None:
        self.cores = cores or available_cores()
        self.active = self.cores > 1 and any(enc.device == "cpu" and enc.prepare_key for enc in encoders)
        self.whole = Schedule("whole", 1, self.cores)
        self.lanes = Schedule("lanes", LANES, max(1, self.cores // LANES))
        if start not in ("lanes", "whole"):
            raise ValueError(f"unknown schedule {start!r}: lanes or whole")
        # lanes first: on 2 cores it was the faster for every photo encoder measured
        self.current = getattr(self, start) if self.active else Schedule("untouched", 1, 0)
        self._per_item: dict[str, float] = {}  # schedule name → seconds per item (EMA)
        self._warm = False
        self._since_probe = 0
        self._probe_every = self.FIRST_PROBE
        self._probing = False
        self._before: int | None = None
        self._lane_threads: list[ThreadPoolExecutor] = []  # one each: a lane runs its parts in order

    def __enter__(self) -> ForwardPlan:
        if self.active:
            import torch

            self._before = torch.get_num_threads()
            self._lane_threads = [ThreadPoolExecutor(1, thread_name_prefix=f"forward-lane{k}") for k in range(LANES)]
            self._use(self.current)
        return self

    def __exit__(self, *exc: object) -> None:
        for lane in self._lane_threads:
            lane.shutdown(cancel_futures=True)  # leaving on an error: parts not begun are dropped
        if self._before is not None:
            import torch

            torch.set_num_threads(self._before)

    def _use(self, schedule: Schedule) -> None:
        import torch

        self.current = schedule
        if torch.get_num_threads() != schedule.threads:
            torch.set_num_threads(schedule.threads)

    @property
    def decodes_ahead(self) -> bool:
        """Whether the next batch should be decoded on worker threads while this one is embedded:
        yes for one forward pass at a time (on every core, or on an accelerator); no in lanes,
        where each lane decodes its own share and then embeds it (`indexers.images`)."""
        return self.current is not self.lanes

    @property
    def queues_steps(self) -> bool:
        """Whether the next step may be started before this one is done: in lanes, each lane
        then goes on to its share of the next step instead of waiting for the slower lane."""
        return self.current is self.lanes and bool(self._lane_threads)

    def in_lanes(self, fn: Callable[[list[T]], R], items: Sequence[T]) -> list[R]:
        """`fn` over `items` cut into the schedule's lanes, run at once; the results in the
        items' order. One call of `fn` on all of them, on this thread, in `whole`."""
        return self.start_in_lanes(fn, items).results()

    def start_in_lanes(self, fn: Callable[[list[T]], R], items: Sequence[T]) -> Step[R]:
        """Start `fn` over `items` cut into the schedule's lanes, each part behind what its lane
        was given before (`queues_steps`); `results()` of the step waits for them. In `whole`
        (or inactive), `fn` runs on all of them now, on this thread."""
        schedule = self.current
        parts = cut(items, schedule.lanes)
        if len(parts) < 2 or not self._lane_threads:
            done = fn(list(items))
            return Step(schedule, lambda: [done])
        futures = [lane.submit(self._lane, fn, part, schedule.threads) for lane, part in zip(self._lane_threads, parts)]
        return Step(schedule, lambda: [f.result() for f in futures])

    @staticmethod
    def _lane(fn: Callable[[list[T]], R], part: list[T], threads: int) -> R:
        import torch

        # a thread keeps the torch thread count it first ran with: set it here, not only in
        # the thread that chose the schedule
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return fn(part)

    def record(self, items: int, step_s: float, schedule: Schedule | None = None) -> None:
        """One pipeline step of `items` took `step_s` of wall time; choose the next step's schedule.
        A step started under another `schedule` than the current one (queued before a switch)
        is not counted."""
        if not self.active or items <= 0 or (schedule is not None and schedule is not self.current):
            return
        if not self._warm:
            self._warm = True
            return
        name, value = self.current.name, step_s / items
        old = self._per_item.get(name)
        # a try measures afresh (its last measurement is old); otherwise a running mean
        self._per_item[name] = value if old is None or self._probing else 0.5 * (old + value)
        self._since_probe += 1
        if self._probing:  # the step just measured was a try: keep the faster
            self._probing = False
            nxt = min((self.whole, self.lanes), key=lambda s: self._per_item.get(s.name, float("inf")))
            won = nxt is self.current
            self._probe_every = self.REPROBE_EVERY if won else min(2 * self._probe_every, self.REPROBE_MAX)
            self._since_probe = 0
        elif self._since_probe >= self._probe_every:
            nxt, self._probing = (self.whole if self.current is self.lanes else self.lanes), True
        else:
            return
        if nxt is not self.current:
            log.debug(
                "forward schedule %s → %s (ms per item: %s)", self.current.name, nxt.name,
                {k: round(1000 * v, 1) for k, v in self._per_item.items()},
            )
            self._use(nxt)

    def seconds_per_item(self) -> dict[str, float]:
        """The measured wall seconds per item of each schedule tried so far."""
        return dict(self._per_item)
