"""`score_signals` by day x coin: the day's shared scoring inputs made once
(`scoring_day`, stored as a lake row), each coin scored in its own run from them, the
coins' tables written to their coin files and the coins' KPI tallies merged give the day
one process scoring every coin gives.

The coin runs and the one process make the same computations on the same arrays (a coin's
tape alone, either way: `CoinScoring` scores a coin at a time), so the tables are compared
exactly: the events and the curator log as the lake reads the coin files back (merged by
time: `lotus_core.store.merged`), the KPIs as the merged tallies give them (each float sum
added in the same order)."""

from __future__ import annotations

import pandas as pd
import pytest

from lotus_core.curators.kpis import merged_tallies, tally_row
from lotus_core.signals import load_scoring
from lotus_core.signals.pipeline import score_by_coin, scoring_specs
from lotus_core.signals.priors import NO_PRIORS
from lotus_core.signals.scoring_day import (
    ScoringDayMismatch,
    scoring_day,
    scoring_day_of,
    scoring_day_row,
)
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake
from lotus_core.store.pickled import StoredObjectError
from tests.core.signals.test_per_coin import DAY, _one, coins, inputs, lake_tape, model, tape

__all__ = ["coins", "inputs", "lake_tape", "model", "tape"]  # the shared module fixtures


@pytest.fixture(scope="module")
def stored(inputs):
    """The day's scoring inputs as `scoring_day` stores them, read back."""
    specs = scoring_specs(None, None)
    shared = scoring_day(DAY, inputs["fingerprint"], inputs["history"], NO_PRIORS, None,
                         specs, load_scoring(), ())
    row = scoring_day_row(shared)
    assert scoring_day_row(shared)["sha256"].iloc[0] == row["sha256"].iloc[0]  # same bytes
    return row


def _streamed(tape_day: CoinDay, inputs: dict, **kw) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    with score_by_coin(tape_day, DAY, **{**inputs, **kw}) as scoring:
        day = scoring.streamed()
        events = pd.concat(list(day.events()), ignore_index=True)
        log = pd.concat(list(day.curator_log()), ignore_index=True)
        return events, log, day


def test_the_coins_scored_apart_are_the_day_scored_whole(lake_tape, inputs, stored, coins,
                                                         tmp_path):
    whole_events, whole_log, whole = _streamed(lake_tape, inputs)
    assert whole_events["published"].any() and len(whole_log)
    shared = scoring_day_of(stored, DAY)
    lake = Lake(tmp_path)
    tallies = []
    for coin in coins:  # each coin's run: its tape, the day's stored inputs
        one = CoinDay(lake_tape.lake, "microtape_frames", DAY, coin)
        given = {k: inputs[k] for k in ("dsi", "scoring", "council")}
        events, log, day = _streamed(one, given, fingerprint=None, shared=shared)
        assert set(events["coin"]) == {coin}
        pd.testing.assert_frame_equal(events, _one(whole_events, coin), check_exact=True)
        lake.write("signal_events", DAY, events, coin=coin)
        lake.write("curator_log", DAY, log, coin=coin)
        tallies.append(tally_row(day.tally, coin))
    # the day read whole from the coin files: the one process's tables, in its order
    pd.testing.assert_frame_equal(lake.read("signal_events", DAY), whole_events,
                                  check_exact=True)
    pd.testing.assert_frame_equal(lake.read("curator_log", DAY), whole_log, check_exact=True)
    sliced = pd.concat(list(lake.read_slices("curator_log", DAY)), ignore_index=True)
    pd.testing.assert_frame_equal(sliced, whole_log, check_exact=True)
    kpis = merged_tallies(pd.concat(tallies, ignore_index=True), DAY).table(shared.status)
    pd.testing.assert_frame_equal(kpis, whole.kpis, check_exact=True)
    assert whole.kpis["value"].notna().any()
    # the comparison can fail: a coin's tally left out gives other KPIs
    short = merged_tallies(pd.concat(tallies[1:], ignore_index=True), DAY).table(shared.status)
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(short, whole.kpis, check_exact=True)


def test_a_coin_run_with_other_detectors_or_day_is_refused(lake_tape, stored, inputs):
    shared = scoring_day_of(stored, DAY)
    one = CoinDay(lake_tape.lake, "microtape_frames", DAY, "BTC")
    specs = scoring_specs(None, None)
    with pytest.raises(ScoringDayMismatch, match=f"lacks \\['{specs[0].id}'\\]"):
        score_by_coin(one, DAY, fingerprint=None, detectors=specs[1:], shared=shared,
                      scoring=inputs["scoring"], council=inputs["council"])
    with pytest.raises(ScoringDayMismatch, match=f"holds {DAY}, not 2026-01-05"):
        score_by_coin(one, "2026-01-05", fingerprint=None, shared=shared,
                      scoring=inputs["scoring"], council=inputs["council"])


def test_a_torn_scoring_day_row_is_refused(stored):
    torn = stored.copy()
    torn["scoring"] = pd.Series([stored["scoring"].iloc[0][:-1]], dtype=object)
    with pytest.raises(StoredObjectError, match=f"scoring_day for {DAY}.*sha256"):
        scoring_day_of(torn, DAY)
    with pytest.raises(StoredObjectError, match="one row expected, got 0"):
        scoring_day_of(stored.iloc[:0], DAY)


def test_an_empty_tally_table_is_refused():
    with pytest.raises(ValueError, match="curator_tallies for 2026-01-04 has no coin"):
        merged_tallies(pd.DataFrame({"coin": [], "tally": []}), DAY)
