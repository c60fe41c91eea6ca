"""Funding and open interest ranked on their declared timescale.

A slow funding process: three days near one level, then a day near a higher one, each hour
its own small step. Ranked against the coin's own three days before, the fourth day's
funding is high all day; ranked inside the grid's trailing 4 hours (the other timescale),
the same day's funding is high only where its own hourly noise puts it. The live tape ranks
against the same reference, row for row.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from lotus_core.config.settings import Settings
from lotus_core.config.shared import shared_values
from lotus_core.feed.manifest import write_manifest
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.microtape.build import TapeStream
from lotus_core.microtape.context_history import (
    ContextHistory,
    context_history,
    minute_closes,
    rank_in,
)
from lotus_core.time import day_bounds_ms
from lotus_sensors.schedules import daily_run_config
from tests.core.microtape.test_microtape_book import _batches, _stream
from tests.helpers import record, write_recording
from tests.kits.midnight import lines_of

DAYS = ("2026-04-01", "2026-04-02", "2026-04-03", "2026-04-04")
LOW, HIGH, NOISE = 1.0e-5, 3.0e-5, 2.0e-6
HOURS = 6  # recorded from midnight: enough minute closes, a small grid
DAYS_3 = MicroTapeParams(funding_rank_days=3, oi_rank_days=3, ctx_rank_min_minutes=60)


def _day_lines(day: str, level: float, seed: int, ctx: bool = True) -> list[dict]:
    """A quote every 10 s and, with `ctx`, an activeAssetCtx every 30 s whose funding is
    `level` plus the hour's own step (open interest: 1,000 plus the hour's step)."""
    rng = random.Random(seed)
    start = day_bounds_ms(day)[0]
    steps = [rng.gauss(0.0, NOISE) for _ in range(HOURS)]
    oi_steps = [rng.gauss(0.0, 20.0) for _ in range(HOURS)]
    lines = []
    for s in range(0, HOURS * 3600, 10):
        t = start + s * 1000 + 7
        lines.append(record(t, {"channel": "bbo", "data": {"coin": "BTC", "time": t - 5, "bbo": [
            {"px": "100.0", "sz": "1.0", "n": 1}, {"px": "100.1", "sz": "1.0", "n": 1}]}}))
        if ctx and s % 30 == 0:
            h = s // 3600
            lines.append(record(t + 1, {"channel": "activeAssetCtx", "data": {
                "coin": "BTC", "ctx": {
                    "funding": f"{level + steps[h]:.10f}",
                    "openInterest": f"{1000.0 + oi_steps[h]:.5f}", "prevDayPx": "100.0",
                    "dayNtlVlm": "1.0", "premium": "0.0001", "oraclePx": "100.0",
                    "markPx": "100.05", "midPx": "100.05",
                    "impactPxs": ["100.0", "100.1"], "dayBaseVlm": "1.0"}}}))
    return lines


@pytest.fixture(scope="module")
def feed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("slow_funding")
    for i, day in enumerate(DAYS):
        write_recording(out / f"{day}.jsonl.gz", _day_lines(day, HIGH if i == 3 else LOW, i))
    return out


def _tape(feed_dir: Path, day: str, params: MicroTapeParams,
          history: ContextHistory | None = None):
    feed = parse_recording(feed_dir / f"{day}.jsonl.gz", day)
    return build_microtape(feed, params, history=history)


def test_a_slow_rise_is_high_against_the_coins_own_days_not_inside_four_hours(feed_dir):
    day = DAYS[3]
    history = context_history(feed_dir, day, DAYS_3)
    assert history is not None
    on_days = _tape(feed_dir, day, DAYS_3, history)
    on_hours = _tape(feed_dir, day, MicroTapeParams(funding_rank_days=0))
    known = on_days["funding"].notna().to_numpy()
    assert known.sum() > 10_000
    days_pctl = on_days["funding_pctl"].to_numpy()[known]
    hours_pctl = on_hours["funding_pctl"].to_numpy()[known]
    assert np.all(days_pctl >= 0.99)  # above every minute close of the three days before
    hours_high = np.nanmean(hours_pctl >= 2 / 3)
    assert hours_high < 0.6, hours_high  # inside 4 h: high only where the hour's step is
    # the edges the day is binned on lie among the earlier days' values, below today's
    report = history.report(["BTC"])["BTC"]["funding_pctl"]
    assert report["days"] == list(DAYS[:3]) and report["minutes"] == 3 * HOURS * 60
    lo, hi = report["edges"]
    assert LOW - 4 * NOISE < lo <= hi < LOW + 4 * NOISE < HIGH


def test_the_same_level_ranks_across_the_range_and_missing_history_is_missing(feed_dir):
    second = _tape(feed_dir, DAYS[1], DAYS_3, context_history(feed_dir, DAYS[1], DAYS_3))
    pctl = second["funding_pctl"].dropna().to_numpy()
    assert pctl.min() < 1 / 3 and pctl.max() > 2 / 3  # day 1 alone: a day like it spreads
    history = context_history(feed_dir, DAYS[0], DAYS_3)
    assert history is not None
    first = _tape(feed_dir, DAYS[0], DAYS_3, history)
    assert first["funding_pctl"].isna().all() and first["oi_pctl"].isna().all()
    assert first["funding"].notna().any()  # the value is known; its rank is not
    report = history.report(["BTC"])["BTC"]
    assert report["funding_pctl"]["minutes"] == 0
    assert report["funding_pctl"]["missing"].startswith("warm-up: 0 minute closes")


def test_a_history_without_the_context_channel_says_so(tmp_path):
    for i, day in enumerate(DAYS):
        write_recording(tmp_path / f"{day}.jsonl.gz",
                        _day_lines(day, LOW, i, ctx=(i == 3)))
    history = context_history(tmp_path, DAYS[3], DAYS_3)
    assert history is not None
    assert minute_closes(tmp_path / f"{DAYS[0]}.jsonl.gz") == {}
    tape = _tape(tmp_path, DAYS[3], DAYS_3, history)
    assert tape["funding_pctl"].isna().all()
    assert "warm-up" in history.report(["BTC"])["BTC"]["oi_pctl"]["missing"]


def test_an_unreadable_earlier_recording_is_skipped_and_named(feed_dir, tmp_path):
    for day in DAYS:
        (tmp_path / f"{day}.jsonl.gz").write_bytes((feed_dir / f"{day}.jsonl.gz").read_bytes())
    (tmp_path / f"{DAYS[1]}.jsonl.gz").write_bytes(b"not gzip at all")
    history = context_history(tmp_path, DAYS[3], DAYS_3)
    assert history is not None and list(history.unreadable) == [DAYS[1]]
    report = history.report(["BTC"])["BTC"]["funding_pctl"]
    assert report["days"] == [DAYS[0], DAYS[2]] and DAYS[1] in report["unreadable"]
    assert _tape(tmp_path, DAYS[3], DAYS_3, history)["funding_pctl"].notna().any()


def test_an_earlier_day_that_differs_from_the_manifest_is_named_and_left_out(feed_dir,
                                                                             tmp_path):
    files = []
    for day in DAYS:
        files.append(tmp_path / f"{day}.jsonl.gz")
        files[-1].write_bytes((feed_dir / f"{day}.jsonl.gz").read_bytes())
    write_manifest(tmp_path, files)
    # a valid recording of the day, but not the one the manifest lists (funding far higher)
    write_recording(files[1], _day_lines(DAYS[1], 10 * HIGH, 1))
    history = context_history(tmp_path, DAYS[3], DAYS_3)
    assert history is not None and list(history.unreadable) == [DAYS[1]]
    assert "does not match the manifest" in history.unreadable[DAYS[1]]
    assert history.report(["BTC"])["BTC"]["funding_pctl"]["days"] == [DAYS[0], DAYS[2]]
    unchecked = context_history(tmp_path, DAYS[3], DAYS_3, verify_manifest=False)
    assert unchecked is not None and not unchecked.unreadable
    assert unchecked.report(["BTC"])["BTC"]["funding_pctl"]["days"] == list(DAYS[:3])


def test_the_live_tape_ranks_against_the_same_reference(feed_dir):
    day = DAYS[3]
    history = context_history(feed_dir, day, DAYS_3)
    lines = lines_of(feed_dir / f"{day}.jsonl.gz")
    rows = _stream(TapeStream(day, DAYS_3, day_bounds_ms(day)[0], history),
                   _batches(day, lines, 5))
    want = _tape(feed_dir, day, DAYS_3, history)
    rows.sort(key=lambda r: r["ts_ms"])
    for column in ("funding_pctl", "oi_pctl"):
        got = np.array([r[column] for r in rows])
        assert np.array_equal(got, want[column].to_numpy(), equal_nan=True), column


def test_rank_in_is_the_mid_rank_and_nan_stays_nan():
    ref = np.array([1.0, 2.0, 2.0, 3.0])
    assert rank_in(ref, [0.5, 2.0, 3.0, 9.0]).tolist() == [0.0, 0.5, 0.875, 1.0]
    assert np.isnan(rank_in(ref, [np.nan])).all() and np.isnan(rank_in(None, [1.0])).all()


def test_the_settings_choose_the_timescale_for_the_nightly_and_the_live_tape():
    values = shared_values(Settings.model_validate(
        {"microtape": {"funding_rank_days": 3, "oi_rank_days": 2}}))
    params = values.microtape_params()
    assert (params.funding_rank_days, params.oi_rank_days) == (3, 2)
    config = daily_run_config(values)["ops"]["microtape_frames"]["config"]
    assert (config["funding_rank_days"], config["oi_rank_days"]) == (3, 2)
    unset = daily_run_config(shared_values(Settings()))["ops"]["microtape_frames"]["config"]
    assert "funding_rank_days" not in unset  # the run config leaves the default to the params
    assert MicroTapeParams().funding_rank_days == 3 and MicroTapeParams().oi_rank_days == 0
    on_hours = MicroTapeParams(funding_rank_days=0)
    assert context_history(None, DAYS[0], on_hours) is None  # hours: no reference
    assert shared_values(Settings()).microtape_params() == MicroTapeParams()
    with pytest.raises(ValueError, match="funding_rank_days"):
        MicroTapeParams(funding_rank_days=-1)
