"""Detectors: validated specs, causal vectorised engine, one window per event, planted truth;
and the equality of the stage's two paths: `DetectorStream` (per row) == `_with_ids(
run_detectors(...))` (batch) on whole days (the `test_stream_equals_batch_*` tests)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
import yaml

from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.signals import SpecError, ids, load_detectors, run_detectors
from lotus_core.signals import features as F
from lotus_core.signals.detectors import DetectorStream, episode_starts
from lotus_core.signals.pipeline import _with_ids
from lotus_core.signals.spec import DetectorSpec, enabled_specs
from tests.helpers import REAL_RECORDING
from tests.kits.signals_kit import FIXTURES, fixture_tape

DAY = "2026-01-02"


@pytest.fixture(scope="module")
def tape() -> pd.DataFrame:
    return fixture_tape(DAY)


@pytest.fixture(scope="module")
def windows(tape) -> pd.DataFrame:
    return run_detectors(tape, load_detectors().enabled)


def _packaged() -> dict:
    from importlib import resources

    return yaml.safe_load((resources.files("lotus_core.signals") / "detectors.yaml").read_text())


def test_packaged_specs_cover_the_four_kinds_and_hash_their_recipe():
    ds = load_detectors()
    kinds = {d.kind for d in ds.enabled}
    assert {"breakout_retest", "divergence", "mean_reversion", "sweep"} <= kinds
    for d in ds.detectors:
        assert d.recipe_hash.startswith("sha256:") and len(d.recipe_hash) == 71
        assert d.recipe_hash == DetectorSpec.model_validate(d.model_dump()).recipe_hash
    spec = ds.detectors[0]
    changed = spec.model_dump()
    changed["params"] = {**changed["params"], "lookback_s": changed["params"]["lookback_s"] + 1}
    assert DetectorSpec.model_validate(changed).recipe_hash != spec.recipe_hash


@pytest.mark.parametrize("mutate, path", [
    (lambda d: d["detectors"][2]["params"].update(rsi_gapp=1.0), "detectors[2].params"),
    (lambda d: d["detectors"][0].update(horizn_s=60), "detectors[0].horizn_s"),
    (lambda d: d["detectors"][4]["params"].update(z_entry=-1), "detectors[4].params"),
    (lambda d: d["detectors"][0]["regime_penalty"].update(storm=0.1),
     "detectors[0].regime_penalty"),
    (lambda d: d["detectors"][1].update(id=d["detectors"][0]["id"]), "<root>"),
])
def test_a_bad_spec_fails_naming_its_key(mutate, path):
    body = _packaged()
    mutate(body)
    with pytest.raises(SpecError) as err:
        load_detectors(body)
    assert path in str(err.value)


def test_thousands_of_windows_per_fixture_day_from_every_detector(windows):
    assert len(windows) >= 1500
    per = windows.groupby("detector_id").size()
    assert set(per.index) == {d.id for d in load_detectors().enabled}
    assert (per >= 10).all(), per
    assert set(windows["direction"].unique()) <= {-1, 1}
    assert (windows["raw_strength"] >= 0).all() and np.isfinite(windows["raw_strength"]).all()
    horizons = {d.id: d.horizon_s for d in load_detectors().enabled}
    assert (windows["horizon_s"] == windows["detector_id"].map(horizons)).all()
    keys = windows[["ts_ms", "coin", "detector_id"]]
    assert keys.equals(keys.sort_values(list(keys.columns), kind="stable"))


def test_windows_at_or_before_t_do_not_change_when_the_tape_is_cut_at_t(tape, windows):
    specs = load_detectors().enabled
    ts = tape["ts_ms"].to_numpy()
    cols = ["ts_ms", "coin", "detector_id", "direction", "raw_strength", "horizon_s"]
    for q in (0.2, 0.55, 0.9):
        t = int(np.quantile(ts, q)) // 1000 * 1000
        cut = tape[tape["ts_ms"] <= t].reset_index(drop=True)
        got = run_detectors(cut, specs)[cols].reset_index(drop=True)
        want = windows[windows["ts_ms"] <= t][cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)


def test_one_window_per_event_cooldown(windows):
    cooldown = {d.id: d.cooldown_s * 1000 for d in load_detectors().enabled}
    for (det, _, _), g in windows.groupby(["detector_id", "coin", "direction"]):
        gaps = np.diff(g["ts_ms"].to_numpy())
        assert (gaps >= cooldown[det]).all(), det


def test_episode_rule_merges_candidates_closer_than_the_cooldown():
    ts = np.array([0, 1000, 2000, 9000, 20000, 21000, 21000], dtype=np.int64)
    d = np.array([1, 1, 1, 1, 1, -1, 1], dtype=np.int8)
    # a candidate opens an event unless the previous same-direction one is < 5 s before it
    assert episode_starts(ts, d, 5000).tolist() == [True, False, False, True, True, True, False]


def _synthetic(mid: np.ndarray) -> pd.DataFrame:
    n = len(mid)
    return pd.DataFrame({
        "coin": pd.Series(["X"] * n, dtype="str"),
        "ts_ms": (1_767_355_200_000 + 1000 * np.arange(n)).astype(np.int64),
        "mid_px": mid, "sweep_flag": np.zeros(n, np.int8), "sweep_dir": np.zeros(n, np.int8),
        "aggr_imb": np.zeros(n), "buy_vol": np.zeros(n), "sell_vol": np.zeros(n),
        "trade_count": np.zeros(n, np.int32), "book_imb_5": np.zeros(n),
    })


def test_breakout_and_retest_fires_once_at_the_retest_in_the_breakout_direction():
    spec = load_detectors().by_id()["breakout_retest_v1"]
    p = spec.typed_params
    bps = 1e-4
    flat = 100 * (1 + 0.1 * bps * np.sin(np.arange(200)))  # a range of +-0.1 bps
    up = 100 * (1 + bps * np.linspace(0.5, 3.0, 10))  # break and extend 3 bps
    back = 100 * (1 + bps * np.linspace(2.5, 0.3, 8))  # come back to the level
    hold = np.full(60, 100 * (1 + 0.3 * bps))
    mid = np.concatenate([flat, up, back, hold])
    w = run_detectors(_synthetic(mid), [spec])
    assert len(w) == 1 and w["direction"].iloc[0] == 1
    first_retest = 200 + 10 + int(np.argmax(back <= 100 * (1 + (0.1 + p.retest_tol_bps) * bps)))
    assert w["frame_idx"].iloc[0] == first_retest
    down = run_detectors(_synthetic(200 - mid), [spec])  # the mirror image breaks down
    assert len(down) == 1 and down["direction"].iloc[0] == -1


def test_mean_reversion_fires_against_the_stretch():
    spec = load_detectors().by_id()["mean_reversion_z_v1"]
    rng = np.random.default_rng(3)
    walk = 100 * (1 + 1e-4 * np.cumsum(rng.normal(0, 0.3, 600)))
    spike = walk[-1] * (1 + 1e-4 * np.r_[np.linspace(0, 12, 6), np.linspace(11, 9, 5)])
    w = run_detectors(_synthetic(np.r_[walk, spike]), [spec])
    late = w[w["frame_idx"] >= 600]
    assert len(late) >= 1 and (late["direction"] == -1).all()


def test_sweep_detectors_find_the_planted_sweeps_in_their_direction(tape, windows):
    truth = json.loads((FIXTURES / f"{DAY}.truth.json").read_text())
    patterns = [p for c in truth["per_coin"].values() for p in c["patterns"]]
    for typ, det, lo_key, hi_key, slack in (("sweep", "sweep_flow_v1", "start_ms", "end_ms", 3000),
                                            ("sweep_then_stall", "sweep_stall_v1",
                                             "sweep_end_ms", "stall_end_ms", 1000)):
        occ = [p for p in patterns if p["type"] == typ]
        assert occ
        found = agree = 0
        for p in occ:
            w = windows[(windows["detector_id"] == det) & (windows["coin"] == p["coin"])
                        & windows["ts_ms"].between(p[lo_key], p[hi_key] + slack)]
            found += len(w) > 0
            agree += len(w) > 0 and int(w["direction"].iloc[0]) == p["direction"]
        assert found / len(occ) >= 0.9 and agree == found, (typ, found, agree, len(occ))


# --- precision as well as recall, on planted truth --------------------------------------------
# A window of a sweep detector is a true positive when it falls in the span its planted pattern
# defines (the recall test's spans above): sweep_flow_v1 in [start, end + 3 s] of a planted
# sweep or of the sweep leg of a sweep-then-stall; sweep_stall_v1 in [sweep end, stall end +
# 1 s] of a planted sweep-then-stall, same coin. The other detectors (breakout, divergence,
# mean reversion, flow pressure) have no planted pattern to be judged against.
PLANTED_SPANS = {
    "sweep_flow_v1": ({"sweep": ("start_ms", "end_ms"),
                       "sweep_then_stall": ("start_ms", "sweep_end_ms")}, 3000),
    "sweep_stall_v1": ({"sweep_then_stall": ("sweep_end_ms", "stall_end_ms")}, 1000),
}


def precision_recall(tape: pd.DataFrame, windows: pd.DataFrame, truth: dict,
                     detector: str) -> tuple[int, int, int, int, float]:
    """(true-positive windows, windows, recalled occurrences, occurrences, chance): chance is
    the share of the tape's coin-time inside the planted spans, the precision of a detector
    that fires at random."""
    spans, slack = PLANTED_SPANS[detector]
    w = windows[windows["detector_id"] == detector]
    hit = np.zeros(len(w), dtype=bool)
    recalled = n_occ = covered = 0
    for p in (p for c in truth["per_coin"].values() for p in c["patterns"]):
        if p["type"] not in spans:
            continue
        lo_key, hi_key = spans[p["type"]]
        lo, hi = p[lo_key], p[hi_key] + slack
        m = ((w["coin"] == p["coin"]) & w["ts_ms"].between(lo, hi)).to_numpy()
        hit |= m
        n_occ += 1
        recalled += bool(m.any())
        covered += hi - lo
    span = tape.groupby("coin")["ts_ms"].agg(["min", "max"])
    return int(hit.sum()), len(w), recalled, n_occ, covered / float((span["max"]
                                                                   - span["min"]).sum())


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Two freshly generated markets (seeds 7 and 11, 3 coins x 3 h from midnight: cold)."""
    from datetime import date

    from lotus_core.feed.parse import parse_recording
    from lotus_core.microtape import build_microtape
    from lotus_core.synth import default_spec, generate_day

    out = []
    for seed in (7, 11):
        feed, truth = generate_day(tmp_path_factory.mktemp(f"prec{seed}"), date(2026, 3, 4),
                                   ["BTC", "ETH", "SOL"], seed, default_spec(), hours=(0, 3))
        tape = build_microtape(parse_recording(feed))
        out.append((tape, run_detectors(tape, load_detectors().enabled),
                    json.loads(truth.read_text())))
    return out


