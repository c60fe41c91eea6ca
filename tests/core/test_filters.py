"""The shared causal filters (lotus_core/filters.py): one Wilder RSI with an explicit NaN
policy, byte-identical to the two definitions it replaced (the detectors' and the DSI
divergence expert's), and the two EWMs' NaN policies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.filters import ewm, ewm_by_position, wilder_rsi


def _detectors_rsi_before(x: np.ndarray, span: int) -> np.ndarray:
    """lotus_core.signals.detectors._rsi as it was (NaN changes skipped, first change 0)."""
    dx = np.r_[0.0, np.diff(x)]
    s = {"adjust": False, "ignore_na": True}
    up = pd.Series(np.maximum(dx, 0.0)).ewm(alpha=1.0 / span, **s).mean().to_numpy()
    dn = pd.Series(np.maximum(-dx, 0.0)).ewm(alpha=1.0 / span, **s).mean().to_numpy()
    tot = up + dn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, 100.0 * up / tot, 50.0)


def _dsi_rsi_before(mid: np.ndarray, n: int) -> np.ndarray:
    """lotus_core.dsi.divergence.rsi as it was (NaN changes age the averages)."""
    d = np.diff(mid, prepend=mid[:1])
    up = pd.Series(np.maximum(d, 0.0)).ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()
    dn = pd.Series(np.maximum(-d, 0.0)).ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()
    tot = up + dn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, 100.0 * up / tot, 50.0)


def _series(seed: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    x = np.cumsum(rng.normal(size=n)) + 100.0
    if seed % 2:
        x[rng.random(n) < 0.1] = np.nan
    if seed % 3 == 0:
        x[0] = np.nan
    if seed % 5 == 0:
        x[: n // 3] = x[0]  # a flat start: 50 until something moves
    return x, int(rng.integers(1, 60))


@pytest.mark.parametrize("seed", range(40))
def test_wilder_rsi_is_byte_identical_to_both_former_definitions(seed: int) -> None:
    x, n = _series(seed)
    assert wilder_rsi(x, n, nan_rows="skip").tobytes() == _detectors_rsi_before(x, n).tobytes()
    assert wilder_rsi(x, n, nan_rows="age").tobytes() == _dsi_rsi_before(x, n).tobytes()


def test_the_nan_policies_agree_without_nans_and_differ_with_them() -> None:
    x = np.array([1.0, 2.0, 4.0, 3.0, 3.5, 2.0])
    assert wilder_rsi(x, 3, nan_rows="skip").tobytes() == wilder_rsi(x, 3, nan_rows="age").tobytes()
    gap = np.array([1.0, 2.0, np.nan, 3.0, 2.0, 2.0])
    skip, age = wilder_rsi(gap, 2, nan_rows="skip"), wilder_rsi(gap, 2, nan_rows="age")
    # skip: the gap is not time; after +1, -1 the averages are up 0.25, down 0.5.
    assert skip.tolist() == pytest.approx([50.0, 100.0, 100.0, 100.0, 100 / 3, 100 / 3])
    assert age[4] != pytest.approx(skip[4])  # age: the gap decayed the earlier gain


def test_wilder_rsi_bounds_and_flat_input() -> None:
    x, n = _series(11)
    for policy in ("skip", "age"):
        r = wilder_rsi(x, n, nan_rows=policy)
        assert np.all((r >= 0) & (r <= 100))
        assert wilder_rsi(np.full(20, 5.0), 4, nan_rows=policy).tolist() == [50.0] * 20
    with pytest.raises(ValueError, match="nan_rows must be 'skip' or 'age'"):
        wilder_rsi(x, n, nan_rows="drop")  # type: ignore[arg-type]  # the error path


def test_ewm_skips_nan_rows_and_ewm_by_position_ages_them() -> None:
    x = np.array([0.0, np.nan, np.nan, 1.0])
    assert ewm(x, alpha=0.5)[-1] == pytest.approx(0.5)  # as if the gap were not there
    assert ewm_by_position(x, alpha=0.5)[-1] > 0.5  # the old value aged two extra steps
