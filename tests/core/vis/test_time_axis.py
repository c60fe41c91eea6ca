"""The time axis with the real tesseract: rendered charts' points get the times they were
drawn at (within a third of a bar), and charts whose labels cannot be read say why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from lotus_core.vis.ocr import Word
from lotus_core.vis.read import Reading, read_chart
from lotus_core.vis.render import ChartStyle, RenderTruth, render_chart
from lotus_core.vis.synth import planted_bars
from lotus_core.vis.timeaxis import fit_time_axis
from tests.core.vis.chart_kit import decode, png

TOLERANCE_BARS = 1 / 3  # a point's time within a third of a bar of the drawn one


def _drawn(pattern: str, seed: int, kind: str, theme: str, start: datetime, minutes: int,
           title: str) -> tuple[Image.Image, RenderTruth, int]:
    bars = planted_bars(pattern, seed)
    img, truth = render_chart(bars, ChartStyle(kind=kind, theme=theme), title=title,
                              start=start, bar_minutes=minutes)
    return decode(png(img)), truth, bars.n


def _errors_in_bars(r: Reading, truth: RenderTruth, n: int, start: datetime,
                    minutes: int) -> np.ndarray:
    assert r.t_ms is not None, r.time_reason
    assert len(r.t_ms) == len(r.x)
    true_s = start.replace(tzinfo=UTC).timestamp() + 60.0 * minutes * np.interp(
        r.x, truth.xs, np.arange(n))
    return np.abs(np.asarray(r.t_ms) / 1000.0 - true_s) / (60.0 * minutes)


def test_candles_with_clock_labels_get_times_dated_by_at() -> None:
    start = datetime(2026, 1, 5, 9, 0)
    img, truth, n = _drawn("trend_up", 3, "candles", "light", start, 5, "BTC 5m")
    at = start.replace(tzinfo=UTC) + timedelta(minutes=5 * n)
    r = read_chart(img, at=at)
    assert r.status == "read" and r.time_reason is None
    assert r.time_axis is not None and r.time_axis["of_day"] is True
    assert len(r.time_axis["labels"]) >= 4 and r.time_conf > 0.6
    err = _errors_in_bars(r, truth, n, start, 5)
    assert np.median(err) < 0.15 and err.max() < TOLERANCE_BARS


def test_line_over_midnight_takes_its_date_from_the_title() -> None:
    start = datetime(2026, 1, 6, 20, 0)
    minutes = 15
    bars_n = planted_bars("range", 11).n
    last = start + timedelta(minutes=minutes * (bars_n - 1))
    img, truth, n = _drawn("range", 11, "line", "dark", start, minutes,
                           f"ETH 15m {last:%Y-%m-%d}")
    r = read_chart(img)
    assert last.date() != start.date()  # the labels wrap at midnight
    err = _errors_in_bars(r, truth, n, start, minutes)
    assert np.median(err) < 0.15 and err.max() < TOLERANCE_BARS


def test_four_hour_bars_are_labelled_and_read_as_dates_without_at() -> None:
    start = datetime(2026, 1, 9, 4, 0)
    img, truth, n = _drawn("none", 5, "candles", "dark", start, 240, "SOL 4h")
    r = read_chart(img)
    assert r.time_axis is not None and r.time_axis["of_day"] is False
    err = _errors_in_bars(r, truth, n, start, 240)
    assert np.median(err) < 0.15 and err.max() < TOLERANCE_BARS


def test_clock_labels_without_a_date_keep_the_fit_and_give_no_times() -> None:
    img, _, _ = _drawn("trend_down", 4, "line", "light", datetime(2026, 1, 5, 9), 5, "ETH 5m")
    r = read_chart(img)
    assert r.status == "read" and r.close  # the path is read; only its times are missing
    assert r.time_axis is not None and r.t_ms is None
    assert "times of day only" in (r.time_reason or "")


def test_time_labels_cut_off_give_points_without_times_and_a_reason() -> None:
    start = datetime(2026, 1, 5, 9, 0)
    img, truth, n = _drawn("trend_up", 8, "candles", "light", start, 5, "BTC 5m")
    cut = img.crop((0, 0, img.width, truth.panel[3] + 2))
    r = read_chart(cut, at=start.replace(tzinfo=UTC) + timedelta(minutes=5 * n))
    assert r.status == "read" and r.close
    assert r.t_ms is None and r.time_axis is None
    assert r.time_reason == "only 0 time label(s) read below the panel (need 2)"


def test_smeared_time_labels_give_no_times_and_a_reason() -> None:
    start = datetime(2026, 1, 5, 9, 0)
    img, truth, n = _drawn("range", 9, "line", "light", start, 5, "AVAX 5m")
    img = img.convert("RGB")
    y1 = truth.panel[3]
    strip = (0, y1 + 2, img.width, img.height)
    img.paste(img.crop(strip).filter(ImageFilter.GaussianBlur(4)), strip[:2])
    ImageDraw.Draw(img).line([(0, y1 + 14), (img.width, y1 + 14)], fill=(120, 120, 120), width=3)
    r = read_chart(img, at=start.replace(tzinfo=UTC) + timedelta(minutes=5 * n))
    assert r.status == "read" and r.t_ms is None
    assert r.time_reason is not None and "time label" in r.time_reason


def _word(text: str, centre: float) -> Word:
    return Word(text=text, conf=0.9, x=centre - 15, y=0, w=30, h=12)


def test_fit_rejects_a_misread_label_and_wraps_at_midnight() -> None:
    words = [_word("22:00", 100), _word("23:00", 190), _word("08:00", 280),
             _word("01:00", 370), _word("02:00", 460)]
    fit = fit_time_axis(words)
    assert not isinstance(fit, str)
    assert fit.rejected == ["08:00"] and len(fit.labels) == 4
    assert abs(fit.slope - 3600 / 90) < 1e-9
    assert [s for _, s, _ in fit.labels] == [79200, 82800, 90000, 93600]


def test_fit_needs_two_consistent_labels() -> None:
    assert fit_time_axis([_word("09:30", 100), _word("BTC", 200)]) == (
        "only 1 time label(s) read below the panel (need 2)")
    backwards = fit_time_axis([_word("2026-01-07", 100), _word("2026-01-05", 200)])
    assert isinstance(backwards, str) and "time must run rightwards" in backwards
