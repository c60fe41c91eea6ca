"""The live loops' collector pace (`lotus_core.live.gc_policy`): raised while any loop runs,
never lowered, and restored only when the last loop using it stops (loops share a process
and start and stop in any order)."""

from __future__ import annotations

import gc

from lotus_core.live.gc_policy import YOUNG_THRESHOLD, collecting_less


def test_the_threshold_is_raised_while_a_loop_runs_and_restored_after_the_last() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, before[1], before[2])
        feed, score = collecting_less(), collecting_less()
        feed.__enter__()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
        score.__enter__()
        feed.__exit__(None, None, None)  # the first to start stops first: still raised
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        score.__exit__(None, None, None)
        assert gc.get_threshold() == (700, before[1], before[2])
        gc.set_threshold(50_000, before[1], before[2])  # never lowered
        with collecting_less():
            assert gc.get_threshold()[0] == 50_000
        assert gc.get_threshold()[0] == 50_000
    finally:
        gc.set_threshold(*before)
