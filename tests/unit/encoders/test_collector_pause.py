"""encoders.heap: the cycle collector paused for imports and model loads, large ones frozen."""

from __future__ import annotations

import gc
import sys
import threading
import weakref

import pytest

from encoders import heap


@pytest.fixture(autouse=True)
def restore_collector():
    was_enabled, frozen_before = gc.isenabled(), gc.get_freeze_count()
    yield
    if gc.get_freeze_count() > frozen_before:  # give back what a test froze
        gc.unfreeze()
    (gc.enable if was_enabled else gc.disable)()


def make_objects(n: int) -> list[list[int]]:
    return [[i] for i in range(n)]


def test_a_large_block_runs_paused_and_its_objects_are_frozen():
    gc.enable()
    before = gc.get_freeze_count()
    with heap.long_lived():
        assert not gc.isenabled()
        kept = make_objects(heap.FREEZE_FROM + 1000)
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(kept)


def test_garbage_of_the_moment_is_collected_not_frozen():
    gc.disable()  # only the block's own collection can free the cycle

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    with heap.long_lived():
        kept = make_objects(heap.FREEZE_FROM + 1000)
    assert gone() is None
    assert not gc.isenabled() and len(kept) > heap.FREEZE_FROM


def test_a_small_block_is_paused_but_not_frozen():
    gc.enable()
    before = gc.get_freeze_count()
    with heap.long_lived():
        assert not gc.isenabled()
        kept = make_objects(100)
    assert gc.isenabled()
    assert gc.get_freeze_count() == before
    assert len(kept) == 100


def test_nested_blocks_resume_only_when_the_outer_one_ends():
    gc.enable()
    with heap.long_lived():
        with heap.long_lived():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_block_in_another_thread_does_not_resume_the_collector_under_this_one():
    gc.enable()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with heap.long_lived():
            inside.set()
            leave.wait(timeout=60)

    t = threading.Thread(target=other)
    with heap.long_lived():
        t.start()
        assert inside.wait(timeout=60)
    assert not gc.isenabled()  # the other thread's block is still open
    leave.set()
    t.join(timeout=60)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    with heap.long_lived():
        make_objects(10)
    assert not gc.isenabled()


def test_an_error_in_the_block_still_resumes_the_collector():
    gc.enable()
    with pytest.raises(RuntimeError):
        with heap.long_lived():
            raise RuntimeError("load failed")
    assert gc.isenabled()


def test_imported_imports_a_module_once_and_then_hands_it_back(monkeypatch, tmp_path):
    name = "mmsearch_heap_probe"
    (tmp_path / f"{name}.py").write_text("VALUE = 41 + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    calls: list[str] = []
    real = heap.importlib.import_module
    monkeypatch.setattr(heap.importlib, "import_module", lambda mod: calls.append(mod) or real(mod))
    gc.enable()
    module = heap.imported(name)
    assert module.VALUE == 42 and calls == [name]
    assert heap.imported(name) is module and calls == [name]
    assert gc.isenabled()


def test_a_failed_import_resumes_the_collector(monkeypatch):
    gc.enable()
    with pytest.raises(ModuleNotFoundError):
        heap.imported("mmsearch_no_such_module")
    assert gc.isenabled()
