"""Each per-coin scoring stage, run on one coin's MicroTape, gives that coin's rows of the
whole-day run (the premise of day x coin partitions, docs/scale.md "Day x coin
partitions: what they need").

Given what crosses coins by design (the DSI fit and the sq_* history, both from earlier
days and passed whole to every coin), `annotate`, `detect_day`, `score_day` (events,
curator log, meta-signals) and `evaluate_windows` are per coin: the whole day's output is
the coins' outputs laid together (compared row by row by key). Only the curator KPIs pool
the day's windows across coins (a reduction after the coins, not compared here).

Compared with `pandas.testing.assert_frame_equal`, rows by key: non-float columns exactly,
float columns within RTOL. The two runs make the same computations on arrays of different
lengths, and numpy's vector loops (SVML on AVX-512) may round an element differently in a
loop's body than in its tail, so equal bits are not promised between two computations, nor
between machines (Intel, AMD with AVX-512)."""

from __future__ import annotations

import pandas as pd
import pytest

from lotus_core.curators.config import load_curators
from lotus_core.dsi import annotate, fit_dsi, load_registry
from lotus_core.evaluation.outcomes import evaluate_by_coin, evaluate_in_order, evaluate_windows
from lotus_core.report.tables import EvalTally, hit_rates
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import detect_by_coin, detect_day, score_by_coin, score_day
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake
from lotus_core.store.spill import CoinSpill
from tests.kits.signals_kit import fixture_sha256, fixture_tape, history_of

DAY = "2026-01-04"
EARLIER = ["2026-01-02", "2026-01-03"]
RTOL, ATOL = 1e-12, 1e-15
"""Float columns: |a - b| <= ATOL + RTOL |b| (pandas' rule), NaN equal to NaN."""


@pytest.fixture(scope="module")
def tape() -> pd.DataFrame:
    return fixture_tape(DAY)


@pytest.fixture(scope="module")
def coins(tape) -> list[str]:
    found = sorted(tape["coin"].astype(str).unique())
    assert len(found) >= 3  # a per-coin claim needs several coins
    return found


@pytest.fixture(scope="module")
def model():
    """The DSI fit of the earlier days (all coins): it crosses coins by design."""
    return fit_dsi(pd.concat([fixture_tape(d) for d in EARLIER], ignore_index=True),
                   registry=load_registry())


def _one(frame: pd.DataFrame, coin: str) -> pd.DataFrame:
    return frame[frame["coin"].astype(str) == coin].reset_index(drop=True)


def assert_per_coin(parts: list[pd.DataFrame], whole: pd.DataFrame, key: list[str]) -> None:
    """The coins' outputs laid together equal the whole day's, row by row in `key` order."""
    assert len(whole) and not whole.duplicated(key).any()
    srt = lambda f: f.sort_values(key, kind="stable").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(srt(pd.concat(parts, ignore_index=True)), srt(whole),
                                  check_exact=False, rtol=RTOL, atol=ATOL)


def test_detector_windows_are_per_coin(tape, coins):
    whole = detect_day(tape, scoring=load_scoring())
    assert whole["coin"].nunique() == len(coins)
    assert_per_coin([detect_day(_one(tape, c),
                                scoring=load_scoring()) for c in coins], whole, ["window_id"])


def test_dsi_annotations_are_per_coin_given_the_fit(tape, coins, model):
    assert_per_coin([annotate(_one(tape, c), model).annotations for c in coins],
                    annotate(tape, model).annotations, ["coin", "ts_ms"])


@pytest.fixture(scope="module")
def inputs(tape, model) -> dict:
    """What crosses coins (earlier days' windows of all coins, the DSI frame) and the
    packaged scoring and council configurations, the same objects for every call."""
    return {"fingerprint": fixture_sha256(DAY), "history": history_of(EARLIER),
            "dsi": annotate(tape, model).annotations, "scoring": load_scoring(),
            "council": load_curators()}


@pytest.fixture(scope="module")
def scored(tape, coins, inputs):
    return (score_day(tape, DAY, **inputs),
            [score_day(_one(tape, c), DAY, **inputs) for c in coins])


def test_signal_events_are_per_coin(scored):
    whole, parts = scored
    assert whole.events["published"].any() and whole.events["vetoed"].any()
    assert_per_coin([p.events for p in parts], whole.events, ["window_id"])


