"""The price path, pixel by pixel: series-coloured pixels per column, turned into rows.

Line: in each column, the middle of the series pixels' vertical extent is the path's row
there (a segment crossing the column covers the rows between its ends), except at a turn:
a column whose neighbours' middles both sit lower is a peak, read at its top edge plus
the stroke's half width (both higher: a trough, its bottom edge minus it). Candles: runs of
adjacent series-coloured columns are candidates; the runs of typical width fix a regular
grid (centre = phase + k * pitch, least squares), and every column joins the grid slot
nearest it, so a candle split by a lost pixel or two candles touching still count once
each. A slot's extreme rows are high and low; its body is the extent of its columns other
than the wick (the fullest column); the close is the body's top when the slot is mostly the
up colour, else its bottom. Rows are image rows; the axis fit turns them into prices.
Confidence: the share of columns between the first and last point that hold a point (line),
or the share of grid slots between the first and last candle that hold one (candles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lotus_core.vis.colours import Colours


@dataclass(frozen=True)
class Path:
    """Digitised series: x (image columns), close rows, and high/low rows for candles."""

    kind: str
    x: np.ndarray
    close_row: np.ndarray
    high_row: np.ndarray | None
    low_row: np.ndarray | None
    confidence: float


def _line(mask: np.ndarray, x0: int, y0: int) -> Path | None:
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size < 8:
        return None
    rows = np.arange(mask.shape[0])[:, None]
    top = np.where(mask, rows, mask.shape[0]).min(axis=0)
    bot = np.where(mask, rows, -1).max(axis=0)
    t, b = top[cols].astype(np.float64), bot[cols].astype(np.float64)
    mid = (t + b) / 2.0
    half = float(np.percentile(b - t, 5)) / 2.0  # the stroke's half width, from flat parts
    prev, nxt = np.r_[mid[0], mid[:-1]], np.r_[mid[1:], mid[-1]]
    peak = (prev > mid) & (nxt > mid)  # rows grow downwards: a peak's neighbours sit lower
    trough = (prev < mid) & (nxt < mid)
    row = np.where(peak, t + half, np.where(trough, b - half, mid))
    span = cols[-1] - cols[0] + 1
    return Path(kind="line", x=cols + x0, close_row=row + y0, high_row=None, low_row=None,
                confidence=float(cols.size / span))


def _runs(present: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], present.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _pitch(runs: list[tuple[int, int]]) -> tuple[float, float]:
    """(pitch, phase) of the candle grid: centre = phase + k * pitch, fitted on the runs of
    typical width (a run split by a lost pixel or two candles touching is left out)."""
    centres = np.array([(s + e - 1) / 2.0 for s, e in runs])
    widths = np.array([e - s for s, e in runs])
    typical = np.abs(widths - np.median(widths)) <= 1
    c = centres[typical]
    pitch = float(np.median(np.diff(c))) if c.size > 1 else float(widths.max() + 1)
    # slot numbers from local steps (each gap a whole number of pitches), so the rounding
    # of a fractional pitch does not accumulate along the chart
    k = np.concatenate([[0.0], np.cumsum(np.maximum(1, np.round(np.diff(c) / pitch)))])
    if np.unique(k).size > 1:
        pitch, phase = (float(v) for v in np.polyfit(k, c, 1))
    else:
        phase = float(c[0])
    return pitch, phase


def _candles(up: np.ndarray, down: np.ndarray, x0: int, y0: int) -> Path | None:
    anyc = up | down
    runs = _runs(anyc.any(axis=0))
    if len(runs) < 5:
        return None
    pitch, phase = _pitch(runs)
    if pitch < 2:
        return None
    cols = np.arange(anyc.shape[1])
    slot = np.round((cols - phase) / pitch).astype(int)
    rows = np.arange(anyc.shape[0])
    xs, close, high, low = [], [], [], []
    for k in np.unique(slot[anyc.any(axis=0)]):
        sel = slot == k
        block = anyc[:, sel]
        ys = rows[block.any(axis=1)]
        centre = int(np.argmax(block.sum(axis=0)))  # the wick column holds the most pixels
        side = np.delete(block, centre, axis=1)
        body = rows[side.any(axis=1)] if side.any() else ys
        is_up = up[:, sel].sum() >= down[:, sel].sum()
        xs.append(phase + k * pitch + x0)
        close.append((body.min() if is_up else body.max()) + y0)
        high.append(ys.min() + y0)
        low.append(ys.max() + y0)
    filled = np.unique(slot[anyc.any(axis=0)])
    return Path(kind="candles", x=np.asarray(xs), close_row=np.asarray(close, dtype=float),
                high_row=np.asarray(high, dtype=float), low_row=np.asarray(low, dtype=float),
                confidence=float(filled.size / (filled.max() - filled.min() + 1)))


def digitise(colours: Colours, x0: int, y0: int) -> Path | None:
    """The path drawn in a panel crop whose top-left pixel is (x0, y0) of the image."""
    if colours.kind == "line":
        return _line(colours.series[0].mask, x0, y0)
    if colours.kind == "candles":
        return _candles(colours.series[0].mask, colours.series[1].mask, x0, y0)
    return None
