"""Drawing charts from known bars: Lotus's own screenshots, with the truth kept.

    img, truth = render_chart(bars, ChartStyle(kind="candles", theme="dark"), title="BTC 5m")

The layout follows the common trading-terminal look (title top left, price axis on the
right, time labels below: HH:MM, or dates (`2026-01-05`, or `Jan 5` with month names) when
a label step reaches a day, in UTC or a stated zone tagged under the price axis; faint grid),
drawn with Pillow and a TrueType font so the labels are the kind OCR reads. `RenderTruth`
keeps what was drawn where (panel, price-to-row map, axis labels, bar centres), so the
reader's every step can be scored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lotus_core.vis.synth import Bars

FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)

Rgb = tuple[int, int, int]

THEMES: dict[str, dict[str, Rgb]] = {
    "light": {"bg": (255, 255, 255), "text": (19, 23, 34), "border": (178, 181, 190),
              "grid": (240, 243, 250)},
    "dark": {"bg": (19, 23, 34), "text": (209, 212, 220), "border": (54, 58, 69),
             "grid": (30, 34, 45)},
}
UP: Rgb = (38, 166, 154)
DOWN: Rgb = (239, 83, 80)
LINE: Rgb = (41, 98, 255)
LEVEL: Rgb = (255, 152, 0)


@dataclass(frozen=True)
class ChartStyle:
    """How a chart is drawn: candles or line, light or dark, its size in pixels, how dates
    are written (`2026-01-05`, or `Jan 5` with `month_names`) and the zone of the time
    labels (minutes east of UTC; tagged `UTC+2` at the label row's right end, under the
    price axis, when `zone_tag`)."""

    kind: str = "candles"
    theme: str = "light"
    width: int = 800
    height: int = 480
    month_names: bool = False
    utc_offset_min: int = 0
    zone_tag: bool = False

    def zone_text(self) -> str:
        """`UTC`, `UTC+2`, `UTC-5` or `UTC+5:30` for the offset."""
        if self.utc_offset_min == 0:
            return "UTC"
        sign = "+" if self.utc_offset_min > 0 else "-"
        h, m = divmod(abs(self.utc_offset_min), 60)
        return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


@dataclass(frozen=True)
class RenderTruth:
    """What the renderer drew: panel box, the price<->row map and each axis label."""

    panel: tuple[int, int, int, int]
    price_lo: float
    price_hi: float
    labels: list[tuple[float, str]] = field(default_factory=list)
    xs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    time_labels: list[tuple[float, str]] = field(default_factory=list)  # (column, text)

    def row_of(self, price: float | np.ndarray) -> float | np.ndarray:
        """Pixel row (float) where `price` is drawn."""
        _, y0, _, y1 = self.panel
        share = (np.asarray(price) - self.price_lo) / (self.price_hi - self.price_lo)
        return y1 - share * (y1 - y0)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at `size` px when installed (scripts/ensure-tesseract.sh), else Pillow's."""
    for p in FONT_PATHS:
        if Path(p).exists():
            return ImageFont.truetype(p, size)
    return ImageFont.load_default(size)


def nice_step(span: float, target: int = 7) -> float:
    """A 1, 2, 2.5 or 5 x 10^k tick step giving about `target` ticks over `span`."""
    raw = span / target
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * mag:
            return m * mag
    return 10.0 * mag


def decimals_for(step: float) -> int:
    """Decimals needed to write multiples of `step` exactly."""
    for d in range(0, 9):
        if abs(round(step * 10**d) - step * 10**d) < 1e-6:
            return d
    return 8