# Measured (pooled over the two generated markets): sweep_stall_v1 precision 51/68 = 0.75,
# recall 51/52; sweep_flow_v1 precision 84/412 = 0.20 against chance 0.01 (most of its windows
# are the background flow's own multi-level sweeps, which nothing plants), recall 137/137.
# On the fixture day: sweep_stall_v1 21/21, sweep_flow_v1 32/309 = 0.10 (chance 0.011).
@pytest.mark.slow
@pytest.mark.parametrize("detector, min_precision, min_lift", [
    ("sweep_stall_v1", 0.6, 20.0), ("sweep_flow_v1", 0.12, 10.0)])
def test_sweep_detectors_fire_mostly_on_planted_patterns_in_generated_markets(
        generated, detector, min_precision, min_lift):
    tp = n = rec = occ = 0
    chance = 0.0
    for tape, windows, truth in generated:
        a, b, c, d, e = precision_recall(tape, windows, truth, detector)
        tp, n, rec, occ, chance = tp + a, n + b, rec + c, occ + d, chance + e / len(generated)
    assert occ >= 40 and n >= 40, (detector, n, occ)
    precision = tp / n
    assert rec / occ >= 0.9, f"{detector}: recall {rec}/{occ}"
    assert precision >= min_precision, f"{detector}: precision {tp}/{n} = {precision:.3f}"
    assert precision >= min_lift * chance, f"{detector}: {precision:.3f} vs chance {chance:.4f}"


