"""How many processes a step should run on: its own core plus the cores idle now.

A step that can split its work over processes (the parse's extraction, the fixture days'
generation) gains only where a core is idle: on a machine already busy (a test suite's
workers, a backfill's runs side by side, the daemon beside a nightly) the extra processes
add their start-up and the pickling of their results to the machine's load and finish no
sooner (a 13 MB recording: 23 % more CPU for the same wall time with both cores taken).
The results never depend on the number chosen: callers pick a path, not an answer.
"""

from __future__ import annotations

import os


def spare_workers(limit: int = 2) -> int:
    """1 + the cores idle now (the machine's cores less its one-minute load average), at
    most `limit`, at least 1. Where the load cannot be read, the cores alone decide."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not every platform has a load average
        load = 0.0
    idle = int(cores - load)  # the calling process is part of the load: 1 + idle cores
    return max(1, min(limit, cores, 1 + max(0, idle)))
