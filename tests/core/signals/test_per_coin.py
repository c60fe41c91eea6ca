"""Each per-coin scoring stage, run on one coin's MicroTape, gives that coin's rows of the
whole-day run (issue 32: the premise of day x coin partitions, docs/scale.md "Day x coin
partitions: what they need").

Given what crosses coins by design (the DSI fit and the sq_* history, both from earlier
days and passed whole to every coin), `annotate`, `detect_day`, `score_day` (events,
curator log, meta-signals) and `evaluate_windows` are per coin: the whole day's output is
the coins' outputs laid together in the whole day's row order. Only the curator KPIs pool
the day's windows across coins (a reduction after the coins, not compared here).

Non-float columns compare exactly. Float columns compare within RTOL: the two runs make the
same computations on arrays of different lengths, and numpy's vector loops (SVML on AVX-512)
may round an element differently in a loop's body than in its tail, so equal bits are not
promised between two computations, nor between machines (Intel, AMD with AVX-512)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.dsi import annotate, fit_dsi
from lotus_core.evaluation.outcomes import evaluate_windows
from lotus_core.signals.pipeline import detect_day, score_day
from tests.kits.signals_kit import fixture_sha256, fixture_tape, history_of

DAY = "2026-01-04"
EARLIER = ["2026-01-02", "2026-01-03"]
RTOL = 1e-12
"""Float columns: relative to the larger magnitude (ATOL at zero), NaN equal to NaN."""
ATOL = 1e-15


@pytest.fixture(scope="module")
def tape() -> pd.DataFrame:
    return fixture_tape(DAY)


@pytest.fixture(scope="module")
def coins(tape) -> list[str]:
    found = sorted(tape["coin"].astype(str).unique())
    assert len(found) >= 3  # a per-coin claim needs several coins
    return found


def _one(frame: pd.DataFrame, coin: str) -> pd.DataFrame:
    return frame[frame["coin"].astype(str) == coin].reset_index(drop=True)


def _laid_together(parts: list[pd.DataFrame], whole: pd.DataFrame,
                   key: list[str]) -> pd.DataFrame:
    """The coins' outputs in the whole day's row order (by `key`, unique per row)."""
    got = pd.concat(parts, ignore_index=True)
    assert len(got) == len(whole)
    assert not whole.duplicated(key).any() and not got.duplicated(key).any()
    order = whole[key].astype(str).merge(got[key].astype(str).reset_index(), on=key,
                                         how="left", validate="one_to_one")
    assert order["index"].notna().all(), "a row the whole day has and the coins do not"
    return got.iloc[order["index"].to_numpy(dtype=np.int64)].reset_index(drop=True)


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Every column of `want`: non-floats exactly (dtype too; missing equals missing),
    floats within RTOL."""
    assert list(got.columns) == list(want.columns)
    for col in want.columns:
        a, b = want[col], got[col]
        assert a.dtype == b.dtype, (col, a.dtype, b.dtype)
        if pd.api.types.is_float_dtype(a.dtype):
            x, y = a.to_numpy(np.float64), b.to_numpy(np.float64)
            same = (x == y) | (np.isnan(x) & np.isnan(y))
            near = np.abs(x - y) <= np.maximum(ATOL, RTOL * np.maximum(np.abs(x), np.abs(y)))
            assert (same | near).all(), f"{col}: {int((~(same | near)).sum())} rows differ"
        else:  # missing on both sides (pd.NA, None) is equal
            na = a.isna().to_numpy()
            assert (na == b.isna().to_numpy()).all(), col
            assert (a[~na].astype(str).to_numpy() == b[~na].astype(str).to_numpy()).all(), col


def test_detector_windows_are_per_coin(tape, coins):
    whole = detect_day(tape)
    assert whole["coin"].nunique() == len(coins) and len(whole) > 100
    got = _laid_together([detect_day(_one(tape, c)) for c in coins], whole, ["window_id"])
    assert_same(got, whole)


def test_dsi_annotations_are_per_coin_given_the_fit(tape, coins):
    model = fit_dsi(pd.concat([fixture_tape(d) for d in EARLIER], ignore_index=True))
    whole = annotate(tape, model).annotations
    got = _laid_together([annotate(_one(tape, c), model).annotations for c in coins], whole,
                         ["coin", "ts_ms"])
    assert_same(got, whole)


@pytest.fixture(scope="module")
def scored(tape, coins):
    """The whole day and each coin alone, with the same history (all coins, earlier days)
    and DSI frame: the inputs that cross coins are the same object for every call."""
    history = history_of(EARLIER)
    model = fit_dsi(pd.concat([fixture_tape(d) for d in EARLIER], ignore_index=True))
    dsi = annotate(tape, model).annotations
    kw = {"fingerprint": fixture_sha256(DAY), "history": history, "dsi": dsi}
    whole = score_day(tape, DAY, **kw)
    parts = [score_day(_one(tape, c), DAY, **kw) for c in coins]
    return whole, parts


def test_signal_events_are_per_coin(scored):
    whole, parts = scored
    ev = whole.events
    assert ev["published"].any() and ev["vetoed"].any()  # the council decided something
    assert_same(_laid_together([p.events for p in parts], ev, ["window_id"]), ev)


def test_curator_log_and_meta_signals_are_per_coin(scored):
    whole, parts = scored
    log = whole.curator_log
    assert len(log)
    key = [c for c in ("window_id", "curator", "kind") if c in log.columns]
    got = pd.concat([p.curator_log for p in parts], ignore_index=True)
    srt = lambda f: f.sort_values(key, kind="stable").reset_index(drop=True)  # noqa: E731
    assert_same(srt(got), srt(log))
    assert_same(_laid_together([p.meta for p in parts], whole.meta, ["coin", "ts_ms"]),
                whole.meta)


def test_a_changed_coin_is_caught(scored, tape, coins):
    """The comparison can fail: one coin scored on a shifted tape differs from the whole."""
    whole, parts = scored
    moved = _one(tape, coins[0])
    moved["mid_px"] = moved["mid_px"] * 1.01
    other = score_day(moved, DAY, fingerprint=fixture_sha256(DAY),
                      history=history_of(EARLIER))
    with pytest.raises(AssertionError):
        assert_same(_laid_together([other.events, *(p.events for p in parts[1:])],
                                   whole.events, ["window_id"]), whole.events)


def test_outcomes_are_per_coin(scored, tape, coins):
    windows = scored[0].events
    whole = evaluate_windows(windows, tape)
    assert whole["outcome_ok"].any() if "outcome_ok" in whole else len(whole)
    parts = [evaluate_windows(_one(windows, c), _one(tape, c)) for c in coins]
    key = ["window_id", "horizon_s"] if "horizon_s" in whole.columns else ["window_id"]
    assert_same(_laid_together(parts, whole, key), whole)
