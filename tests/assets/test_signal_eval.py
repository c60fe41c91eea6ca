"""signal_eval: paper outcomes per (window, horizon), pending until the tape covers the
horizon (docs/evaluation.md). Unit tests on a hand-built tape, then real Dagster runs over
two consecutive fixture days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_assets.chain import sized_assets
from lotus_assets.day_plan import materialize_day
from lotus_core.config.shared import shared_values
from lotus_core.evaluation import (
    DEFAULT_HORIZONS_S,
    SIGNAL_EVAL_SCHEMA,
    evaluate_windows,
    late_rows,
    with_late,
)
from lotus_core.evaluation.late import late_tape, pending_windows
from lotus_core.store.lake import Lake
from lotus_location.definitions import build_resources
from tests.helpers import dagster_instance_at
from tests.kits.first_fixture_day import DAYS, copy_to

# the session's first fixture day (tests/conftest.py): one worker builds it for this module
# and test_signals_pipeline.py
pytestmark = pytest.mark.xdist_group("first_fixture_day")

STR = pd.StringDtype(na_value=np.nan)
MIDNIGHT = 1_767_398_400_000  # 2026-01-03T00:00:00Z
WID = ["01KAAAAAAAAAAAAAAAAAAAAAAA", "01KBBBBBBBBBBBBBBBBBBBBBBB"]


def _tape(t0: int, mids: list[float], spread: float = 2.0, coin: str = "BTC") -> pd.DataFrame:
    n = len(mids)
    return pd.DataFrame({"coin": pd.array([coin] * n, dtype=STR),
                         "ts_ms": t0 + 1000 * np.arange(n, dtype=np.int64),
                         "mid_px": np.asarray(mids, dtype=np.float64),
                         "spread_bps": np.full(n, spread)})


def _windows(ts: list[int], direction: list[int]) -> pd.DataFrame:
    n = len(ts)
    return pd.DataFrame({
        "window_id": pd.array(WID[:n], dtype=STR), "ts_ms": np.asarray(ts, dtype=np.int64),
        "coin": pd.array(["BTC"] * n, dtype=STR),
        "detector_id": pd.array(["det_a"] * n, dtype=STR),
        "horizon_s": np.full(n, 60, dtype=np.int64),
        "direction": np.asarray(direction, dtype=np.int8),
        "published": np.array([True, False][:n]), "propensity": np.array([0.9, 0.1][:n])})


def test_exact_outcomes_on_a_hand_built_tape():
    t0 = 1_767_355_200_000
    # mid path 100 -> 101 (+100 bps) -> 99 (-100) -> 100.5 (+50), one frame a second
    tape = _tape(t0, [100.0, 101.0, 99.0, 100.5, 100.0])
    out = evaluate_windows(_windows([t0, t0], [1, -1]), tape, horizons_s=[3], fee_bps=2.5)
    SIGNAL_EVAL_SCHEMA.validate(out)
    long, short = out.iloc[0], out.iloc[1]
    assert long["status"] == "done" and short["status"] == "done"
    assert long["fwd_ret_bps"] == pytest.approx(50.0)
    assert long["net_ret_bps"] == pytest.approx(50.0 - 2.5 - 1.0)  # fee + half of 2 bps
    assert long["mfe_bps"] == pytest.approx(100.0) and long["mae_bps"] == pytest.approx(-100.0)
    assert bool(long["hit"]) is True
    assert short["fwd_ret_bps"] == pytest.approx(-50.0)
    assert short["net_ret_bps"] == pytest.approx(-53.5)
    assert short["mfe_bps"] == pytest.approx(100.0) and short["mae_bps"] == pytest.approx(-100.0)
    assert bool(short["hit"]) is False
    assert out["published"].tolist() == [True, False]
    assert out["propensity"].tolist() == [0.9, 0.1]


def test_one_row_per_window_and_horizon_in_order():
    t0 = 1_767_355_200_000
    tape = _tape(t0, list(np.linspace(100, 101, 1000)))
    out = evaluate_windows(_windows([t0, t0 + 5000], [1, 1]), tape)
    assert out["horizon_s"].tolist() == [30, 60, 300, 900] * 2
    assert out["window_id"].tolist() == [WID[0]] * 4 + [WID[1]] * 4
    assert (out["status"] == "done").all()
    # a monotone rise: MFE is the forward return, MAE is zero
    assert np.allclose(out["mfe_bps"], out["fwd_ret_bps"]) and (out["mae_bps"] == 0).all()


def test_a_window_near_midnight_is_pending_without_the_next_day_and_done_with_it():
    day1 = _tape(MIDNIGHT - 20_000, [100.0] * 20)           # 23:59:40 .. 23:59:59
    day2 = _tape(MIDNIGHT, [100.0, 100.2, 99.9] + [100.4] * 30)  # 00:00:00 ..
    win = _windows([MIDNIGHT - 10_000], [1])                 # 23:59:50, 30 s -> 00:00:20
    alone = evaluate_windows(win, day1, horizons_s=[5, 30])
    SIGNAL_EVAL_SCHEMA.validate(alone)
    assert alone["status"].tolist() == ["done", "pending"]
    assert alone.iloc[1][["fwd_ret_bps", "net_ret_bps", "mfe_bps", "mae_bps"]].isna().all()
    assert pd.isna(alone.iloc[1]["hit"])
    both = evaluate_windows(win, pd.concat([day2, day1]), horizons_s=[5, 30])  # any order
    SIGNAL_EVAL_SCHEMA.validate(both)
    assert both["status"].tolist() == ["done", "done"]
    row = both.iloc[1]
    assert row["fwd_ret_bps"] == pytest.approx(40.0)
    assert row["mfe_bps"] == pytest.approx(40.0) and row["mae_bps"] == pytest.approx(-10.0)
    assert row["net_ret_bps"] == pytest.approx(40.0 - 2.5 - 1.0) and bool(row["hit"])


def test_a_horizon_end_inside_a_recording_gap_stays_pending():
    day1 = _tape(MIDNIGHT - 20_000, [100.0] * 20)            # ends 23:59:59
    later = _tape(MIDNIGHT + 3_600_000, [101.0] * 5)          # resumes at 01:00:00
    win = _windows([MIDNIGHT - 10_000], [1])
    # the horizon end falls in the 23:59:59 .. 01:00:00 gap: 14 s ends 00:00:04, 5 s after
    # the last frame -> done (as of 23:59:59); 15 s ends 6 s after -> pending; 30 s too
    out = evaluate_windows(win, pd.concat([day1, later]), horizons_s=[14, 15, 30])
    assert out["status"].tolist() == ["done", "pending", "pending"]
    looser = evaluate_windows(win, pd.concat([day1, later]), horizons_s=[30],
                              gap_tolerance_s=60)
    assert looser["status"].tolist() == ["done"]


def test_an_outcome_measured_across_a_flagged_feed_gap_is_gap_not_done():
    """MicroTape rows flagged `gap` (a recorded disconnect or stall) between entry and exit
    make the row `gap`: measured, but never `done`, so the learning skips it."""
    t0 = 1_767_355_200_000
    tape = _tape(t0, [100.0 + i for i in range(10)])
    tape["gap"] = np.zeros(10, dtype=bool)
    tape.loc[5, "gap"] = True                                   # t0 + 5 s
    out = evaluate_windows(_windows([t0, t0 + 6000], [1, 1]), tape, horizons_s=[2, 6])
    SIGNAL_EVAL_SCHEMA.validate(out)
    # window 1: 2 s (rows 0-2) clear, 6 s (rows 0-6) crosses row 5; window 2 starts after it
    assert out["status"].tolist() == ["done", "gap", "done", "pending"]
    assert out.iloc[1][["fwd_ret_bps", "net_ret_bps"]].notna().all()
    without = evaluate_windows(_windows([t0], [1]), tape.drop(columns="gap"), horizons_s=[6])
    assert without["status"].tolist() == ["done"]


def test_no_tape_for_the_coin_is_pending():
    out = evaluate_windows(_windows([MIDNIGHT], [1]), _tape(MIDNIGHT, [1.0] * 40, coin="ETH"))
    assert (out["status"] == "pending").all()
    SIGNAL_EVAL_SCHEMA.validate(out)


# ---- real Dagster runs over two consecutive fixture days ----


@pytest.fixture
def first_day(tmp_path, first_fixture_day):
    """The two fixture days' feed with the first materialised through every asset (the
    session's build, shared with test_signals_pipeline.py), copied under tmp_path: its
    settings, the Dagster instance it ran on, and that run."""
    settings = copy_to(first_fixture_day, tmp_path)
    with dagster_instance_at(tmp_path / "dagster_home") as instance:
        yield settings, instance, first_fixture_day.result


def _run(settings, instance, day, selection=None):
    result = materialize_day(sized_assets(shared_values(settings)), partition_key=day,
                             instance=instance, selection=selection,
                             resources=build_resources(settings), raise_on_error=False)
    assert result.success, [e.step_failure_data.error.message for e in result.all_events
                            if e.is_step_failure]
    return result


def _eval_meta(result):
    """The day's signal_eval metadata: its coin runs' counts summed."""
    out: dict[str, int] = {}
    for m in result.asset_materializations_for_node("signal_eval"):  # one per coin
        for k in ("windows", "rows", "done", "pending", "across_gap"):
            out[k] = out.get(k, 0) + m.metadata[k].value
    return out


def _files(lake, asset, day):
    return {f.parent.name: f.read_bytes() for f in lake.files(asset, day)}


def test_signal_eval_over_two_fixture_days(first_day):
    settings, dagster_instance, first = first_day  # day 1 run with every asset
    lake = Lake(settings.lake_dir)
    day1, day2 = DAYS
    ev = lake.read("signal_events", day1)
    out = lake.read("signal_eval", day1)
    SIGNAL_EVAL_SCHEMA.validate(out)
    assert len(out) == 4 * len(ev)
    meta = _eval_meta(first)
    assert meta["pending"] > 0 and meta["rows"] == len(out)
    # a run per coin, its coin's file; the day read whole is in the events' order
    assert lake.coins("signal_eval", day1) == sorted(ev["coin"].astype(str).unique())
    assert len(lake.files("signal_eval", day1)) == ev["coin"].nunique()
    order = ev[["window_id"]].merge(out[["window_id"]].drop_duplicates(), how="inner")
    assert out["window_id"].drop_duplicates().tolist() == order["window_id"].tolist()
    tape = lake.read("microtape_frames", day1)
    last = tape.groupby("coin")["ts_ms"].max()
    end = out["ts_ms"] + out["horizon_s"] * 1000
    beyond = (end > out["coin"].map(last)).to_numpy()
    assert beyond.any() and (~beyond).any()
    assert (out["status"][beyond] == "pending").all()
    assert (out["status"][~beyond] == "done").all()
    assert out.loc[out["status"] == "done", "hit"].notna().all()
    before = _files(lake, "signal_eval", day1)

    # the next day's MicroTape arrives; day 1's signal_eval re-run is unchanged (it reads
    # day 1's tape only), and day 2's signal_eval_late completes what day 2's tape can
    _run(settings, dagster_instance, day2, selection=["raw_feed", "microtape_frames"])
    _run(settings, dagster_instance, day1, selection=["signal_eval"])
    assert _files(lake, "signal_eval", day1) == before
    late_run = _run(settings, dagster_instance, day2, selection=["signal_eval_late"])
    meta = {k: v.value for k, v in
            late_run.asset_materializations_for_node("signal_eval_late")[0].metadata.items()}
    assert meta["tape_days"] == [day1, day2] and meta["day_completed"] == day1
    late = lake.read("signal_eval_late", day2)
    SIGNAL_EVAL_SCHEMA.validate(late)
    assert len(late) == int(beyond.sum())
    out2 = with_late(out, late)
    SIGNAL_EVAL_SCHEMA.validate(out2)
    # the fixture days hold 12:00-14:00 UTC only: a horizon end within 5 s of day 1's last
    # frame is now known to be final (done); one further into the 22 h gap stays pending
    gap = (end - out["coin"].map(last)).to_numpy()
    filled = beyond & (gap <= 5000)
    assert filled.any() and (beyond & ~filled).any()
    assert (out2["status"][filled] == "done").all()
    assert (out2["status"][beyond & ~filled] == "pending").all()
    pd.testing.assert_frame_equal(out2[~beyond], out[~beyond])  # nothing else moved
    late_path = lake.path("signal_eval_late", day2)
    after = late_path.read_bytes()

    # byte-identical re-run
    _run(settings, dagster_instance, day2, selection=["signal_eval_late"])
    assert late_path.read_bytes() == after


def test_late_rows_of_a_day_without_pending_rows_or_without_a_previous_day_are_empty():
    t0 = 1_767_355_200_000
    tape = _tape(t0, list(np.linspace(100, 101, 1000)))
    win = _windows([t0], [1])
    evals = evaluate_windows(win, tape)
    assert (evals["status"] == "done").all()
    none = late_rows(win, evals, tape, DEFAULT_HORIZONS_S, 2.5, 5)
    SIGNAL_EVAL_SCHEMA.validate(none)
    assert none.empty and list(none.columns) == list(evals.columns)
    assert late_rows(win.iloc[:0], evals.iloc[:0], tape.iloc[:0], DEFAULT_HORIZONS_S, 2.5,
                     5).empty
    assert with_late(evals, none) is evals


def test_late_rows_name_a_pending_row_with_no_window():
    day1 = _tape(MIDNIGHT - 20_000, [100.0] * 20)
    win = _windows([MIDNIGHT - 10_000], [1])
    evals = evaluate_windows(win, day1, horizons_s=[30])
    with pytest.raises(ValueError, match=WID[0]):
        late_rows(win.assign(window_id=pd.array([WID[1]], dtype=STR)), evals, day1,
                  [30], 2.5, 5)


def test_the_late_tape_gives_the_rows_of_both_whole_days():
    """`signal_eval_late` reads, a pending coin at a time, only the frames between its
    earliest pending window and the first frame after its latest horizon end: the rows are
    those `late_rows` makes of both days' whole tapes, exactly, with frames missing at
    random (30 % of one coin's), each coin's next day starting minutes after midnight,
    `gap` frames, and a coin with no pending window."""
    rng = np.random.default_rng(7)

    def day(t0: int, n: int, coin: str, drop: float) -> pd.DataFrame:
        ts = t0 + 1000 * np.arange(n, dtype=np.int64)
        keep = rng.random(n) > drop
        mids = 100 * np.exp(np.cumsum(rng.normal(0, 1e-4, n)))
        return pd.DataFrame({"coin": pd.array([coin] * int(keep.sum()), dtype=STR),
                             "ts_ms": ts[keep], "mid_px": mids[keep],
                             "spread_bps": rng.uniform(1, 3, n)[keep],
                             "gap": rng.random(n)[keep] < 0.01})

    coins = ["BTC", "ETH", "SOL"]
    d1 = {c: day(MIDNIGHT - 3_600_000, 3_600, c, 0.3 if c == "ETH" else 0.02) for c in coins}
    d2 = {c: day(MIDNIGHT + 120_000 * k, 1_800, c, 0.05) for k, c in enumerate(coins)}
    wts = np.sort(rng.integers(MIDNIGHT - 1_000_000, MIDNIGHT - 1_000, 60))
    wcoin = rng.choice(["BTC", "ETH"], 60)  # SOL has no window
    events = pd.DataFrame({
        "window_id": pd.array([f"W{k:03d}" for k in range(60)], dtype=STR),
        "ts_ms": wts, "coin": pd.array(wcoin, dtype=STR),
        "detector_id": pd.array(["det_a"] * 60, dtype=STR),
        "direction": rng.choice([-1, 1], 60).astype(np.int8),
        "published": rng.random(60) < 0.5, "propensity": rng.uniform(0.1, 0.9, 60)})
    first = pd.concat(d1.values(), ignore_index=True)
    evals = evaluate_windows(events, first)
    assert (evals["status"] == "pending").sum() > 10
    whole = pd.concat([first, *d2.values()], ignore_index=True)
    expected = late_rows(events, evals, whole, DEFAULT_HORIZONS_S, 2.5, 5)
    assert (expected["status"] == "done").any() and (expected["status"] != "done").any()
    read = []

    def both_days(coin: str) -> pd.DataFrame:
        read.append(coin)
        return pd.concat([d1[coin], d2[coin]], ignore_index=True)

    tape = late_tape(pending_windows(events, evals), both_days, DEFAULT_HORIZONS_S)
    assert read == sorted(set(wcoin)) and len(tape) < len(whole) / 3
    pd.testing.assert_frame_equal(late_rows(events, evals, tape, DEFAULT_HORIZONS_S, 2.5, 5),
                                  expected, check_exact=True)
    # no tape at all (no previous day): nothing to complete
    assert late_rows(events, evals, None, DEFAULT_HORIZONS_S, 2.5, 5).empty
