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
from lotus_core.vis.timeaxis import fit_time_axis, join_labels, month_day, split_zone, zone_offset
from tests.core.vis.chart_kit import decode, png

TOLERANCE_BARS = 1 / 3  # a point's time within a third of a bar of the drawn one


def _drawn(pattern: str, seed: int, kind: str, theme: str, start: datetime, minutes: int,
           title: str, **style: object) -> tuple[Image.Image, RenderTruth, int]:
    bars = planted_bars(pattern, seed)
    img, truth = render_chart(bars, ChartStyle(kind=kind, theme=theme, **style),  # type: ignore[arg-type]
                              title=title, start=start, bar_minutes=minutes)
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


def test_month_name_dates_take_their_year_from_at() -> None:
    start = datetime(2026, 1, 9, 4, 0)
    img, truth, n = _drawn("none", 5, "candles", "light", start, 240, "SOL 4h",
                           month_names=True)
    r = read_chart(img, at=start.replace(tzinfo=UTC) + timedelta(minutes=240 * n))
    assert r.time_axis is not None and r.time_axis["of_day"] is False, r.time_reason
    texts = [text for _, _, text in r.time_axis["labels"]]
    assert len(texts) >= 3 and all(t.startswith("Jan ") for t in texts), texts
    err = _errors_in_bars(r, truth, n, start, 240)
    assert np.median(err) < 0.15 and err.max() < TOLERANCE_BARS


def test_month_names_across_new_year_are_dated_back_from_the_title_date() -> None:
    start = datetime(2025, 12, 22, 0, 0)
    n = planted_bars("none", 5).n
    last = start + timedelta(minutes=240 * (n - 1))
    img, truth, n = _drawn("none", 5, "candles", "dark", start, 240, f"BTC 4h {last:%Y-%m-%d}",
                           month_names=True)
    assert last.year == 2026  # the labels run Dec ... Jan
    r = read_chart(img)
    assert r.time_axis is not None, r.time_reason
    texts = [text for _, _, text in r.time_axis["labels"]]
    assert any(t.startswith("Dec") for t in texts) and any(t.startswith("Jan") for t in texts)
    err = _errors_in_bars(r, truth, n, start, 240)
    assert np.median(err) < 0.15 and err.max() < TOLERANCE_BARS


def test_month_names_without_a_year_give_no_times_and_a_reason() -> None:
    img, _, _ = _drawn("none", 5, "candles", "dark", datetime(2026, 1, 9, 4), 240, "SOL 4h",
                       month_names=True)
    r = read_chart(img)
    assert r.status == "read" and r.close and r.t_ms is None
    assert "month and day without a year" in (r.time_reason or "")


def test_clock_labels_in_a_tagged_zone_are_read_back_to_utc() -> None:
    """Drawn in UTC+2 with the tag under the price axis: the points get their UTC times
    (read as UTC they would be 24 bars late)."""
    start = datetime(2026, 1, 5, 9, 0)
    img, truth, n = _drawn("trend_up", 3, "candles", "dark", start, 5, "BTC 5m",
                           utc_offset_min=120, zone_tag=True)
    r = read_chart(img, at=start.replace(tzinfo=UTC) + timedelta(minutes=5 * n))
    assert r.time_axis is not None and r.time_axis["utc_offset_s"] == 7200.0, r.time_reason
    assert r.time_axis["labels"][0][2].startswith("11:")  # the labels are local
    err = _errors_in_bars(r, truth, n, start, 5)
    assert np.median(err) < 0.15 and err.max() < TOLERANCE_BARS


def test_month_day_labels_zones_and_joined_words_parse_as_written() -> None:
    assert month_day("Jan 5") == (1, 5) and month_day("5 Jan") == (1, 5)
    assert month_day("Sept 30") == (9, 30) and month_day("december 31") == (12, 31)
    assert month_day("Feb 29") == (2, 29) and month_day("Feb 30") is None
    assert month_day("Jan4") == (1, 4) and month_day("Janl") == (1, 1)  # as OCR reads them
    assert month_day("Jan") is None and month_day("Jul") is None and month_day("BTC 5") is None
    assert zone_offset([Word("UTC+2", 0.9, 0, 0, 30, 12)]) == 7200.0
    assert zone_offset([Word("GMT-05:00", 0.9, 0, 0, 30, 12)]) == -18000.0
    assert zone_offset([Word("(UTC+5:30)", 0.9, 0, 0, 30, 12)]) == 19800.0
    assert zone_offset([Word("UTC", 0.9, 0, 0, 30, 12)]) == 0.0
    assert zone_offset([Word("BTC", 0.9, 0, 0, 30, 12)]) is None
    assert zone_offset([Word("UTC-S", 0.9, 0, 0, 30, 12)]) == -18000.0  # OCR's 5
    kept, zone = split_zone([Word("09:00", 0.9, 0, 0, 40, 12),
                             Word("16:30UTC+5:30", 0.9, 100, 0, 130, 12)])
    assert zone == 19800.0 and [(w.text, w.w) for w in kept] == [("09:00", 40), ("16:30", 50)]
    words = [Word("Jan", 0.9, 100, 0, 24, 12), Word("5", 0.9, 128, 0, 8, 12),
             Word("Jan", 0.9, 300, 0, 24, 12), Word("6", 0.9, 400, 0, 8, 12)]
    assert [w.text for w in join_labels(words)] == ["Jan 5", "Jan", "6"]  # too far apart


def test_month_names_fit_across_new_year_on_their_reference() -> None:
    words = [_word("Dec 30", 100), _word("Dec 31", 190), _word("Jan 1", 280),
             _word("Jan 2", 370)]
    ref = datetime(2026, 1, 2, 12, tzinfo=UTC).timestamp()
    fit = fit_time_axis(words, ref)
    assert not isinstance(fit, str) and not fit.of_day
    assert [s for _, s, _ in fit.labels] == [
        datetime(2025, 12, 30 + k, tzinfo=UTC).timestamp() if k < 2 else
        datetime(2026, 1, k - 1, tzinfo=UTC).timestamp() for k in range(4)]
    assert abs(fit.slope - 86400 / 90) < 1e-9
    assert isinstance(fit_time_axis(words), str)  # no reference: no year
