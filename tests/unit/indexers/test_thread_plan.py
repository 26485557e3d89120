"""The photo pipeline's choice of torch threads, from fed costs (no timing in the test)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from indexers.model_inputs import ThreadPlan

torch = pytest.importorskip("torch")


def _idle() -> float:
    """A load average with no other process running."""
    return 0.0


@dataclass
class _CpuModel:
    device: str = "cpu"
    prepare_key: str | None = "model"


def test_a_model_that_dominates_keeps_every_core_and_is_never_split() -> None:
    before = torch.get_num_threads()
    with ThreadPlan(workers=2, encoders=[_CpuModel()], cores=2, load=_idle) as plan:
        assert torch.get_num_threads() == 2
        for _ in range(20):  # CLIP-like: 10 ms of decoding against 40 ms of forward per photo
            plan.add_decode(0.010 * 32, items=32)
            plan.record(32, step_s=32 * 0.045, forward_s=32 * 0.040)
            assert plan.threads == 2 and torch.get_num_threads() == 2
    assert torch.get_num_threads() == before


def test_comparable_decoding_tries_a_core_for_it_and_keeps_the_faster() -> None:
    with ThreadPlan(workers=2, encoders=[_CpuModel()], cores=2, load=_idle) as plan:
        # EfficientNet-like: decoding ~ forward
        plan.add_decode(0.010 * 32, items=32)
        plan.record(32, step_s=32 * 0.022, forward_s=32 * 0.014)
        assert plan.threads == 1  # tried
        plan.record(32, step_s=32 * 0.018, forward_s=32 * 0.018)
        assert plan.threads == 1  # faster: kept
        for _ in range(ThreadPlan.REPROBE_EVERY - 2):
            plan.record(32, step_s=32 * 0.018, forward_s=32 * 0.018)
            assert plan.threads == 1
        plan.record(32, step_s=32 * 0.018, forward_s=32 * 0.018)
        assert plan.threads == 2  # every REPROBE_EVERY steps the other is tried again
        plan.record(32, step_s=32 * 0.030, forward_s=32 * 0.020)
        assert plan.threads == 1  # still slower: back


def test_a_slower_split_goes_back_to_every_core() -> None:
    with ThreadPlan(workers=2, encoders=[_CpuModel()], cores=2, load=_idle) as plan:
        plan.add_decode(0.010, items=1)
        plan.record(8, step_s=8 * 0.020, forward_s=8 * 0.015)
        assert plan.threads == 1
        plan.record(32, step_s=32 * 0.030, forward_s=32 * 0.030)
        assert plan.threads == 2


def test_gpu_encoders_leave_threads_alone_and_one_core_gets_one_thread() -> None:
    before = torch.get_num_threads()
    with ThreadPlan(workers=2, encoders=[_CpuModel(device="cuda")], cores=2, load=_idle) as plan:
        plan.add_decode(1.0)
        plan.record(4, step_s=1.0, forward_s=0.1)
        assert torch.get_num_threads() == before
    with ThreadPlan(workers=2, encoders=[_CpuModel()], cores=1, load=_idle) as plan:
        plan.add_decode(1.0)
        plan.record(4, step_s=1.0, forward_s=0.1)
        assert plan.threads == 1
    assert torch.get_num_threads() == before


def test_on_an_oversubscribed_machine_a_dominant_model_tries_one_core_fewer() -> None:
    load = [2.0 + 2 + 2]  # cores + this run's own torch threads and decode workers: others fill every core
    with ThreadPlan(workers=2, encoders=[_CpuModel()], cores=2, load=lambda: load[0]) as plan:
        assert plan.oversubscribed()
        plan.add_decode(0.010 * 32, items=32)
        plan.record(32, step_s=32 * 0.300, forward_s=32 * 0.290)  # CLIP-like costs, but contended
        assert plan.threads == 1  # tried despite the model dominating
        plan.record(32, step_s=32 * 0.200, forward_s=32 * 0.190)
        assert plan.threads == 1  # faster: kept
    load[0] = 5.9
    with ThreadPlan(workers=2, encoders=[_CpuModel()], cores=2, load=lambda: load[0]) as plan:
        assert not plan.oversubscribed()  # its own threads alone do not count
        plan.add_decode(0.010 * 32, items=32)
        plan.record(32, step_s=32 * 0.045, forward_s=32 * 0.040)
        assert plan.threads == 2
