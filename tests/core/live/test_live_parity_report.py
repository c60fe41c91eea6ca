"""`compare_windows`: live == nightly column by column. A differing deciding column is
caught and named with its window (the first in nightly order); floats pass within the
stated relative tolerance and fail beyond it; a window only one side has is named."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.live.parity import RTOL, compare_streams, compare_windows


def _nightly() -> pd.DataFrame:
    return pd.DataFrame({
        "window_id": pd.Series(["W1", "W2", "W3", "W4"], dtype="str"),
        "ts_ms": np.array([1_000, 2_000, 3_000, 4_000], dtype=np.int64),
        "coin": pd.Series(["BTC", "ETH", "BTC", "SOL"], dtype="str"),
        "detector_id": pd.Series(["a", "b", "a", "c"], dtype="str"),
        "det_sigma": [0.61, 0.42, 0.0, 0.77],
        "curated_sigma": [0.63, 0.40, 0.01, np.nan],
        "vetoes": pd.Series(["[]", '["audit"]', "[]", "[]"], dtype="str"),
        "gates": pd.Series(['{"g":1}', '{"g":0}', '{"g":1}', '{"g":1}'], dtype="str"),
        "above_threshold": [True, False, False, True],
        "published": [True, False, False, True],
        "propensity": [1.0, 0.0, 0.25, 1.0],
        "data_fingerprint": pd.Series(["sha256:aa"] * 4, dtype="str"),
    })


def test_equal_windows_pass_and_report_the_count_and_float_columns():
    n = _nightly()
    live = n.sample(frac=1.0, random_state=3).reset_index(drop=True)  # another order
    rep = compare_windows(n, live)
    assert rep.ok and rep.first is None
    assert rep.compared == 4 and rep.mismatched_windows == 0
    assert set(rep.float_columns) == {"det_sigma", "curated_sigma"}  # propensity: exact
    assert "propensity" in rep.exact_columns and rep.max_rel_diff == 0.0
    assert "4 windows equal" in rep.describe()


def test_floats_within_the_tolerance_pass_and_the_largest_difference_is_reported():
    n = _nightly()
    live = n.copy()
    live.loc[1, "det_sigma"] *= 1 + 1e-12
    live.loc[2, "det_sigma"] = 1e-16  # 0 vs 1e-16: within the absolute floor
    rep = compare_windows(n, live)
    assert rep.ok, rep.describe()
    assert 0 < rep.max_rel_diff < RTOL and rep.max_rel_column == "det_sigma"


def test_a_float_beyond_the_tolerance_names_window_and_column():
    n = _nightly()
    live = n.copy()
    live.loc[1, "curated_sigma"] *= 1 + 1e-6
    rep = compare_windows(n, live)
    assert not rep.ok
    assert (rep.first.window_id, rep.first.column) == ("W2", "curated_sigma")
    assert rep.columns_differing == ("curated_sigma",) and rep.mismatched_windows == 1
    assert "window W2 column curated_sigma" in rep.describe()


def test_deciding_columns_are_exact_and_the_first_differing_window_is_named():
    n = _nightly()
    live = n.copy()
    live.loc[2, "published"] = True
    live.loc[3, "gates"] = '{"g":0}'
    rep = compare_windows(n, live)
    assert (rep.first.window_id, rep.first.column) == ("W3", "published")
    assert (rep.first.nightly, rep.first.live) == (False, True)
    assert set(rep.columns_differing) == {"published", "gates"}
    assert rep.mismatched_windows == 2
    tiny = n.copy()
    tiny.loc[2, "propensity"] = 0.25 + 1e-15  # propensity decides: no tolerance
    rep = compare_windows(n, tiny)
    assert (rep.first.window_id, rep.first.column) == ("W3", "propensity")
    vetoes = n.copy()
    vetoes.loc[0, "vetoes"] = '["diversity"]'
    assert compare_windows(n, vetoes).first.column == "vetoes"


def test_nan_equals_nan_only():
    n = _nightly()
    live = n.copy()
    live.loc[3, "curated_sigma"] = 0.5  # nightly NaN
    rep = compare_windows(n, live)
    assert (rep.first.window_id, rep.first.column) == ("W4", "curated_sigma")


def test_a_window_only_one_side_has_is_named():
    n = _nightly()
    rep = compare_windows(n, n.drop(index=1).reset_index(drop=True))
    assert (rep.first.window_id, rep.first.column, rep.first.live) == \
        ("W2", "window_id", "missing in live")
    assert rep.missing_live == 1 and rep.compared == 3
    extra = pd.concat([n, n.iloc[[0]].assign(window_id="W9")], ignore_index=True)
    rep = compare_windows(n, extra)
    assert not rep.ok and rep.extra_live == 1 and rep.first.window_id == "W9"


def test_the_fingerprint_is_compared_by_presence():
    n = _nightly()
    other = n.assign(data_fingerprint="sha256:bb")  # the lines so far, live: another hash
    assert compare_windows(n, other).ok
    none = n.copy()
    none.loc[0, "data_fingerprint"] = ""
    rep = compare_windows(n, none)
    assert (rep.first.window_id, rep.first.column) == ("W1", "data_fingerprint")


# --- the same report, the two days streamed ----------------------------------------------

def _day(n: int = 400, seed: int = 5) -> pd.DataFrame:
    """`n` windows in (ts_ms, coin, detector_id) order, several coins at each time."""
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.choice(np.arange(1, 120) * 1_000, size=n)).astype(np.int64)
    coin = rng.choice(["BTC", "ETH", "SOL", "XRP"], size=n)
    det = rng.choice(["a", "b", "c"], size=n)
    f = pd.DataFrame({"ts_ms": ts, "coin": pd.Series(coin, dtype="str"),
                      "detector_id": pd.Series(det, dtype="str")})
    f = f.drop_duplicates().sort_values(["ts_ms", "coin", "detector_id"]).reset_index(drop=True)
    m = len(f)
    f.insert(0, "window_id", pd.Series([f"W{i:04d}" for i in range(m)], dtype="str"))
    f["det_sigma"] = rng.random(m)
    f["vetoes"] = pd.Series(rng.choice(["[]", '["x"]'], size=m), dtype="str")
    f["published"] = rng.random(m) < 0.3
    f["propensity"] = rng.random(m)
    f["curated_sigma"] = rng.random(m)
    return f


def _steps(live: pd.DataFrame, seed: int) -> list[pd.DataFrame]:
    """The live windows as an engine emits them: whole times a step, in time order, each
    step's rows in another order within a time (coin order, not detector order)."""
    rng = np.random.default_rng(seed)
    times = np.unique(live["ts_ms"].to_numpy())
    cuts = np.sort(rng.choice(np.arange(1, len(times)), size=min(25, len(times) - 1),
                              replace=False))
    out = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(times)], strict=True):
        part = live[live["ts_ms"].isin(times[lo:hi])]
        out.append(part.sample(frac=1.0, random_state=seed).sort_values(
            "ts_ms", kind="stable").reset_index(drop=True))
    return out