def test_sweep_detectors_precision_on_the_fixture_day(tape, windows):
    truth = json.loads((FIXTURES / f"{DAY}.truth.json").read_text())
    for detector, min_precision in (("sweep_stall_v1", 0.9), ("sweep_flow_v1", 0.07)):
        tp, n, rec, occ, chance = precision_recall(tape, windows, truth, detector)
        assert n >= 20 and rec / occ >= 0.9, (detector, rec, occ)
        assert tp / n >= min_precision and tp / n >= 5 * chance, (detector, tp, n, chance)


# --- one definition: the step (DetectorStream) equals the batch on whole days ----------------
# (slow: each parses fixture days and pushes every row through the stream)

COLS = ["window_id", "ts_ms", "coin", "detector_id", "recipe_hash", "horizon_s", "direction",
        "raw_strength"]
DAYS = ["2026-01-02", "2026-01-03", "2026-01-05"]  # three of the five: the parse dominates

# Short windows and loose thresholds: the detectors fire often and differently from the
# packaged set (cooldown 0, a long cooldown, sweep stall of 1 row, 1-row spans).
SHORT = {
    "breakout_retest": {"lookback_s": 5, "break_bps": 0.1, "extend_bps": 0.2,
                        "retest_tol_bps": 0.5, "fail_bps": 1.0, "retest_window_s": 8},
    "divergence": {"lookback_s": 4, "rsi_span_s": 3, "rsi_gap": 2.0, "macd_fast_s": 2,
                   "macd_slow_s": 5, "macd_signal_s": 3},
    "mean_reversion": {"ema_span_s": 3, "z_span_s": 6, "z_entry": 1.0},
    "sweep": {"min_aggr_imb": 0.1, "vol_span_s": 4, "stall_s": 1, "max_wait_s": 3},
    "flow_pressure": {"flow_span_s": 3, "min_flow": 0.3, "min_book": 0.0, "min_trades": 1},
}


