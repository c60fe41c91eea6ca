"""The compiled kernels the live scoring path calls, loaded before its first batch.

numba loads a kernel's machine code from its on-disk cache (or compiles it, the first time
on a machine) at the kernel's first call with a given set of argument types. Left to the
live path, the score process's first tick would pay that: the feed's first batch (the
scan that decodes it), the night's DSI fit (the forest
over the history rows, the divergence expert's EMAs over frames read from the lake), then
the first trades and the first scored row. `warm_kernels` makes those calls on tiny inputs
of the very types the live path passes, through the same wrappers, so the daemon pays it
before it takes a batch.

A kernel is specialised per argument type: a different dtype, layout or a read-only array
is another signature, loaded or compiled on its own. The lake's columns arrive read-only
(Arrow's buffers), the live rows writable, so the EMA is warmed with both.
tests/core/live/test_warm_kernels.py replays real frames through the live engine after
`warm_kernels` in a fresh process and fails if any kernel gains a signature.

`warm_nightly_kernels` does the same for the kernels only the nightly chain's vectorised
features call. `python -m lotus_core.live.kernels` runs both: `make run` and `make test`
run it beside a one-core step, so a fresh clone compiles each kernel once, on the idle
core, instead of in every process that first calls it.
"""

from __future__ import annotations

import time


def warm_kernels() -> float:
    """Load (or compile) every kernel specialisation the live scoring path uses; the seconds
    it took, numba's import included."""
    t0 = time.perf_counter()
    import numpy as np

    from lotus_core.dsi.forest import ForestArrays, forest_scores, row_scorer
    from lotus_core.feed import scan_chunk
    from lotus_core.filters import ewm_by_position
    from lotus_core.microtape.outliers import SizeWindow
    from lotus_core.microtape.params import MicroTapeParams

    scan_chunk.warm()  # the feed's batches, decoded by the scan (extract_chunk)
    SizeWindow(MicroTapeParams()).thresholds(np.ones(3))  # FlowStream.add_trades
    leaf = ForestArrays(roots=np.zeros(1, np.int64), node=np.array([[0, -1, -1, 0]], np.int64),
                        val=np.ones(1), denominator=1.0, n_features=2)
    forest_scores(leaf, np.zeros((2, 2)))  # the night's DSI fit: the history's scores
    row_scorer(leaf)(0.0, 0.0)  # DsiStream's step, a row at a time
    frames = np.ones(3)
    ewm_by_position(frames, span=2)  # the divergence expert's EMAs in the fit
    frames.flags.writeable = False  # as the lake's columns arrive
    ewm_by_position(frames, span=2)
    return time.perf_counter() - t0


def warm_nightly_kernels() -> float:
    """Load (or compile) the kernels only the nightly chain's vectorised features call
    (lotus_core.row_kernels, through lotus_core.signals.features), for every type it
    passes (a lake column is read-only); the seconds it took."""
    t0 = time.perf_counter()
    import numpy as np

    from lotus_core.signals import features

    x, seg = np.arange(4.0), np.array([0, 0, 1, 1], np.int64)
    for column in (x, x.copy()):
        column.flags.writeable = column is not x
        features.window_range(column, 2)
        features.window_sum(column, 2)
        features.seg_cummax(column, seg)
        features.seg_ffill(column, seg == 1)
    features.first_in_segment(x > 1, seg)
    return time.perf_counter() - t0


if __name__ == "__main__":  # `make run` / `make test`: beside a one-core step (the fixtures'
    # generation, mypy), so the compile of a fresh clone is not paid later by each process
    print(f"compiled kernels loaded in {warm_kernels() + warm_nightly_kernels():.1f} s")