def _slices(nightly: pd.DataFrame, rows: int) -> list[pd.DataFrame]:
    return [nightly.iloc[i:i + rows].reset_index(drop=True)
            for i in range(0, len(nightly), rows)]


def _both(nightly: pd.DataFrame, live: pd.DataFrame, seed: int = 1):
    whole = compare_windows(nightly, live)
    streamed = compare_streams(_slices(nightly, 37), _steps(live, seed), chunk=25)
    return whole, streamed


def test_streamed_days_give_the_whole_days_report_when_equal():
    n = _day()
    whole, streamed = _both(n, n.copy())
    assert whole.ok and streamed == whole
    assert streamed.compared == len(n)


def test_streamed_days_give_the_whole_days_report_on_each_kind_of_difference():
    n = _day()
    late = n.copy()
    late.loc[len(n) - 3, "det_sigma"] *= 1 + 1e-6  # a float beyond rtol, near the end
    late.loc[len(n) // 2, "curated_sigma"] *= 1 + 1e-12  # within rtol: the max, reported
    deciding = n.copy()
    deciding.loc[[50, 300], "published"] = ~deciding.loc[[50, 300], "published"]
    missing = n.drop(index=[10, 200]).reset_index(drop=True)
    extra = pd.concat([n, n.iloc[[100]].assign(window_id="WX", coin="ZZZ")]).sort_values(
        ["ts_ms", "coin"], kind="stable").reset_index(drop=True)
    for live in (late, deciding, missing, extra):
        whole, streamed = _both(n, live)
        assert not whole.ok
        assert streamed == whole, (streamed.describe(), whole.describe())


def test_an_empty_live_day_misses_every_nightly_window():
    n = _day(60)
    streamed = compare_streams(_slices(n, 7), iter([]), chunk=10)
    assert streamed == compare_windows(n, n.iloc[:0])
    assert streamed.missing_live == len(n) and streamed.first.window_id == "W0000"
