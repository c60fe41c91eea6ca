"""Causal recursive filters shared by the signal layer and the DSI experts (adjust=False:
the value at row t uses rows <= t). One definition each; the NaN policy is in the name or
a required argument, because the two layers treat a missing row differently on purpose:

    ewm(x, span|alpha)              NaN rows are skipped: they neither move nor age the mean
                                    (the detectors and meta-signals: a gap is not time)
    ewm_by_position(x, span|alpha)  NaN rows age the mean by position (the DSI experts:
                                    frames are the clock, a missing frame still passes)
    wilder_rsi(x, n, nan_rows=...)  Wilder RSI of row-to-row changes of x (alpha = 1/n),
                                    in [0, 100], 50 while nothing has moved

Both EWMs are pandas' `ewm(adjust=False).mean()` recursion as a compiled kernel
(lotus_core/row_kernels.py), equal to pandas bit for bit without its per-call overhead.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

NanRows = Literal["skip", "age"]


def ewm_com(span: float | None, alpha: float | None) -> float:
    """pandas' center of mass from span or alpha (its get_center_of_mass, with its checks);
    its alpha is 1 / (1 + com), not exactly 2 / (span + 1)."""
    if (span is None) == (alpha is None):
        raise ValueError("pass exactly one of span and alpha")
    if span is not None:
        if span < 1:
            raise ValueError("span must satisfy: span >= 1")
        return float((span - 1) / 2)
    if alpha <= 0 or alpha > 1:  # type: ignore[operator]
        raise ValueError("alpha must satisfy: 0 < alpha <= 1")
    return float((1 - alpha) / alpha)  # type: ignore[operator]


def _ewm(x: np.ndarray, span: float | None, alpha: float | None, ignore_na: bool) -> np.ndarray:
    """pandas' `Series(x).ewm(span|alpha, adjust=False, ignore_na).mean()`, compiled."""
    from lotus_core.row_kernels import ewm_kernel  # numba: on first use

    com = ewm_com(span, alpha)
    v = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(len(v))
    ewm_kernel(v, 1.0 / (1.0 + com), com == 1.0, ignore_na, out)
    return out


def ewm(x: np.ndarray, span: float | None = None, alpha: float | None = None) -> np.ndarray:
    """Exponential moving average (recursive, adjust=False); NaN inputs are skipped."""
    return _ewm(x, span, alpha, True)


def ewm_by_position(x: np.ndarray, span: float | None = None,
                    alpha: float | None = None) -> np.ndarray:
    """Causal exponential mean (adjust=False: a recursive filter, frames <= t), weighted by
    frame position: a NaN frame still ages the mean (unlike `ewm`, which skips NaN rows)."""
    return _ewm(x, span, alpha, False)


def wilder_rsi(x: np.ndarray, n: int, *, nan_rows: NanRows) -> np.ndarray:
    """Wilder RSI of the changes of `x` (up and down moves smoothed with alpha = 1/n), in
    [0, 100]; 50 while nothing has moved. `nan_rows` says what a NaN in `x` does:

    "skip" (the detectors): the first change is 0 and the averages skip NaN changes (`ewm`);
    "age"  (the DSI divergence expert): the first change is x[0] - x[0] (NaN when x[0] is)
           and NaN changes age the averages (`ewm_by_position`).

    On NaN-free input both give the same values."""
    x = np.asarray(x, dtype=np.float64)
    if nan_rows == "skip":
        d, smooth = np.r_[0.0, np.diff(x)], ewm
    elif nan_rows == "age":
        d, smooth = np.diff(x, prepend=x[:1]), ewm_by_position
    else:
        raise ValueError(f"nan_rows must be 'skip' or 'age', got {nan_rows!r}")
    up = smooth(np.maximum(d, 0.0), alpha=1.0 / n)
    dn = smooth(np.maximum(-d, 0.0), alpha=1.0 / n)
    tot = up + dn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, 100.0 * up / tot, 50.0)