def test_curator_log_and_meta_signals_are_per_coin(scored):
    whole, parts = scored
    assert_per_coin([p.curator_log for p in parts], whole.curator_log,
                    ["window_id", "curator", "kind"])
    assert_per_coin([p.meta for p in parts], whole.meta, ["coin", "ts_ms"])


def test_a_changed_coin_is_caught(scored, tape, coins, inputs):
    """The comparison can fail: one coin scored on a moved tape (all else the same)."""
    whole, parts = scored
    moved = _one(tape, coins[0])
    moved["mid_px"] = moved["mid_px"] * 1.01
    with pytest.raises(AssertionError):
        assert_per_coin([score_day(moved, DAY, **inputs).events,
                         *(p.events for p in parts[1:])], whole.events, ["window_id"])


def test_outcomes_are_per_coin(scored, tape, coins):
    windows = scored[0].events
    whole = evaluate_windows(windows, tape)
    assert (whole["status"] == "done").any()
    assert_per_coin([evaluate_windows(_one(windows, c), _one(tape, c)) for c in coins], whole,
                    ["window_id", "horizon_s"])


# ------------------------------------------------- the steps that read the tape coin by coin


@pytest.fixture(scope="module")
def lake_tape(tape, coins, tmp_path_factory) -> CoinDay:
    """The day's tape written to a lake by coin, as `microtape_frames` writes it."""
    lake = Lake(tmp_path_factory.mktemp("lake"))
    lake.write_parts("microtape_frames", DAY, (_one(tape, c) for c in coins), tape.iloc[:0])
    return CoinDay(lake, "microtape_frames", DAY)


def test_detect_by_coin_is_detect_day_in_its_order(tape, lake_tape):
    """`detector_windows` reads the tape coin by coin: the whole day's windows, in the
    whole day's row order (not only the same rows by key)."""
    whole = detect_day(tape, scoring=load_scoring())
    pd.testing.assert_frame_equal(detect_by_coin(lake_tape,
                                                 scoring=load_scoring()), whole, check_exact=False,
                                  rtol=RTOL, atol=ATOL)


