"""The trade tape's robust size threshold is one compiled kernel (outliers.py) for the
nightly and the live tape: equal to numpy's two-partition definition bit for bit (NaN, inf,
ties), and the same fed whole or a few trades at a time (tests/core/test_one_definition.py
keeps it the only definition, tests/core/test_kernel_cache.py its cache)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from lotus_core.microtape.outliers import SizeWindow, robust_thresholds
from lotus_core.microtape.params import MicroTapeParams

P = MicroTapeParams()


def partition_reference(sz: np.ndarray, params: MicroTapeParams) -> np.ndarray:
    """The definition the kernel replaced: median and MAD by np.partition over each trade's
    previous `outlier_window` sizes (an oracle here, not a second implementation)."""
    w, n = params.outlier_window, len(sz)
    out = np.full(n, np.nan)
    if n <= w:
        return out
    h = w // 2
    part = np.partition(sliding_window_view(sz, w)[: n - w], h, axis=1)
    med = part[:, h]
    dev = np.abs(part - med[:, None])
    dev.partition(h, axis=1)
    out[w:] = med + params.outlier_k * np.maximum(dev[:, h], params.outlier_mad_floor * med)
    return out


def _sizes(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    sz = rng.lognormal(size=n)
    if kind == "lots":  # lot-size ties: the MAD floor decides
        sz = np.round(sz, 1)
    elif kind == "nan":
        sz[rng.random(n) < 0.3] = np.nan
    elif kind == "inf":  # infinite medians take the sorted-distances path
        sz[rng.random(n) < 0.6] = np.inf
        sz[rng.random(n) < 0.1] = np.nan
        sz[rng.random(n) < 0.05] = -np.inf
    return sz


@pytest.mark.parametrize("kind", ["plain", "lots", "nan", "inf"])
def test_kernel_equals_the_partition_definition_whole_and_in_batches(kind: str) -> None:
    rng = np.random.default_rng(7)
    for n in (0, 5, P.outlier_window, P.outlier_window + 1, 2500):
        sz = _sizes(rng, kind, n)
        with np.errstate(invalid="ignore"):
            want = partition_reference(sz, P)
        got = robust_thresholds(sz, P)
        assert np.array_equal(got, want, equal_nan=True)
        assert got.tobytes() == want.tobytes()  # bit for bit, NaN payloads aside: none differ
        win, parts, i = SizeWindow(P), [], 0
        while i < n:  # the live tape: a few trades a call, the state carried
            k = int(rng.integers(1, 12))
            parts.append(win.thresholds(sz[i:i + k]))
            i += k
        live = np.concatenate(parts) if parts else np.empty(0)
        assert live.tobytes() == got.tobytes()
