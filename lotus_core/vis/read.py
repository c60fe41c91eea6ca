"""Reading one chart image: panel, OCR, axis, path, flags, embedding, each with confidence.

    reading = read_chart(Image.open(path))
    reading.status        # "read", or "unreadable" with reading.reason saying why

Steps stop at the first one that cannot be done (no panel, no series colour, fewer than two
price labels, no path); the reading then says which and why, keeps what was found before
it, and carries no path, flags or embedding. Nothing is guessed. The time axis is not such
a step: a path whose time labels do not give times keeps `t_ms` None and `time_reason`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from PIL import Image

from lotus_core.vis.axis import AxisFit, fit_axis, grid_gaps, grid_step, on_grid
from lotus_core.vis.colours import classify_colours
from lotus_core.vis.digitise import digitise
from lotus_core.vis.embed import embed_path
from lotus_core.vis.ocr import Word, ocr_words
from lotus_core.vis.panel import find_panel
from lotus_core.vis.patterns import FLAGS, flags_of, path_stats
from lotus_core.vis.timeaxis import (
    TimeFit,
    fit_time_axis,
    split_zone,
    timestamps,
    title_date,
    zone_offset,
)
from lotus_core.vis.title import read_title

MIN_CONFIDENCE = 0.6  # vis_priors pattern.min_confidence default (modules/vis/module.yaml)
AXIS_STRIP = 12  # rows above and below the panel the axis labels may sit in
TIME_STRIP = 28  # rows below the panel the time labels may sit in
RETRY_SCALES = (2, 3)  # upscalings a dropped label is re-read at, in turn
RETRY_HALF = 0.8  # of the read labels' median height: rows above and below a re-read row
MAX_RETRIES = 12  # grid holes re-read at most; more is no regular grid we trust
MIN_INK = 32  # grey levels between a re-read crop's darkest and lightest pixel: less is blank


@dataclass
class Reading:
    """Everything read off one chart; JSON-able through `to_json`."""

    status: str = "unreadable"
    reason: str | None = None
    width: int = 0
    height: int = 0
    panel_bbox: list[int] | None = None
    panel_conf: float = 0.0
    ocr_text: str = ""
    symbol: str | None = None
    symbol_conf: float = 0.0
    timeframe: str | None = None
    timeframe_conf: float = 0.0
    axis: dict[str, Any] | None = None
    axis_conf: float = 0.0
    kind: str | None = None
    path_conf: float = 0.0
    x: list[float] = field(default_factory=list)
    t_ms: list[int] | None = None
    time_axis: dict[str, Any] | None = None
    time_conf: float = 0.0
    time_reason: str | None = None
    close: list[float] = field(default_factory=list)
    high: list[float] | None = None
    low: list[float] | None = None
    levels: list[float] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    pattern_flags: dict[str, float] = field(default_factory=dict)
    embedding: list[float] | None = None
    confidence: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Reading:
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})


def _axis_box(img: Image.Image, bbox: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The price-axis strip: right of the panel when there is room, else left of it."""
    x0, y0, x1, y1 = bbox
    top, bot = max(0, y0 - AXIS_STRIP), min(img.height, y1 + AXIS_STRIP)
    right = img.width - x1 - 1 >= 20
    return (x1 + 1, top, img.width, bot) if right else (0, top, max(1, x0), bot)


def _reread(img: Image.Image, box: tuple[int, int, int, int], fit: AxisFit, price: float,
            half: float) -> Word | None:
    """The label `price` re-read alone in a few rows of the strip around its fitted row (one
    text line: tesseract drops in a whole strip words it reads singly), or None."""
    row = float(fit.row_at(price))
    top, bot = max(box[1], round(row - half)), min(box[3], round(row + half))
    crop = img.crop((box[0], top, box[2], bot))
    if bot - top < 2 or np.ptp(np.asarray(crop.convert("L"))) < MIN_INK:
        return None  # a blank crop holds no label: spare tesseract
    for scale in RETRY_SCALES:
        for w in ocr_words(crop, digits=True, line=True, scale=scale):
            moved = replace(w, y=w.y + top - box[1])
            if on_grid(fit, moved, price, row_offset=box[1]):
                return moved
    return None


def _fill_grid(img: Image.Image, box: tuple[int, int, int, int], fit: AxisFit,
               words: list[Word]) -> list[Word]:
    """Words for the grid labels the strip pass missed: each hole of the fitted grid is re-read
    and kept only when it reads that very price at that row, so no label is invented."""
    gaps = grid_gaps(fit, box[1], box[3])
    if not gaps or len(gaps) > MAX_RETRIES:
        return []
    spacing = abs(float(fit.slope) * (grid_step(fit) or 0.0))  # rows between grid labels
    half = min(RETRY_HALF * float(np.median([w.h for w in words])), spacing / 2)
    found = (_reread(img, box, fit, p, half) for p in gaps)
    return [w for w in found if w is not None]


def _time_words(img: Image.Image, bbox: tuple[int, int, int, int]) -> list[Word]:
    """OCR the strip below the panel (clear of its frame) where time labels sit. No
    character whitelist: with one tesseract drops the spaces between labels."""
    top, bot = bbox[3] + 2, min(img.height, bbox[3] + 2 + TIME_STRIP)
    return ocr_words(img.crop((0, top, img.width, bot))) if bot - top >= 8 else []


