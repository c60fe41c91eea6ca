"""Pixel rows to prices, from the price-axis labels OCR read.

Each label that parses as a number gives a point (row of its centre, price). The map is the
line row = a + b * price through them, fitted robustly: every pair of labels proposes a
line, the one with the most labels within INLIER_PX of it wins (ties: the smaller spread),
and the inliers are refitted by least squares. Prices must fall as rows grow (b < 0).
Confidence = min(1, (inliers - 1) / 3) * exp(-rms / 2 px): labels that agree on one linear
scale confirm each other (tesseract's own word confidence, low on JPEG edges even when the
digits are right, is kept with each word but not used); two labels fit any line exactly, so
two give at most 1/3 and four or more, on the line to a pixel, give nearly 1.

A chart's labels are a regular grid: `grid_gaps` names the grid prices the fit has no label
for (read.py re-reads each alone) and `on_grid` keeps a re-read word only when it is that
exact price at that row, so a retry can confirm a label but never invent one.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np

from lotus_core.vis.ocr import Word

INLIER_PX = 2.5
GRID_TOL = 1e-6  # of a grid step: how far from whole steps a gap, or a re-read value, may be
NUMBER = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$|^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class AxisFit:
    """row = intercept + slope * price, with the labels it rests on and its confidence."""

    intercept: float
    slope: float
    rms_px: float
    labels: list[tuple[float, float, str]]  # (row, price, text) of the inliers
    rejected: list[str]
    confidence: float

    def price_at(self, row: float | np.ndarray) -> np.ndarray:
        return (np.asarray(row, dtype=np.float64) - self.intercept) / self.slope

    def row_at(self, price: float | np.ndarray) -> np.ndarray:
        return self.intercept + self.slope * np.asarray(price, dtype=np.float64)


def parse_price(text: str) -> float | None:
    """A price label's value ('67,250.5' -> 67250.5), or None when it is not a number."""
    t = text.strip().replace(" ", "")
    if not NUMBER.match(t):
        return None
    return float(t.replace(",", ""))


def _fit(points: np.ndarray) -> tuple[float, float, float]:
    slope, intercept = np.polyfit(points[:, 1], points[:, 0], 1)
    resid = points[:, 0] - (intercept + slope * points[:, 1])
    return float(intercept), float(slope), float(np.sqrt(np.mean(resid**2)))


def fit_axis(words: list[Word], row_offset: float = 0.0) -> AxisFit | str:
    """The price map from OCR'd axis words (their rows shifted by `row_offset`), or the
    reason there is none."""
    pts, texts, rejected = [], [], []
    for w in words:
        p = parse_price(w.text)
        if p is None:
            rejected.append(w.text)
            continue
        pts.append((w.cy + row_offset, p))
        texts.append(w.text)
    if len(pts) < 2:
        return f"only {len(pts)} price label(s) read on the axis (need 2)"
    arr = np.asarray(pts, dtype=np.float64)
    best: tuple[int, float, np.ndarray] | None = None
    for i, j in itertools.combinations(range(len(arr)), 2):
        (r1, p1), (r2, p2) = arr[i], arr[j]
        if p1 == p2 or r1 == r2:
            continue
        b = (r2 - r1) / (p2 - p1)
        if b >= 0:
            continue
        a = r1 - b * p1
        err = np.abs(arr[:, 0] - (a + b * arr[:, 1]))
        inl = err <= INLIER_PX
        score = (int(inl.sum()), -float(err[inl].sum()))
        if best is None or score > (best[0], best[1]):
            best = (score[0], score[1], inl)
    if best is None or best[0] < 2:
        return "the axis labels do not fall on one price scale (prices must rise upwards)"
    inl = best[2]
    a, b, rms = _fit(arr[inl])
    if b >= 0:
        return "the axis labels do not fall on one price scale (prices must rise upwards)"
    n = int(inl.sum())
    conf = min(1.0, (n - 1) / 3) * math.exp(-rms / 2.0)
    labels = [(float(arr[k, 0]), float(arr[k, 1]), texts[k]) for k in np.flatnonzero(inl)]
    rejected += [texts[k] for k in np.flatnonzero(~inl)]
    return AxisFit(intercept=a, slope=b, rms_px=rms, labels=labels, rejected=rejected,
                   confidence=float(conf))


def _decimals(text: str) -> int:
    t = text.replace(",", "")
    return len(t) - t.index(".") - 1 if "." in t else 0


def grid_step(fit: AxisFit) -> float | None:
    """The price step of the fitted labels when every gap between them is a whole number of
    one step (a chart's labels are a regular grid), else None: no grid, nothing to look for."""
    prices = sorted({p for _, p, _ in fit.labels})
    gaps = np.diff(prices)
    if gaps.size == 0:
        return None
    step = float(gaps.min())
    k = gaps / step
    return step if bool(np.all(np.abs(k - np.round(k)) <= GRID_TOL)) else None


def grid_gaps(fit: AxisFit, top: float, bottom: float) -> list[float]:
    """Grid prices whose rows fall in [top, bottom] with no fitted label: where a label the
    OCR dropped or misread sits. Written to the labels' own decimals, so they compare exactly."""
    step = grid_step(fit)
    if step is None:
        return []
    dec = max(_decimals(t) for _, _, t in fit.labels)
    base = fit.labels[0][1]
    lo, hi = sorted(float(v) for v in fit.price_at(np.array([top, bottom])))
    have = {round(p, dec) for _, p, _ in fit.labels}
    prices = (round(base + k * step, dec)
              for k in range(math.ceil((lo - base) / step), math.floor((hi - base) / step) + 1))
    return [p for p in prices if p not in have]


def on_grid(fit: AxisFit, word: Word, price: float, row_offset: float = 0.0) -> bool:
    """Whether a re-read word is the grid label `price`: it parses to that price exactly and
    sits on the fitted line at its row. A different value, even a near one, is refused."""
    value = parse_price(word.text)
    if value is None or abs(value - price) > GRID_TOL * abs(grid_step(fit) or 0.0):
        return False
    return abs(word.cy + row_offset - float(fit.row_at(price))) <= INLIER_PX
