"""Progress of an index run: a terminal bar, or a callback that may stop the run."""

from __future__ import annotations

import pytest

from indexers.progress import SinkBar, progress_bar


def test_a_sink_hears_every_batch_and_can_stop_the_run():
    heard = []
    bar = progress_bar(lambda done, total: heard.append((done, total)), 10, "img", "indexing")
    assert isinstance(bar, SinkBar) and heard == [(0, 10)]
    bar.update(4)
    bar.update(6)
    assert heard[-1] == (10, 10) and bar.n == 10

    def stop(done, total):
        if done >= 2:
            raise KeyboardInterrupt

    seen = []
    with pytest.raises(KeyboardInterrupt):
        for item in progress_bar(stop, 5, "doc", "docs", iterable=range(5)):
            seen.append(item)
    assert seen == [0, 1]


def test_a_terminal_bar_is_tqdm_and_hidden_when_asked():
    from tqdm import tqdm

    bar = progress_bar(False, 3, "img", "indexing")
    assert isinstance(bar, tqdm) and bar.disable
    assert progress_bar(True, 1, "doc", "docs", quiet_below=2).disable
