"""Charts rendered once per module from known bars (real PNG bytes, real tesseract)."""

from __future__ import annotations

import io

from PIL import Image

from lotus_core.vis.render import ChartStyle, RenderTruth, render_chart
from lotus_core.vis.synth import Bars, planted_bars


def chart(pattern: str, seed: int, kind: str, theme: str, *, title: str | None = "",
          level: bool = False) -> tuple[Bars, RenderTruth, bytes]:
    """(bars, truth, PNG bytes) of one rendered chart; title "" means '<symbol> 5m'."""
    bars = planted_bars(pattern, seed)
    img, truth = render_chart(bars, ChartStyle(kind=kind, theme=theme),
                              title=f"{bars.symbol} 5m" if title == "" else title,
                              level=bars.level if level else None)
    return bars, truth, png(img)


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))
