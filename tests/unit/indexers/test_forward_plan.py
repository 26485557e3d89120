"""The photo pipeline's forward schedule: lanes run at once and in order, and the plan keeps
the schedule measured faster (step times are fed in: no timing in the test)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from indexers.forward_plan import ForwardPlan, cut

torch = pytest.importorskip("torch")


@dataclass
class _CpuModel:
    device: str = "cpu"
    prepare_key: str | None = "model"


def test_cut_keeps_order_and_balances() -> None:
    assert cut(list(range(5)), 2) == [[0, 1], [2, 3, 4]]
    assert cut(list(range(32)), 2) == [list(range(16)), list(range(16, 32))]
    assert cut([7], 2) == [[7]]
    assert cut(list(range(3)), 1) == [[0, 1, 2]]


def test_lanes_run_at_once_on_two_threads_and_come_back_in_order() -> None:
    # each lane waits at a barrier for the other: it only passes if both run at the same time
    meet = threading.Barrier(2, timeout=120)
    seen: list[str] = []

    def lane(part: list[int]) -> list[int]:
        seen.append(threading.current_thread().name)
        meet.wait()
        return [10 * x for x in part]

    with ForwardPlan([_CpuModel()], cores=2) as plan:
        assert plan.current is plan.lanes and torch.get_num_threads() == 1
        out = plan.in_lanes(lane, list(range(7)))
    assert out == [[0, 10, 20, 30], [40, 50, 60]]
    assert len(set(seen)) == 2


def test_a_lane_goes_on_to_the_next_step_while_the_other_finishes_this_one() -> None:
    slow_lane_may_finish = threading.Event()
    next_step_began = threading.Event()

    def step_one(part: list[int]) -> list[int]:
        if part[0] >= 2:  # the second lane's part: held until the first lane has moved on
            assert slow_lane_may_finish.wait(timeout=120)
        return part

    def step_two(part: list[int]) -> list[int]:
        if part[0] == 10:
            next_step_began.set()
        return part

    with ForwardPlan([_CpuModel()], cores=2) as plan:
        assert plan.queues_steps
        first = plan.start_in_lanes(step_one, [0, 1, 2, 3])
        second = plan.start_in_lanes(step_two, [10, 11, 12, 13])
        assert next_step_began.wait(timeout=120)  # the first lane did not wait for the second
        slow_lane_may_finish.set()
        assert first.results() == [[0, 1], [2, 3]] and second.results() == [[10, 11], [12, 13]]
        assert first.schedule is plan.lanes
        plan.record(8, step_s=8 * 0.5)  # warm-up
        plan.record(4, step_s=4 * 0.5, schedule=plan.whole)  # started under another schedule: not counted
        assert plan.seconds_per_item() == {}


def test_every_lane_runs_torch_on_the_schedules_threads() -> None:
    with ForwardPlan([_CpuModel()], cores=4) as plan:
        assert plan.lanes.threads == 2 and torch.get_num_threads() == 2
        torch.set_num_threads(3)  # changed since: a new thread would start with 3
        first_lane, _ = plan.in_lanes(lambda part: torch.get_num_threads(), [1, 2])
        assert first_lane == 2


def test_the_plan_tries_the_other_schedule_on_long_runs_and_keeps_the_faster() -> None:
    before = torch.get_num_threads()
    with ForwardPlan([_CpuModel()], cores=2) as plan:
        plan.record(8, step_s=8 * 0.500)  # the first step (loading, freezing) is not counted
        assert plan.current is plan.lanes and plan.seconds_per_item() == {}
        for _ in range(ForwardPlan.FIRST_PROBE - 1):  # a short run keeps its start
            plan.record(32, step_s=32 * 0.025)
            assert plan.current is plan.lanes and torch.get_num_threads() == 1
        plan.record(32, step_s=32 * 0.025)
        assert plan.current is plan.whole and torch.get_num_threads() == 2  # a long one tries the other
        plan.record(32, step_s=32 * 0.035)
        assert plan.current is plan.lanes and torch.get_num_threads() == 1  # slower: back
        for _ in range(2 * ForwardPlan.REPROBE_EVERY - 1):  # it lost: tried again twice as late
            plan.record(32, step_s=32 * 0.025)
            assert plan.current is plan.lanes
        plan.record(32, step_s=32 * 0.025)
        assert plan.current is plan.whole
        plan.record(32, step_s=32 * 0.020)  # the load changed: whole is faster now, and kept
        assert plan.current is plan.whole and plan.seconds_per_item()["whole"] == pytest.approx(0.020)
        for _ in range(ForwardPlan.REPROBE_EVERY - 1):  # it won: the interval starts over
            plan.record(32, step_s=32 * 0.020)
            assert plan.current is plan.whole
        plan.record(32, step_s=32 * 0.020)
        assert plan.current is plan.lanes
    assert torch.get_num_threads() == before


def test_gpu_encoders_and_one_core_leave_torch_alone_in_one_lane() -> None:
    before = torch.get_num_threads()
    for plan in (ForwardPlan([_CpuModel(device="cuda")], cores=2), ForwardPlan([_CpuModel()], cores=1)):
        with plan:
            assert not plan.active and torch.get_num_threads() == before
            assert plan.in_lanes(lambda part: sum(part), [1, 2, 3]) == [6]
            plan.record(4, 1.0)
            plan.record(4, 1.0)
            assert torch.get_num_threads() == before


def test_an_unknown_start_is_refused() -> None:
    with pytest.raises(ValueError, match="lanes or whole"):
        ForwardPlan([_CpuModel()], cores=2, start="half")
