"""Progress of an index run: a tqdm bar on a terminal, or a callback for a background job.

Every indexer takes `progress=`: True (a bar on stderr), False (silent), or a callable
`sink(done, total)` that is told after each batch. A sink may raise (e.g. `JobCancelled`) to
stop the run at a batch boundary: what was stored stays stored, and a rerun resumes from there.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Union

ProgressSink = Callable[[float, float], None]
Progress = Union[bool, ProgressSink]


class SinkBar:
    """The part of tqdm's interface the indexers use, reporting to a sink."""

    def __init__(self, sink: ProgressSink, total: float, iterable: Iterable[Any] | None = None) -> None:
        self.sink = sink
        self.total = total
        self.n: float = 0
        self.iterable = iterable
        sink(0, total)

    def update(self, n: float = 1) -> None:
        """Count `n` more units done and tell the sink."""
        self.n += n
        self.sink(self.n, self.total)

    def close(self) -> None:
        """Nothing to tear down (tqdm's interface)."""

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)


def progress_bar(progress: Progress, total: float, unit: str, desc: str, iterable: Iterable[Any] | None = None, quiet_below: int = 1) -> Any:
    """A tqdm bar (hidden when `progress` is False or fewer than `quiet_below` units), or a SinkBar."""
    if callable(progress):
        return SinkBar(progress, total, iterable)
    from tqdm import tqdm

    return tqdm(iterable, total=total, unit=unit, desc=desc, disable=not progress or total < quiet_below)