def time_labels(when: datetime, bar_minutes: int, n: int, spacing: float, xs: np.ndarray,
                width: int, month_names: bool = False) -> list[tuple[int, str]]:
    """(bar, text) of the time labels, about 90 px apart: HH:MM while that is under a day,
    else dates (YYYY-MM-DD, or `Jan 5`) at midnights a whole number of days apart, as
    terminals draw. `when` is the first bar's time in the labels' zone."""
    every = max(1, round(90 / spacing))
    if bar_minutes * every < 1440 or 1440 % bar_minutes:
        return [(i, (when + timedelta(minutes=bar_minutes * i)).strftime("%H:%M"))
                for i in range(every // 2, n, every)]
    days = math.ceil(every * bar_minutes / 1440)
    out = []
    for i in range(n):
        t = when + timedelta(minutes=bar_minutes * i)
        if (t.hour, t.minute) == (0, 0) and t.toordinal() % days == 0 \
                and 40 <= xs[i] <= width - 40:
            out.append((i, f"{t:%b} {t.day}" if month_names else t.strftime("%Y-%m-%d")))
    return out


def render_chart(bars: Bars, style: ChartStyle, *, title: str | None = None,
                 level: float | None = None,
                 start: datetime | None = None,
                 bar_minutes: int = 5) -> tuple[Image.Image, RenderTruth]:
    """Draw `bars` in `style`; `level` draws a horizontal line at that price; `start` is
    the first bar's time (UTC)."""
    th = THEMES[style.theme]
    w, h = style.width, style.height
    img = Image.new("RGB", (w, h), th["bg"])
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = 10, 44, w - 84, h - 30
    lo, hi = float(bars.low.min()), float(bars.high.max())
    if level is not None:
        lo, hi = min(lo, level), max(hi, level)
    pad = 0.06 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    truth_panel = (x0, y0, x1, y1)

    def row(p: float) -> float:
        return y1 - (p - lo) / (hi - lo) * (y1 - y0)

    small = font(13)
    step = nice_step(hi - lo)
    dec = decimals_for(step)
    labels: list[tuple[float, str]] = []
    tick = math.ceil(lo / step) * step
    while tick <= hi:
        y = row(tick)
        if y0 + 6 <= y <= y1 - 6:
            text = f"{tick:.{dec}f}"
            d.line([(x0 + 1, round(y)), (x1 - 1, round(y))], fill=th["grid"])
            d.line([(x1, round(y)), (x1 + 4, round(y))], fill=th["border"])
            d.text((x1 + 8, y), text, font=small, fill=th["text"], anchor="lm")
            labels.append((tick, text))
        tick += step
    n = bars.n
    spacing = (x1 - x0 - 8) / n
    xs = np.round(x0 + 4 + spacing * (np.arange(n) + 0.5))  # pixel centres: no drawing bias
    local = (start or datetime(2026, 1, 5, 9, 0)) + timedelta(minutes=style.utc_offset_min)
    drawn = [(float(xs[i]), text)
             for i, text in time_labels(local, bar_minutes, n, spacing, xs, w, style.month_names)]
    for x, text in drawn:
        d.text((x, y1 + 8), text, font=small, fill=th["text"], anchor="mt")
    if style.zone_tag:
        d.text((w - 4, y1 + 8), style.zone_text(), font=small, fill=th["text"], anchor="rt")
    if level is not None:
        d.line([(x0 + 1, round(row(level))), (x1 - 1, round(row(level)))], fill=LEVEL, width=2)
    if style.kind == "line":
        pts = [(float(x), float(round(row(float(c))))) for x, c in zip(xs, bars.close, strict=True)]
        d.line(pts, fill=LINE, width=3, joint="curve")
    elif style.kind == "candles":
        half = max(1, int(spacing * 0.35))
        for x, o, hh, ll, c in zip(xs, bars.open, bars.high, bars.low, bars.close, strict=True):
            colour = UP if c >= o else DOWN
            xi = round(float(x))
            d.line([(xi, round(row(hh))), (xi, round(row(ll)))], fill=colour)
            top, bot = sorted((round(row(o)), round(row(c))))
            d.rectangle([xi - half, top, xi + half, max(bot, top + 1)], fill=colour)
    else:
        raise ValueError(f"unknown chart kind {style.kind!r} (candles, line)")
    d.rectangle([x0, y0, x1, y1], outline=th["border"])
    if title:
        d.text((12, 12), title, font=font(20), fill=th["text"])
    return img, RenderTruth(panel=truth_panel, price_lo=lo, price_hi=hi, labels=labels, xs=xs,
                            time_labels=drawn)
