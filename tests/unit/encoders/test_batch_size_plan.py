"""The measured choice of a CPU model's batch size, from fed timings (no clock in the test)."""

from __future__ import annotations

from typing import Any

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from encoders.base import Encoder, EncoderSpec
from encoders.batch_plan import BatchSizePlan


def _run(plan: BatchSizePlan, n: int, per_item: dict[int, float]) -> list[int]:
    """Embed `n` items as the plan says, telling it each pass took `per_item[size] × size`."""
    sizes = []
    for size in plan.chunks(n):
        sizes.append(size)
        plan.record(size, per_item.get(size, 0.050) * size)
    assert sum(sizes) == n
    return sizes


def test_each_candidate_is_tried_largest_first_then_the_fastest_is_kept() -> None:
    plan = BatchSizePlan((2, 8, 32))
    idle = {2: 0.012, 8: 0.014, 32: 0.015}  # small batches win on idle cores
    assert _run(plan, 8, idle) == [8]  # the first pass is a warm-up: not counted
    assert _run(plan, 32, idle) == [32]  # the largest first: the safe size under load
    assert _run(plan, 32, idle) == [8, 2, 2] + [2] * 10  # 8 tried, then 2 on PROBE_ITEMS; 2 kept
    assert _run(plan, 32, idle) == [2] * 16
    assert plan.per_item(2) == pytest.approx(0.012) and plan.per_item(32) == pytest.approx(0.015)


def test_under_load_the_plan_keeps_larger_batches() -> None:
    plan = BatchSizePlan((2, 8, 32))
    loaded = {2: 0.200, 8: 0.060, 32: 0.050}  # contended cores: small batches wait at every layer
    _run(plan, 8, loaded)
    assert _run(plan, 32, loaded) == [32]
    assert _run(plan, 32, loaded) == [8, 2, 2, 20]  # 8 and 2 tried; the rest in one pass (32 is fastest)
    assert _run(plan, 32, loaded) == [32]
    assert _run(plan, 24, loaded) == [24]  # fewer items than the fastest size: one pass


def test_a_size_that_turns_slow_is_left_within_the_same_call() -> None:
    plan = BatchSizePlan((2, 8))
    for _ in range(3):
        _run(plan, 16, {2: 0.010, 8: 0.020})
    assert _run(plan, 16, {2: 0.010, 8: 0.020}) == [2] * 8
    sizes = _run(plan, 32, {2: 0.500, 8: 0.020})  # the load rises: 2 slows down mid-call
    assert sizes == [2, 8, 8, 8, 6]  # after one slow pass of 2, 8; the last 6 in one pass


