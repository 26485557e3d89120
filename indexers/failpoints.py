"""Named points where a run can be told to stop and wait, so crash tests kill it at a known moment.

A test sets `MMSEARCH_FAILPOINT=NAME` (the settings' `failpoint`, handed to `indexers.config`); when the run reaches that point it says so on stderr
and blocks until it is killed. Nothing happens when the variable is unset or names another point.
"""

from __future__ import annotations

import sys
import time

from indexers import config

#: After the first batch of an index run is stored in every collection.
BATCH_STORED = "batch-stored"


def reached(name: str) -> None:
    """Block forever at `name` if the configured failpoint names it (the test then kills the process)."""
    if config.current().failpoint != name:
        return
    # Plain stderr, not logging: the test waits for this exact line whatever the log level.
    sys.stderr.write(f"mmsearch: failpoint {name} reached\n")
    sys.stderr.flush()
    while True:
        time.sleep(3600)
