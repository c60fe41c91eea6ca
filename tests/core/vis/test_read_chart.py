"""Reading rendered charts with the real tesseract: every step against what was drawn."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from lotus_core.vis.read import read_chart
from tests.core.vis.chart_kit import chart, decode


def _px_bps(truth_lo: float, truth_hi: float, panel_h: int, price: float) -> float:
    """One pixel of the panel, in bps of `price`."""
    return (truth_hi - truth_lo) / panel_h / price * 1e4


def test_candles_light_with_level_read_to_the_truth() -> None:
    bars, truth, data = chart("breakout_up", 3, "candles", "light", level=True)
    r = read_chart(decode(data))
    assert r.status == "read", r.reason
    assert r.symbol == bars.symbol and r.timeframe == "5m"
    assert r.panel_bbox == list(truth.panel) and r.panel_conf == 1.0
    read_labels = sorted(round(p, 6) for _, p, _ in r.axis["labels"])
    assert read_labels == sorted(p for p, _ in truth.labels)
    assert r.axis["rms_px"] < 1.0
    assert r.kind == "candles" and len(r.close) == bars.n
    err_bps = np.abs(np.asarray(r.close) / bars.close - 1) * 1e4
    px = _px_bps(truth.price_lo, truth.price_hi, truth.panel[3] - truth.panel[1],
                 float(bars.close.mean()))
    assert err_bps.mean() < 1.0 * px and err_bps.max() < 2.0 * px
    assert bars.level is not None and len(r.levels) == 1
    assert abs(r.levels[0] - bars.level) < 1.5 * px * bars.level / 1e4
    assert "breakout_up" in r.pattern_flags and "trend_down" not in r.pattern_flags
    assert r.embedding is not None and 0.6 <= r.confidence <= 1.0


def test_line_dark_read_to_the_truth() -> None:
    bars, truth, data = chart("trend_down", 4, "line", "dark", title="ETH-USD 15m")
    r = read_chart(decode(data))
    assert r.status == "read", r.reason
    assert (r.symbol, r.timeframe) == ("ETH", "15m")
    assert r.kind == "line" and r.levels == []
    true_at_x = np.interp(r.x, truth.xs, bars.close)
    err_bps = np.abs(np.asarray(r.close) / true_at_x - 1) * 1e4
    px = _px_bps(truth.price_lo, truth.price_hi, truth.panel[3] - truth.panel[1],
                 float(bars.close.mean()))
    assert np.median(err_bps) < 1.0 * px and err_bps.mean() < 1.5 * px
    assert {"trend_down", "lower_lows"} <= set(r.pattern_flags)
    assert "trend_up" not in r.pattern_flags


def test_blank_image_is_unreadable_and_says_why() -> None:
    r = read_chart(Image.new("RGB", (400, 300), (255, 255, 255)))
    assert r.status == "unreadable" and "no price panel" in (r.reason or "")
    assert r.close == [] and r.embedding is None and r.pattern_flags == {}


def test_chart_without_axis_labels_is_unreadable_not_guessed() -> None:
    bars, truth, data = chart("trend_up", 8, "candles", "light")
    img = decode(data).convert("RGB")
    x1 = truth.panel[2]
    ImageDraw.Draw(img).rectangle([x1 + 1, 0, img.width, img.height], fill=(255, 255, 255))
    r = read_chart(img)
    assert r.status == "unreadable" and "price label" in (r.reason or "")
    assert r.panel_bbox is not None and r.symbol == bars.symbol  # what was read is kept
    assert r.close == [] and r.pattern_flags == {} and r.embedding is None