def short_specs() -> list[DetectorSpec]:
    out = []
    for i, spec in enumerate(enabled_specs(None)):
        body = spec.model_dump()
        body["id"] = f"short_{spec.kind}_{i}_v1"
        body["params"] = dict(SHORT[spec.kind])
        body["cooldown_s"] = [0, 60, 2][i % 3]
        if spec.kind == "sweep" and spec.typed_params.stall_s == 0:
            body["params"].update(stall_s=0, max_wait_s=0)
        out.append(DetectorSpec.model_validate(body))
    return out


def stream_windows(frames: pd.DataFrame, specs: Sequence[DetectorSpec], cadence: int,
                   skip: int | None = None) -> pd.DataFrame:
    """Every row pushed in (ts_ms, coin) order (row `skip` of that order left out)."""
    rows = frames.sort_values(["ts_ms", "coin"], kind="stable").to_dict("records")
    stream = DetectorStream(specs, cadence)
    out: list[dict] = []
    for i, row in enumerate(rows):
        if i != skip:
            out.extend(stream.push(row))
    return pd.DataFrame(out, columns=COLS)


def batch_windows(frames: pd.DataFrame, specs: Sequence[DetectorSpec]) -> pd.DataFrame:
    return _with_ids(run_detectors(frames, specs), specs)[COLS].reset_index(drop=True)


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> float:
    """Same windows in the same order, every column; returns the worst relative error."""
    assert len(got) == len(want), (len(got), len(want))
    for c in COLS[:-1]:
        g, w = got[c].tolist(), want[c].tolist()
        bad = [i for i, (a, b) in enumerate(zip(g, w, strict=True)) if a != b]
        assert not bad, (c, bad[:5], [g[i] for i in bad[:5]], [w[i] for i in bad[:5]])
    g = got["raw_strength"].to_numpy(dtype=np.float64)
    w = want["raw_strength"].to_numpy(dtype=np.float64)
    assert np.array_equal(np.isnan(g), np.isnan(w))
    rel = np.abs(g - w) / np.maximum(np.abs(w), 1e-12)
    worst = float(np.nanmax(rel)) if len(rel) else 0.0
    assert worst <= 1e-9, worst
    return worst


def check(frames: pd.DataFrame, specs: Sequence[DetectorSpec], min_windows: int = 1) -> None:
    cadence = F.cadence_ms(frames["ts_ms"].to_numpy(), frames["coin"].to_numpy(dtype=object))
    want = batch_windows(frames, specs)
    assert len(want) >= min_windows
    assert_same(stream_windows(frames, specs, cadence), want)


