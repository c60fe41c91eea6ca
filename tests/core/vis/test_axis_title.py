"""Axis fit and title parsing from OCR words: outliers refused, prices must rise upwards."""

from __future__ import annotations

import pytest

from lotus_core.vis.axis import AxisFit, fit_axis, parse_price
from lotus_core.vis.ocr import Word
from lotus_core.vis.title import read_title


def w(text: str, cy: float, conf: float = 0.95) -> Word:
    return Word(text=text, conf=conf, x=0.0, y=cy - 5, w=30.0, h=10.0)


def test_parse_price() -> None:
    assert parse_price("67,250.5") == 67250.5
    assert parse_price("0.1625") == 0.1625
    assert parse_price("67.25.0") is None and parse_price("BTC") is None


def test_fit_refuses_an_outlier_and_reports_residual() -> None:
    words = [w("100", 50), w("99", 100), w("98", 150), w("97", 200), w("9.6", 250)]
    fit = fit_axis(words)
    assert isinstance(fit, AxisFit)
    assert fit.rejected == ["9.6"] and len(fit.labels) == 4
    assert fit.rms_px == pytest.approx(0.0, abs=1e-9)
    assert float(fit.price_at(75)) == pytest.approx(99.5)
    assert 0.9 < fit.confidence <= 1.0


def test_fit_says_why_when_it_cannot() -> None:
    assert "only 1" in str(fit_axis([w("100", 50), w("abc", 80)]))
    assert "rise upwards" in str(fit_axis([w("1", 50), w("2", 100)]))
    two = fit_axis([w("2", 50), w("1", 100)])
    assert isinstance(two, AxisFit) and two.confidence <= 0.5


def test_title_symbol_and_timeframe() -> None:
    t = read_title([Word("BTCUSDT", 0.9, 0, 0, 1, 1), Word("4H", 0.8, 0, 0, 1, 1)])
    assert (t.symbol, t.timeframe, t.timeframe_conf) == ("BTC", "4h", 0.8)
    assert read_title([Word("ETH/USD", 0.9, 0, 0, 1, 1)]).symbol == "ETH"
    assert read_title([Word("chart", 0.9, 0, 0, 1, 1)]).symbol is None


def test_title_reads_a_one_mistaken_for_i() -> None:
    assert read_title([Word("SOL", 0.9, 0, 0, 1, 1), Word("ih", 0.7, 0, 0, 1, 1)]).timeframe == "1h"
    assert read_title([Word("Im", 0.7, 0, 0, 1, 1)]).timeframe == "1m"
