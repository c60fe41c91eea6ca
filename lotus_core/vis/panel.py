"""Finding the price panel: the rectangle the price path is drawn in.

Charting tools frame the panel with straight lines (its border, or at least the price and
time axes). A row (column) belongs to a frame line when pixels off the background colour
cover at least FRAME_SHARE of it in one unbroken run (text and series break their runs);
the panel is the box between the outermost such lines. Found on all four sides,
confidence is 1; with only some, the missing sides fall back to the extent of the
saturated (series-coloured) pixels and confidence drops by a quarter per missing side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_SHARE = 0.6


@dataclass(frozen=True)
class Panel:
    """Panel box [x0, y0, x1, y1] (inclusive pixels) and how sure the finder is."""

    bbox: tuple[int, int, int, int]
    confidence: float
    sides_found: int


def background(rgb: np.ndarray) -> np.ndarray:
    """The most common colour (the chart's background)."""
    flat = rgb.reshape(-1, 3)
    keys = (flat[:, 0].astype(np.int64) << 16) | (flat[:, 1].astype(np.int64) << 8) | flat[:, 2]
    vals, counts = np.unique(keys, return_counts=True)
    k = int(vals[np.argmax(counts)])
    return np.array([(k >> 16) & 255, (k >> 8) & 255, k & 255])


def _longest_run(mask: np.ndarray) -> np.ndarray:
    """Per row of a boolean 2-D array: the length of its longest run of True."""
    best = np.zeros(mask.shape[0], dtype=np.int64)
    cur = np.zeros(mask.shape[0], dtype=np.int64)
    for j in range(mask.shape[1]):
        cur = np.where(mask[:, j], cur + 1, 0)
        best = np.maximum(best, cur)
    return best


def _line_rows(rgb: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Rows holding a straight line: pixels off the background in one long run."""
    w = rgb.shape[1]
    not_bg = np.abs(rgb.astype(np.int64) - bg).sum(axis=2) > 24
    return np.flatnonzero(_longest_run(not_bg) >= FRAME_SHARE * w)


def saturated(rgb: np.ndarray, min_sat: float = 0.35, min_val: float = 0.25) -> np.ndarray:
    """Mask of pixels with a clear hue (series and drawings, not text, grid or ground)."""
    f = rgb.astype(np.float64) / 255.0
    mx, mn = f.max(axis=2), f.min(axis=2)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-9), 0.0)
    return (sat >= min_sat) & (mx >= min_val)


def find_panel(rgb: np.ndarray) -> Panel | None:
    """The price panel of an RGB image array (H, W, 3), or None when nothing is drawn."""
    bg = background(rgb)
    rows = _line_rows(rgb, bg)
    cols = _line_rows(np.ascontiguousarray(rgb.transpose(1, 0, 2)), bg)
    sat = saturated(rgb)
    ys, xs = np.nonzero(sat)
    if ys.size == 0 and (rows.size < 2 or cols.size < 2):
        return None
    ext = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())) if ys.size else None
    found = 0
    sides: list[int] = []
    for lines, pick, fallback in (
        (cols, lambda a: a.min(), ext[0] if ext else 0),
        (rows, lambda a: a.min(), ext[1] if ext else 0),
        (cols, lambda a: a.max(), ext[2] if ext else rgb.shape[1] - 1),
        (rows, lambda a: a.max(), ext[3] if ext else rgb.shape[0] - 1),
    ):
        if lines.size >= 2 or (lines.size == 1 and ext is None):
            sides.append(int(pick(lines)))
            found += 1
        else:
            sides.append(int(fallback))
    x0, y0, x1, y1 = sides
    if x1 - x0 < 20 or y1 - y0 < 20:
        return None
    return Panel(bbox=(x0, y0, x1, y1), confidence=1.0 - 0.25 * (4 - found), sides_found=found)