def test_evaluate_by_coin_is_evaluate_windows_in_its_order(scored, tape, lake_tape):
    """`signal_eval` reads the tape coin by coin: the same rows in the same order."""
    windows = scored[0].events
    whole = evaluate_windows(windows, tape)
    by_coin = evaluate_by_coin(windows, lake_tape)
    pd.testing.assert_frame_equal(by_coin, whole, check_exact=False, rtol=RTOL, atol=ATOL)
    shuffled = windows.sample(frac=1.0, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(evaluate_by_coin(shuffled, lake_tape),
                                  evaluate_windows(shuffled, tape), check_exact=False,
                                  rtol=RTOL, atol=ATOL)


def test_evaluate_in_order_is_evaluate_windows_from_the_windows_read_by_coin(
        scored, tape, lake_tape, tmp_path):
    """What `signal_eval` does: signal_events read a coin at a time from the lake (in its
    (ts_ms, coin, ...) order), each coin's rows spilled and merged back: the rows and order
    of `evaluate_windows` of the whole day; the fold sees every row once; the metadata's
    hit rates are `hit_rates` of the whole table."""
    windows = scored[0].events
    lake = Lake(tmp_path / "lake")
    lake.write("signal_events", DAY, windows)
    whole = evaluate_windows(windows, tape)
    seen: list[int] = []
    tally = EvalTally()

    def each(rows: pd.DataFrame) -> None:
        seen.append(len(rows))
        tally.add(rows)

    with CoinSpill(4, tmp_path, chunk_rows=7, slice_bytes=1) as spill:  # 1,000-row slices
        empty, rows = evaluate_in_order(CoinDay(lake, "signal_events", DAY), lake_tape, spill,
                                        each=each)
        slices = list(rows())
    assert len(seen) == windows["coin"].nunique() and sum(seen) == len(whole)
    assert len(slices) > 1 and list(empty.columns) == list(whole.columns)
    pd.testing.assert_frame_equal(pd.concat(slices, ignore_index=True), whole,
                                  check_exact=False, rtol=RTOL, atol=ATOL)
    pd.testing.assert_frame_equal(tally.hit_rates(), hit_rates(whole), check_exact=False,
                                  rtol=RTOL, atol=ATOL, check_dtype=False)
    assert tally.status == whole["status"].value_counts().to_dict()


def test_by_coin_steps_on_a_day_without_rows(tape, scored, tmp_path):
    lake = Lake(tmp_path)
    lake.write_parts("microtape_frames", DAY, iter([]), tape.iloc[:0])
    empty = CoinDay(lake, "microtape_frames", DAY)
    assert detect_by_coin(empty, scoring=load_scoring()).empty
    windows = scored[0].events
    got = evaluate_by_coin(windows, empty)  # every window pending: no tape
    assert len(got) == len(windows) * 4 and (got["status"] == "pending").all()
    assert evaluate_by_coin(windows.iloc[:0], empty).empty
    lake.write("signal_events", DAY, windows.iloc[:0])
    with CoinSpill(4, tmp_path, chunk_rows=7) as spill:
        none, rows = evaluate_in_order(CoinDay(lake, "signal_events", DAY), empty, spill)
        assert none.empty and list(rows()) == []
    assert list(none.columns) == list(evaluate_windows(windows, tape).columns)


def test_score_by_coin_is_score_day_in_its_order(tape, lake_tape, inputs):
    """`score_signals` reads the tape coin by coin: every table of score_day, in its order;
    the curator KPIs pool the coins' windows (so they equal the whole day's, not a coin's)."""
    whole = score_day(tape, DAY, **inputs)
    by_coin = score_by_coin(lake_tape, DAY, **inputs).day()
    for name in ("events", "curator_log", "meta", "bus", "kpis"):
        pd.testing.assert_frame_equal(getattr(by_coin, name), getattr(whole, name),
                                      check_exact=False, rtol=RTOL, atol=ATOL, obj=name)
    assert by_coin.events["published"].any() and by_coin.kpis["value"].notna().any()


def test_score_by_coin_without_dsi_and_on_a_day_without_rows(tape, lake_tape, inputs, tmp_path):
    plain = {**inputs, "dsi": None}
    pd.testing.assert_frame_equal(score_by_coin(lake_tape, DAY, **plain).day().events,
                                  score_day(tape, DAY, **plain).events, check_exact=False,
                                  rtol=RTOL, atol=ATOL)
    lake = Lake(tmp_path)
    lake.write_parts("microtape_frames", DAY, iter([]), tape.iloc[:0])
    empty = score_by_coin(CoinDay(lake, "microtape_frames", DAY), DAY, **inputs)
    assert list(empty.meta()) == []
    day = empty.day()
    assert day.events.empty and day.meta.empty
    pd.testing.assert_frame_equal(day.meta, empty.empty_meta())


def test_meta_signals_handed_on_coin_by_coin_and_dsi_read_by_coin(tape, lake_tape, inputs,
                                                                tmp_path):
    """What `score_signals` does: each coin's meta-signals as it is scored (then not held),
    the DSI rows read one coin at a time from a partition written by coin; the tables are
    the whole day's."""
    whole = score_day(tape, DAY, **inputs)
    lake = Lake(tmp_path)
    dsi = inputs["dsi"]
    lake.write_parts("dsi_annotations", DAY,
                     (dsi[dsi["coin"] == c] for c in sorted(dsi["coin"].unique())), dsi.iloc[:0])
    scoring = score_by_coin(lake_tape, DAY, **{**inputs,
                                               "dsi": CoinDay(lake, "dsi_annotations", DAY)})
    parts = list(scoring.meta())
    assert len(parts) == tape["coin"].nunique()
    assert all(p["coin"].nunique() == 1 for p in parts)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole.meta,
                                  check_exact=False, rtol=RTOL, atol=ATOL)
    day = scoring.day()
    assert day.meta.empty
    for name in ("events", "curator_log", "bus", "kpis"):
        pd.testing.assert_frame_equal(getattr(day, name), getattr(whole, name),
                                      check_exact=False, rtol=RTOL, atol=ATOL, obj=name)
    again = score_by_coin(lake_tape, DAY, **inputs)
    next(again.meta())
    with pytest.raises(RuntimeError, match="before its last coin"):
        again.day()
