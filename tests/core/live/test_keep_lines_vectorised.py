"""`StreamAssembler.keep_lines` takes a large batch (a replay's) in numpy and a small one
(live pace) line by line: both forms of raw_feed's line rules must keep the same lines and
carry the same state, across batches, on receive times that repeat, go back and leave the
day, with resent lines (the same hash) at and behind the running max."""

from __future__ import annotations

import numpy as np
import pytest

from lotus_core.feed import assemble
from lotus_core.feed.assemble import StreamAssembler
from lotus_core.time import day_bounds_ms

DAY = "2026-01-06"


def _lines(rng: np.random.Generator, n: int, t: int, last: bool
           ) -> tuple[np.ndarray, list[int]]:
    """Receive times that mostly advance by 0-2 ms, sometimes go back or are bad (-1), and
    in the last batches leave the day; hashes from a small pool, so identical lines recur
    at one time."""
    steps = rng.choice([0, 0, 1, 2, -3, -40], size=n, p=[.35, .2, .3, .1, .04, .01])
    recv = t + np.cumsum(steps)
    recv[rng.random(n) < 0.02] = -1
    end = day_bounds_ms(DAY)[1]
    if last:
        recv[rng.random(n) < 0.01] = end + 5
    hashes = rng.integers(-2**63, 2**63 - 1, size=12)[rng.integers(0, 12, size=n)]
    return recv.astype(np.int64), hashes.tolist()


@pytest.mark.parametrize("seed", range(6))
def test_numpy_and_loop_forms_keep_the_same_lines(seed: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    t = day_bounds_ms(DAY)[0] + 1_000
    fast, slow = StreamAssembler(DAY), StreamAssembler(DAY)
    kept, widest = 0, 0
    prev: tuple[np.ndarray, list[int]] = (np.zeros(0, np.int64), [])
    for k in range(40):
        n = int(rng.choice([1, 3, 65, 300, 2_000]))
        recv, hashes = _lines(rng, n, t, k >= 36)
        if k and rng.random() < 0.5:  # the previous batch's last lines, resent
            recv = np.concatenate([prev[0][-5:], recv])
            hashes = prev[1][-5:] + hashes
        prev = recv, hashes
        t = int(recv.max()) if recv.max() > 0 else t
        got = fast.keep_lines(recv, hashes)
        with monkeypatch.context() as m:
            m.setattr(assemble, "_LOOP_LINES", 10**9)  # the line-by-line form only
            want = slow.keep_lines(recv, hashes)
        assert got.tolist() == want.tolist()
        assert (fast.clock.max_recv, fast.clock.at_max) == (slow.clock.max_recv,
                                                            slow.clock.at_max)
        kept, widest = kept + int(got.sum()), max(widest, len(fast.clock.at_max))
    assert kept > 1_000 and widest > 1  # lines were kept and refused at a shared max