def test_stale_candidates_are_measured_again_as_the_load_changes() -> None:
    plan = BatchSizePlan((2, 32))
    for _ in range(3):
        _run(plan, 32, {2: 0.010, 32: 0.030})
    assert _run(plan, 32, {2: 0.010, 32: 0.030}) == [2] * 16
    loaded = {2: 0.300, 32: 0.030}
    sizes = [s for _ in range(BatchSizePlan.REPROBE_ITEMS // 32 + 2) for s in _run(plan, 32, loaded)]
    assert 32 in sizes  # tried again once stale, found faster now
    assert _run(plan, 32, loaded) == [32]


def test_a_candidate_that_keeps_losing_is_tried_less_often_until_it_wins() -> None:
    plan = BatchSizePlan((2, 8))
    idle = {2: 0.010, 8: 0.020}
    _run(plan, 8, idle)  # the warm-up pass
    tries_of_8 = []  # items recorded when each pass of 8 began
    items = 0
    for _ in range(1600 // 16):
        for size in _run(plan, 16, idle):
            items += size
            if size == 8:
                tries_of_8.append(items - size)
    gaps = [b - a for a, b in zip(tries_of_8, tries_of_8[1:])]
    # the first measurement, then re-tries after 128, 256 and 512 items (losing each time)
    assert len(tries_of_8) == 4 and all(b > a for a, b in zip(gaps, gaps[1:])), tries_of_8
    assert gaps[0] >= BatchSizePlan.REPROBE_ITEMS and plan.reprobe_after(8) == BatchSizePlan.REPROBE_MAX_ITEMS
    assert plan.reprobe_after(2) == BatchSizePlan.REPROBE_ITEMS  # the size in use is never stale

    plan = BatchSizePlan((2, 8))
    _run(plan, 8, idle)
    for _ in range(320 // 16):  # 8 measured, re-tried after 128 items: lost, so 256 till the next
        _run(plan, 16, idle)
    assert plan.reprobe_after(8) == 2 * BatchSizePlan.REPROBE_ITEMS
    closer = {2: 0.012, 8: 0.011}  # 8 has become the faster; it is not used till it is re-tried
    sizes = [s for _ in range(320 // 16) for s in _run(plan, 16, closer)]
    assert 8 in sizes and sizes[-2:] == [8, 8]  # re-tried once stale, won, and kept
    assert plan.reprobe_after(8) == BatchSizePlan.REPROBE_ITEMS  # winning started its wait over


def test_threads_sharing_the_plan_do_not_try_the_same_size_at_once() -> None:
    plan = BatchSizePlan((2, 8, 32))
    _run(plan, 8, {})  # the warm-up pass
    with ThreadPoolExecutor(1) as lane:  # one thread alive throughout: thread ids stay distinct
        first = lane.submit(plan.next_size, 16).result()
        assert first == 8  # the largest fitting candidate not measured yet
        assert plan.next_size(16) == 2  # 8 is being measured by the lane: the next untried size
        plan.record(2, 0.020)  # this thread's pass of 2 is done; the lane's 8 still runs
        assert plan.next_size(16) == 2  # 2 still needs PROBE_ITEMS, and 8 is taken
        plan.record(2, 0.020)
        assert plan.next_size(16) == 2  # only 2 is measured: the fastest so far
        lane.submit(plan.record, 8, 0.400).result()
        assert lane.submit(plan.next_size, 16).result() == 2  # both measured: 2 is faster
    assert plan.per_item(8) == pytest.approx(0.050)


def test_measurements_are_kept_per_thread_count() -> None:
    threads = [2]
    plan = BatchSizePlan((2, 8), threads=lambda: threads[0])
    for _ in range(3):
        _run(plan, 8, {2: 0.010, 8: 0.020})
    assert plan.per_item(2) == pytest.approx(0.010) and plan.per_item(2, threads=1) is None
    threads[0] = 1
    assert _run(plan, 8, {2: 0.030, 8: 0.015}) == [8]  # unmeasured at one thread: tried again, largest first
    assert plan.per_item(8, threads=1) == pytest.approx(0.015)
    assert plan.per_item(2, threads=2) == pytest.approx(0.010)


def test_forget_starts_again_and_small_calls_fit() -> None:
    plan = BatchSizePlan((4, 8))
    _run(plan, 16, {})
    plan.forget()
    assert plan.per_item(4) is None
    assert list(plan.chunks(3)) == [3]  # fewer items than any candidate: one pass of them all
    assert list(plan.chunks(0)) == []
    with pytest.raises(ValueError):
        BatchSizePlan(())


class _Sized(Encoder):
    """Records its forward passes; chooses among sizes (4, 8) on a CPU."""

    cpu_batch_size = 8
    cpu_batch_sizes = (4, 8)

    def __init__(self, batch_size: int | None = None) -> None:
        super().__init__(device="cpu", batch_size=batch_size)
        self.spec = EncoderSpec(id="sized", dim=3, document_kinds=("text",), query_kinds=("text",))
        self.passes: list[int] = []

    def _load(self) -> None:
        pass

    def _embed_documents_batch(self, items: list[Any]) -> np.ndarray:
        self.passes.append(len(items))
        return np.ones((len(items), 3), np.float32)


def test_an_encoder_with_candidates_adapts_unless_a_size_is_given() -> None:
    enc = _Sized()
    assert enc.adapts_batch_size and enc.batch_plan is not None and enc.batch_size == 8
    out = enc.embed_documents([str(i) for i in range(20)])
    assert out.shape == (20, 3) and sum(enc.passes) == 20 and set(enc.passes) <= {4, 8}
    fixed = enc.with_batch_size(8)  # the default size, asked for: a fixed view, not the adaptive encoder
    assert fixed is not enc and not fixed.adapts_batch_size and fixed.batch_plan is None
    assert enc.with_batch_size(8) is fixed and fixed.with_batch_size(None) is fixed
    fixed.passes = []
    fixed.embed_documents([str(i) for i in range(20)])
    assert fixed.passes == [8, 8, 4]
    given = _Sized(batch_size=5)
    assert given.batch_plan is None and given.with_batch_size(5) is given
