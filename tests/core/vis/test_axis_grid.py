"""Grid labels the axis strip's OCR pass dropped, re-read alone: kept only when they read the
grid's own price at its row (real tesseract on a rendered chart)."""

from __future__ import annotations

import pytest
from PIL import Image

from lotus_core.vis import read
from lotus_core.vis.axis import AxisFit, fit_axis, grid_gaps, grid_step, on_grid
from lotus_core.vis.ocr import Word, ocr_words
from lotus_core.vis.read import read_chart
from tests.core.vis.chart_kit import chart, decode


def w(text: str, cy: float) -> Word:
    return Word(text=text, conf=0.95, x=0.0, y=cy - 5, w=30.0, h=10.0)


@pytest.fixture(scope="module")
def dropped() -> tuple[Image.Image, list[str], AxisFit]:
    """A chart whose strip pass drops its 151 label: (image, drawn labels, first-pass fit)."""
    _, truth, data = chart("breakout_down", 160, "candles", "dark")
    img = decode(data).convert("RGB")
    box = read._axis_box(img, truth.panel)
    first = fit_axis(ocr_words(img.crop(box), digits=True), row_offset=box[1])
    assert isinstance(first, AxisFit)
    return img, [t for _, t in truth.labels], first


def test_grid_step_and_gaps() -> None:
    fit = fit_axis([w("152", 107.5), w("150", 253.5), w("149", 326.5), w("148", 399.5)])
    assert isinstance(fit, AxisFit) and grid_step(fit) == pytest.approx(1.0)
    assert grid_gaps(fit, 32, 462) == [151.0, 153.0]  # 153 would sit at row 34.5
    assert grid_gaps(fit, 60, 462) == [151.0]
    uneven = fit_axis([w("100", 50), w("99", 100), w("97.5", 175)])
    assert isinstance(uneven, AxisFit) and grid_step(uneven) is None
    assert grid_gaps(uneven, 0, 300) == []


def test_only_the_grid_price_at_its_row_is_on_grid() -> None:
    fit = fit_axis([w("79000", 60.5), w("78500", 141.5), w("78000", 222.5), w("77000", 384.5)])
    assert isinstance(fit, AxisFit) and grid_gaps(fit, 32, 462) == [77500.0]
    assert on_grid(fit, w("77500", 303.5), 77500.0)
    assert not on_grid(fit, w("77300", 303.5), 77500.0)  # within half a step, still not it
    assert not on_grid(fit, w("77500", 290.0), 77500.0)  # the price, off its row
    assert not on_grid(fit, w("775", 303.5), 77500.0)


def test_a_dropped_label_is_reread(dropped: tuple[Image.Image, list[str], AxisFit]) -> None:
    img, drawn, first = dropped
    assert sorted(t for *_, t in first.labels) == ["148", "149", "150", "152"]
    r = read_chart(img)
    assert r.status == "read", r.reason
    assert sorted(t for *_, t in r.axis["labels"]) == sorted(drawn)
    assert r.axis_conf >= first.confidence - 1e-9 and r.axis["rms_px"] < 1.0
