"""Writing behind the indexing thread: one write in flight, errors raised in the caller,
`done` only after a write succeeded (events, not sleeps)."""

from __future__ import annotations

import threading

import pytest

from indexers.store_behind import StoreBehind


def test_a_write_runs_behind_and_done_follows_it() -> None:
    release, started = threading.Event(), threading.Event()
    log: list[str] = []

    def slow_write() -> None:
        started.set()
        assert release.wait(120)
        log.append("written")

    with StoreBehind() as behind:
        behind.submit(slow_write, lambda: log.append("done"))
        assert started.wait(120)
        assert log == []  # the caller went on while the write waits
        release.set()
        behind.submit(lambda: log.append("second"), lambda: log.append("done 2"))
        assert log[:2] == ["written", "done"]  # the first finished before the second started
    assert log == ["written", "done", "second", "done 2"]  # leaving waits for the last


def test_a_failed_write_raises_in_the_caller_and_is_not_counted() -> None:
    done: list[int] = []

    def failing() -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        with StoreBehind() as behind:
            behind.submit(failing, lambda: done.append(1))
            behind.wait()
    assert done == []
    with pytest.raises(OSError, match="No space"):  # or when leaving, if nothing else went wrong
        with StoreBehind() as behind:
            behind.submit(failing, lambda: done.append(1))
    assert done == []


def test_leaving_on_another_error_keeps_that_error() -> None:
    with pytest.raises(KeyError):
        with StoreBehind() as behind:
            behind.submit(lambda: (_ for _ in ()).throw(OSError("store")), lambda: None)
            raise KeyError("forward failed")
