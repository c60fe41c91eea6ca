"""Which colours in the panel are the price series and which are drawn levels.

Saturated pixels (panel.saturated) are binned by hue (HUE_BINS bins); bins holding at least
MIN_SHARE of them, merged with their neighbours, are the chart's colours. A colour whose
pixels sit in at most LEVEL_ROWS rows while spanning at least half the panel's width is a
drawn horizontal level; the others are the series. One series colour means a line chart;
two mean candles, the one whose hue is nearer green (120 degrees) being the up colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lotus_core.vis.panel import saturated

HUE_BINS = 36
MIN_SHARE = 0.04
LEVEL_ROWS = 4


@dataclass(frozen=True)
class Colour:
    """One hue cluster: its mean hue (degrees), pixel mask and share of saturated pixels."""

    hue: float
    mask: np.ndarray
    share: float


@dataclass(frozen=True)
class Colours:
    """The panel's series colours (up first for candles) and drawn level rows."""

    kind: str  # "line", "candles" or "none"
    series: list[Colour] = field(default_factory=list)
    level_rows: list[float] = field(default_factory=list)


def hue_degrees(rgb: np.ndarray) -> np.ndarray:
    """Hue of each pixel in degrees [0, 360)."""
    f = rgb.astype(np.float64) / 255.0
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    mx, mn = f.max(axis=-1), f.min(axis=-1)
    c = np.maximum(mx - mn, 1e-9)
    h = np.where(mx == r, ((g - b) / c) % 6, np.where(mx == g, (b - r) / c + 2, (r - g) / c + 4))
    return (h * 60.0) % 360.0


def _clusters(bins: np.ndarray, counts: np.ndarray, total: int) -> list[list[int]]:
    keep = [b for b in range(HUE_BINS) if counts[b] >= MIN_SHARE * total]
    groups: list[list[int]] = []
    for b in keep:
        if groups and (b - groups[-1][-1]) == 1:
            groups[-1].append(b)
        else:
            groups.append([b])
    if len(groups) > 1 and groups[0][0] == 0 and groups[-1][-1] == HUE_BINS - 1:
        groups[0] = groups.pop() + groups[0]  # red wraps around 0 degrees
    return groups


def classify_colours(rgb: np.ndarray) -> Colours:
    """Series and level colours of a panel crop (H, W, 3)."""
    sat = saturated(rgb)
    total = int(sat.sum())
    if total == 0:
        return Colours(kind="none")
    hue = hue_degrees(rgb)
    bins = np.minimum((hue / (360 / HUE_BINS)).astype(np.int64), HUE_BINS - 1)
    counts = np.bincount(bins[sat], minlength=HUE_BINS)
    series: list[Colour] = []
    levels: list[float] = []
    width = rgb.shape[1]
    for group in _clusters(bins, counts, total):
        mask = sat & np.isin(bins, group)
        ys, xs = np.nonzero(mask)
        rows = np.unique(ys)
        ang = np.deg2rad(hue[mask])
        mean_hue = float(np.rad2deg(np.arctan2(np.sin(ang).mean(), np.cos(ang).mean())) % 360)
        if rows.size <= LEVEL_ROWS and (xs.max() - xs.min()) >= 0.5 * width:
            levels.append(float(ys.mean()))
        else:
            series.append(Colour(hue=mean_hue, mask=mask, share=float(mask.sum()) / total))
    series.sort(key=lambda c: -c.share)
    if not series:
        return Colours(kind="none", level_rows=levels)
    if len(series) == 1:
        return Colours(kind="line", series=series, level_rows=levels)
    two = sorted(series[:2], key=lambda c: min(abs(c.hue - 120), 360 - abs(c.hue - 120)))
    return Colours(kind="candles", series=two, level_rows=levels)
