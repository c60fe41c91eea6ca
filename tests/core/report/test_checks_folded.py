"""The checks that fold a table a slice or a coin at a time (a check's memory does
not grow with the coins) measure what the whole table measures: the signal_events schema
and publication rate in slices of rows read back from a lake (`Lake.read_slices`), the tape
check's gap, NaN and stale rates coin by coin (`TapeHealth`) and the tape hours coin by coin
(`TapeSpans`). Each also fails where the whole-table check fails, including a fault that
lies across two slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.curators.config import load_curators
from lotus_core.report import health as H
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import score_day
from lotus_core.signals.schema import SIGNAL_EVENTS_SCHEMA
from lotus_core.store.by_coin import FrameCoins
from lotus_core.store.lake import Lake
from tests.kits.signals_kit import fixture_sha256, fixture_tape

DAY = "2026-01-03"


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    out = score_day(fixture_tape(DAY), DAY, fingerprint=fixture_sha256(DAY),
                    scoring=load_scoring(), council=load_curators()).events
    assert len(out) > 1000 and out["published"].any()
    return out


def _folded(lake: Lake, frame: pd.DataFrame, rows: int) -> H.EventsCheck:
    lake.write("signal_events", DAY, frame)  # as written, unchecked: the check must catch it
    check = H.EventsCheck()
    for part in lake.read_slices("signal_events", DAY, rows=rows):
        assert len(part) <= rows
        check.add(part)
    return check


def test_the_events_check_in_slices_is_the_whole_tables(events, tmp_path):
    SIGNAL_EVENTS_SCHEMA.validate(events)
    check = _folded(Lake(tmp_path), events, rows=333)
    assert check.problem is None
    assert check.rows == len(events)
    assert check.publication_rate() == H.publication_rate(events)


def test_a_fault_in_a_later_slice_is_named_at_its_row(events, tmp_path):
    bad = events.copy()
    bad.loc[700, "propensity"] = 2.0  # out of [0, 1], in the third slice of 333
    check = _folded(Lake(tmp_path), bad, rows=333)
    assert check.problem is not None
    assert check.problem.startswith("schema, rows 666..998:"), check.problem[:80]


def test_rows_out_of_order_across_two_slices_fail(events, tmp_path):
    """Each slice is sorted on its own; only the slices' ends show the two rows swapped."""
    swapped = events.copy()
    order = np.arange(len(events))
    order[332], order[333] = 333, 332
    swapped = swapped.iloc[order].reset_index(drop=True)
    first = tuple(swapped.loc[332, list(H.SIGNAL_EVENTS_KEY)])
    second = tuple(swapped.loc[333, list(H.SIGNAL_EVENTS_KEY)])
    assert first > second  # the swap broke the order there
    check = _folded(Lake(tmp_path), swapped, rows=333)
    assert check.problem is not None and "rows 332 and 333" in check.problem
    with pytest.raises(Exception, match="sorted_unique"):
        SIGNAL_EVENTS_SCHEMA.validate(swapped)  # the whole table's check fails too


def _in_coins(lake: Lake, frame: pd.DataFrame) -> H.EventsCheck:
    """The day written as score_signals writes it (a file a coin), checked a coin at a time."""
    for coin, part in frame.groupby("coin", sort=True):
        lake.write("signal_events", DAY, part.reset_index(drop=True), coin=str(coin))
    return H.events_check(lake, DAY)


def test_the_events_check_coin_by_coin_is_the_whole_tables(events, tmp_path):
    check = _in_coins(Lake(tmp_path), events)
    assert check.problem is None and check.rows == len(events)
    assert check.publication_rate() == H.publication_rate(events)
    one_file = Lake(tmp_path / "whole")
    one_file.write("signal_events", DAY, events)
    whole = H.events_check(one_file, DAY)  # a day in one file: in slices of its rows
    assert (whole.problem, whole.rows, whole.published) == (None, len(events),
                                                            check.published)


def test_a_coin_fault_and_a_coin_out_of_order_fail(events, tmp_path):
    coin = sorted(events["coin"].unique())[1]
    bad = events.copy()
    at = bad.index[bad["coin"] == coin][5]
    bad.loc[at, "propensity"] = 2.0
    check = _in_coins(Lake(tmp_path / "a"), bad)
    assert check.problem is not None and check.problem.startswith(f"schema, coin {coin} rows")
    mine = events.index[events["coin"] == coin]
    order = np.arange(len(events))
    order[mine[3]], order[mine[4]] = mine[4], mine[3]  # two of the coin's rows swapped
    check = _in_coins(Lake(tmp_path / "b"), events.iloc[order].reset_index(drop=True))
    assert check.problem is not None and check.problem.startswith(f"schema, coin {coin}")
    assert "sorted_unique" in check.problem


def test_the_tape_measures_coin_by_coin_are_the_whole_tapes():
    tape = fixture_tape(DAY).copy()
    coins = FrameCoins(tape).coins()
    assert len(coins) >= 3
    one = tape["coin"].astype(str) == coins[1]
    tape.loc[tape.index[one][:50], "mid_px"] = np.nan  # a fault in one coin only
    tape.loc[tape.index[one][:40], "stale_ms"] = 60_000
    health, spans = H.TapeHealth(), H.TapeSpans()
    for c in coins:
        part = FrameCoins(tape).read(c)
        health.add(part)
        spans.add(part)
    assert health.gaps == H.gap_rate(tape)
    assert health.nan_rates() == {c: float(tape[c].isna().mean())
                                  for c in H.NAN_FEATURES if c in tape}
    assert health.nan_rates()["mid_px"] > 0
    assert health.stale_rate() == float((tape["stale_ms"] > H.LIMITS.stale_ms).mean())
    plainly = tape.groupby(tape["coin"].astype(str))["ts_ms"].agg(
        lambda t: (t.max() - t.min()) / 3.6e6).mean()  # one day: each coin's span, averaged
    assert list(spans.hours_by_day().values()) == [pytest.approx(plainly, rel=1e-12)]