def _time_doc(fit: TimeFit, zone: float) -> dict[str, Any]:
    return {"intercept": fit.intercept, "slope": fit.slope, "rms_px": fit.rms_px,
            "of_day": fit.of_day, "labels": [list(lab) for lab in fit.labels],
            "rejected": fit.rejected, "utc_offset_s": zone}


def _read_times(out: Reading, img: Image.Image, bbox: tuple[int, int, int, int],
                x: np.ndarray, at: datetime | None, title_words: list[Word]) -> None:
    """Give the path's points epoch-ms times, or keep why not in `time_reason`. The labels'
    zone is read from the title or the label strip (UTC without one); `at`, in that zone,
    else the title's date, dates them (timeaxis.py)."""
    words = _time_words(img, bbox)
    out.ocr_text = " ".join([out.ocr_text] + [w.text for w in words]).strip()
    words, tag = split_zone(words)
    zone = tag if tag is not None else zone_offset(title_words) or 0.0
    date = title_date(title_words)
    at_utc = None if at is None else (at if at.tzinfo else at.replace(tzinfo=UTC))
    ref = at_utc.timestamp() + zone if at_utc is not None else date
    fit = fit_time_axis(words, ref)
    if isinstance(fit, str):
        out.time_reason = fit
        return
    out.time_axis, out.time_conf = _time_doc(fit, zone), fit.confidence
    t = timestamps(fit, x, at, date, zone)
    if isinstance(t, str):
        out.time_reason = t
        return
    out.t_ms = [int(v) for v in t]


def _axis_doc(fit: AxisFit) -> dict[str, Any]:
    return {"intercept": fit.intercept, "slope": fit.slope, "rms_px": fit.rms_px,
            "labels": [list(lab) for lab in fit.labels], "rejected": fit.rejected}


def read_chart(img: Image.Image, *, min_confidence: float = MIN_CONFIDENCE,
               at: datetime | None = None) -> Reading:
    """Read a chart image; see the module doc for what stops a reading. `at` (the chart's
    as-of time) dates time-of-day labels (timeaxis.py)."""
    rgb_img = img.convert("RGB")
    rgb = np.asarray(rgb_img)
    out = Reading(width=rgb_img.width, height=rgb_img.height)
    panel = find_panel(rgb)
    if panel is None:
        out.reason = "no price panel found (no frame lines and no coloured series)"
        return out
    x0, y0, x1, y1 = panel.bbox
    out.panel_bbox, out.panel_conf = [x0, y0, x1, y1], panel.confidence
    title_words = ocr_words(rgb_img.crop((0, 0, rgb_img.width, y0)), line=True) if y0 >= 12 else []
    box = _axis_box(rgb_img, panel.bbox)
    axis_words, row_off = ocr_words(rgb_img.crop(box), digits=True), float(box[1])
    out.ocr_text = " ".join([w.text for w in title_words] + [w.text for w in axis_words])
    title = read_title(title_words)
    out.symbol, out.symbol_conf = title.symbol, title.symbol_conf
    out.timeframe, out.timeframe_conf = title.timeframe, title.timeframe_conf
    fit = fit_axis(axis_words, row_offset=row_off)
    if isinstance(fit, str):
        out.reason = fit
        return out
    extra = _fill_grid(rgb_img, box, fit, axis_words)
    refit = fit_axis(axis_words + extra, row_offset=row_off) if extra else fit
    if isinstance(refit, AxisFit):  # labels added on its own line only strengthen it
        fit = refit
        out.ocr_text = " ".join([out.ocr_text] + [w.text for w in extra])
    out.axis, out.axis_conf = _axis_doc(fit), fit.confidence
    colours = classify_colours(rgb[y0 + 1:y1, x0 + 1:x1])
    if colours.kind == "none":
        out.reason = "no series colour in the panel (only grey text, grid or background)"
        return out
    path = digitise(colours, x0 + 1, y0 + 1)
    if path is None:
        out.reason = f"too few {colours.kind} points in the panel to digitise a path"
        return out
    close = fit.price_at(path.close_row)
    if np.any(close <= 0):
        out.reason = "the axis map gives non-positive prices for the path"
        return out
    out.kind, out.path_conf = path.kind, path.confidence
    out.x, out.close = path.x.tolist(), close.tolist()
    _read_times(out, rgb_img, panel.bbox, path.x, at, title_words)
    if path.high_row is not None and path.low_row is not None:
        out.high = fit.price_at(path.high_row).tolist()
        out.low = fit.price_at(path.low_row).tolist()
    out.levels = [float(fit.price_at(r + y0 + 1)) for r in colours.level_rows]
    st = path_stats(close)
    out.stats = {"t_drift": st.t_drift, "range_ratio": st.range_ratio}
    out.flags = flags_of(close, out.levels[0] if out.levels else None)
    out.confidence = float(panel.confidence * fit.confidence * path.confidence)
    out.pattern_flags = {f: round(out.confidence, 4) for f in FLAGS
                         if out.flags.get(f) and out.confidence >= min_confidence}
    out.embedding = embed_path(close).tolist()
    out.status = "read"
    return out