@lru_cache(maxsize=1)
def real_tape() -> pd.DataFrame:
    return build_microtape(parse_recording(REAL_RECORDING))


@pytest.mark.slow
@pytest.mark.parametrize("day", DAYS)
def test_stream_equals_batch_on_a_fixture_day_with_the_packaged_detectors(day):
    check(fixture_tape(day), enabled_specs(None), min_windows=1500)


@pytest.mark.slow
@pytest.mark.parametrize("day", DAYS[1:])
def test_stream_equals_batch_with_short_windows(day):
    specs = short_specs()
    frames = fixture_tape(day)
    want = batch_windows(frames, specs)
    assert set(want["detector_id"]) == {s.id for s in specs}  # every detector fires
    assert_same(stream_windows(frames, specs, 1000), want)


@pytest.mark.slow
def test_stream_equals_batch_on_a_2s_grid():
    """Every other row: the batch infers a 2000 ms cadence, the stream is given it, and the
    windows in rows (features.rows) round the same way."""
    frames = fixture_tape(DAYS[0])
    frames = frames[frames["ts_ms"] % 2000 == 0].reset_index(drop=True)
    for specs in (enabled_specs(None), short_specs()):
        check(frames, specs, min_windows=100)


@pytest.mark.slow
def test_stream_equals_batch_where_mids_and_book_are_missing():
    """NaN mids (outside the MicroTape contract, but the batch defines them: EMAs skip the
    row, rolling extremes are NaN while it is in their window) and NaN book imbalance."""
    frames = fixture_tape(DAYS[1])
    rng = np.random.default_rng(7)
    n = len(frames)
    mid = frames["mid_px"].to_numpy().copy()
    mid[rng.choice(n, 300, replace=False)] = np.nan
    mid[[0, 1, 7200, 7201, 7202]] = np.nan  # a coin's first rows too
    book = frames["book_imb_5"].to_numpy().copy()
    book[rng.choice(n, 3000, replace=False)] = np.nan
    frames = frames.assign(mid_px=mid, book_imb_5=book)
    for specs in (enabled_specs(None), short_specs()):
        check(frames, specs, min_windows=1000)


@pytest.mark.slow
def test_stream_equals_batch_on_the_real_sample():
    frames = real_tape()
    check(frames, enabled_specs(None), min_windows=0)
    check(frames, short_specs(), min_windows=1)


@pytest.mark.slow
def test_a_skipped_row_is_seen():
    """A stream that missed one row (positional windows shift) no longer equals the batch."""
    frames = fixture_tape(DAYS[0])
    specs = enabled_specs(None)
    want = batch_windows(frames, specs)
    got = stream_windows(frames, specs, 1000, skip=3 * 3600)  # BTC at 01:00
    with pytest.raises(AssertionError):
        assert_same(got, want)


@pytest.mark.slow
def test_rows_closer_than_the_cadence_are_refused():
    row = real_tape().to_dict("records")[0]
    stream = DetectorStream(enabled_specs(None), 1000)
    stream.push(row)
    with pytest.raises(ValueError, match="less than 1000 ms"):
        stream.push(row)
    with pytest.raises(ValueError, match="less than 1000 ms"):
        stream.push({**row, "ts_ms": row["ts_ms"] + 500})
    assert stream.push({**row, "ts_ms": row["ts_ms"] + 1000}) == []
    assert stream.push({**row, "coin": "ETH"}) == []  # another coin: its own state


@pytest.mark.slow
def test_window_id_one_equals_window_ids():
    rng = np.random.default_rng(3)
    ts = pd.Series(rng.integers(0, 2**50, 200), dtype="int64")
    coin = pd.Series(rng.choice(["BTC", "ETH", "kPEPE", "ü"], 200))
    det = pd.Series(rng.choice(["a_v1", "flow_pressure_v1", "sweep_stall_v1"], 200))
    want = ids.window_ids(coin, det, ts)
    got = [ids.window_id_one(ids.pair_key(c, d), t) for c, d, t in zip(coin, det, ts,
                                                                        strict=True)]
    assert got == list(want)
