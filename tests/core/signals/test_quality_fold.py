"""sq_*'s history folded a coin-day at a time (`QualityFold`): the same
HistoryQuality as the whole window's, which is checked here against a direct pandas
computation of each figure; a detector's own fold is its own history; and the audits'
rolling-origin gap reads the past windows' hits (HISTORY_COLUMNS carry `hit`, not
`fwd_ret_bps`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.audits.edge import hits_gap
from lotus_core.audits.run import PastHits
from lotus_core.signals import load_detectors, load_scoring
from lotus_core.signals.quality import (
    HISTORY_COLUMNS,
    MIN_MOVE_WINDOWS,
    _position_series,
    history_quality,
    quality_fold,
)

SPECS = load_detectors().enabled
CFG = load_scoring().sq
DAYS = ["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"]
COINS = ["BTC", "ETH", "SOL", "DOGE"]


def _history(seed: int = 3) -> pd.DataFrame:
    """Windows of every detector on 4 days x 4 coins: random times, directions and returns,
    some without an outcome and some of an older recipe; in (date, coin) order."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, day in enumerate(DAYS):
        start = int(pd.Timestamp(day, tz="UTC").value // 1_000_000)
        for coin in COINS:
            n = int(rng.integers(150, 400))
            spec = rng.integers(0, len(SPECS), n)
            signed = rng.normal(0.3 * (spec % 3 - 1), 5.0, n)
            direction = rng.choice([-1, 1], n)
            ok = rng.random(n) > 0.1
            parts.append(pd.DataFrame({
                "ts_ms": np.sort(rng.integers(start, start + 86_400_000, n)),
                "coin": coin,
                "detector_id": [SPECS[i].id for i in spec],
                "recipe_hash": [SPECS[i].recipe_hash if (k or j % 7) else "older"
                                for j, i in enumerate(spec)],
                "direction": direction.astype(np.int8),
                "horizon_s": [SPECS[i].horizon_s for i in spec],
                "outcome_ok": ok,
                "hit": np.where(ok, np.where(signed > 0, 1.0, 0.0), np.nan),
                "net_ret_bps": signed - 1.5,
                "signed_ret_bps": signed,
                "date": day,
            }))
    return pd.concat(parts, ignore_index=True)[[*HISTORY_COLUMNS, "date"]]


def _parts(history: pd.DataFrame) -> list[pd.DataFrame]:
    """Coin-days coin by coin, as `CoinParts` hands them to the fold."""
    return [g.reset_index(drop=True) for _, g in history.groupby(["coin", "date"], sort=True)]


def _by_day(history: pd.DataFrame) -> list[pd.DataFrame]:
    return [g.reset_index(drop=True) for _, g in history.groupby(["date", "coin"], sort=True)]


def test_the_fold_of_coin_days_is_the_whole_windows_quality():
    h = _history()
    whole = history_quality(h, SPECS, CFG)
    folded = history_quality(iter(_parts(h)), SPECS, CFG)
    pd.testing.assert_frame_equal(folded.pooled, whole.pooled, rtol=1e-12)
    pd.testing.assert_frame_equal(folded.by_coin, whole.by_coin, rtol=1e-12)
    np.testing.assert_allclose(folded.rho, whole.rho, rtol=1e-12, atol=1e-12)
    # the same merge sequence: a replay holding the window whole scores as the nightly did
    assert folded.rho.tobytes() == whole.rho.tobytes()
    assert (folded.days, folded.dropped_stale, folded.notes) == (
        whole.days, whole.dropped_stale, whole.notes)
    assert whole.dropped_stale > 0 and whole.days == tuple(DAYS)


def test_the_folds_figures_are_the_direct_computation():
    """Rates, medians and the position correlation computed straight from the window."""
    h = _history(5)
    hq = history_quality(iter(_parts(h)), SPECS, CFG)
    current = {s.id: s.recipe_hash for s in SPECS}
    u = h[(h["recipe_hash"] == h["detector_id"].map(current)) & h["outcome_ok"]]
    g = u.groupby("detector_id")
    a0, p = CFG.pseudo_pool, CFG.prior
    acc = (g["hit"].sum() + a0 * p.accuracy) / (g.size() + a0)
    np.testing.assert_allclose(hq.pooled.loc[acc.index, "accuracy"], acc, rtol=1e-12)
    move = g["signed_ret_bps"].apply(lambda s: s.abs().median())
    big = g.size() >= MIN_MOVE_WINDOWS
    np.testing.assert_allclose(hq.pooled.loc[move.index[big], "move"], move[big], rtol=0)
    gc = u.groupby(["detector_id", "coin"])
    assert hq.by_coin["n"].to_dict() == gc.size().to_dict()
    series = [_position_series(grp, hq.detectors, CFG.corr_grid_s)
              for _, grp in u.groupby(u["date"] + "/" + u["coin"], sort=True)]
    x = np.concatenate(series, axis=1)
    live = x.std(axis=1) > 0
    assert live.sum() >= 2
    expect = np.abs(np.corrcoef(x[live]))
    np.testing.assert_allclose(hq.rho[np.ix_(live, live)], expect, rtol=1e-9, atol=1e-12)


def test_a_detectors_own_fold_is_its_own_history():
    h = _history(7)
    fold = quality_fold(iter(_parts(h)), SPECS, CFG)
    for spec in SPECS[:3]:
        own = fold.quality(CFG, only=[spec.id])
        alone = history_quality(h, [spec], CFG)
        pd.testing.assert_frame_equal(own.pooled, alone.pooled, rtol=1e-12)
        pd.testing.assert_frame_equal(own.by_coin, alone.by_coin, rtol=1e-12)
        assert own.rho.tolist() == [[1.0]] == alone.rho.tolist()
        assert (own.days, own.dropped_stale, own.notes) == (
            alone.days, alone.dropped_stale, alone.notes)


def test_the_rolling_gap_reads_the_past_windows_hits():
    """Past windows that all hit then a day that all misses: the edge vanished out of
    sample and the gap fails. (Read from HISTORY_COLUMNS, the past has no fwd_ret_bps;
    scoring it from that column counted every past window a miss and passed this.)"""
    spec = SPECS[0]
    h = _history(9)
    h = h[h["recipe_hash"] == spec.recipe_hash]
    h = h.assign(outcome_ok=True, hit=1.0)
    past = PastHits(SPECS)
    for part in _by_day(h):
        past.add(part)
    later = int(pd.Timestamp("2026-02-05", tz="UTC").value // 1_000_000)
    ts = later + np.arange(400, dtype=np.int64) * 1_000
    hits = past.in_time_order(spec.recipe_hash, ts, np.zeros(400))
    assert len(hits) == len(h) + 400
    assert hits[: len(h)].tolist() == [1.0] * len(h) and not hits[len(h):].any()
    assert not hits_gap(hits).passed
    assert hits_gap(np.random.default_rng(1).integers(0, 2, len(hits)).astype(float)).passed


@pytest.mark.parametrize("empty", [None, pd.DataFrame(), iter(())])
def test_no_history_is_the_prior(empty):
    hq = history_quality(empty, SPECS, CFG)
    assert (hq.pooled["n"] == 0).all() and len(hq.by_coin) == 0 and hq.days == ()
    assert (hq.pooled["accuracy"] == CFG.prior.accuracy).all()


def test_past_hits_are_the_old_global_sort_of_the_whole_window():
    """Coin-days in lake order (coins by name, each in (ts_ms, detector_id) order) give the
    hits a stable time sort of the whole window in its old (ts_ms, coin, detector_id) order
    gave, ties across coins included."""
    h = _history(11)
    h = h.assign(ts_ms=h["ts_ms"] // 10_000 * 10_000)  # many windows share a time
    lake_order = h.sort_values(["date", "coin", "ts_ms", "detector_id"], kind="stable")
    past = PastHits(SPECS)
    for _, part in lake_order.groupby(["date", "coin"], sort=True):
        past.add(part.reset_index(drop=True))
    old = h.sort_values(["date", "ts_ms", "coin", "detector_id"], kind="stable")
    for spec in SPECS:
        mine = old[(old["recipe_hash"] == spec.recipe_hash) & old["outcome_ok"]]
        expect = mine.sort_values("ts_ms", kind="stable")["hit"].to_numpy()
        got = past.in_time_order(spec.recipe_hash, np.zeros(0, np.int64), np.zeros(0))
        np.testing.assert_array_equal(got, expect)


def test_parts_that_come_day_by_day_are_refused():
    """A coin's median needs all its days before the next coin: out of order, it says so."""
    with pytest.raises(ValueError, match="coin by coin"):
        history_quality(iter(_by_day(_history())), SPECS, CFG)


def test_above_its_bound_the_pooled_median_is_a_sample_fixed_by_the_windows(monkeypatch):
    """Above POOLED_MOVES a detector's pooled |move| is the median of the windows with the
    smallest hashes: the same whole or by parts, close to the exact one; below, exact."""
    from lotus_core.signals import quality

    h = _history(13)
    exact = history_quality(h, SPECS, CFG).pooled["move"]
    monkeypatch.setattr(quality, "POOLED_MOVES", 300)
    whole = history_quality(h, SPECS, CFG)
    parts = history_quality(iter(_parts(h)), SPECS, CFG)
    pd.testing.assert_series_equal(whole.pooled["move"], parts.pooled["move"])
    n = whole.pooled["n"]
    assert (n > 300).any()
    sampled = whole.pooled["move"][n > 300]
    assert not np.allclose(sampled, exact[n > 300], rtol=0, atol=0)  # it did sample
    np.testing.assert_allclose(sampled, exact[n > 300], rtol=0.15)
    by_coin = history_quality(h, SPECS, CFG).by_coin  # per (detector, coin): always exact
    monkeypatch.setattr(quality, "POOLED_MOVES", 65_536)
    pd.testing.assert_frame_equal(by_coin, history_quality(h, SPECS, CFG).by_coin)


def test_a_night_context_folds_its_history_once():
    """Every replay of a night (each coin group of live_parity) reuses the night's fold:
    the history, read lazily from the lake, is read once per specs and config."""
    from lotus_core.live.engine import NightContext

    class Counted:
        def __init__(self, parts: list[pd.DataFrame]) -> None:
            self.parts, self.passes = parts, 0

        def __iter__(self):  # noqa: ANN204
            self.passes += 1
            return iter(self.parts)

    history = Counted(_parts(_history(17)))
    night = NightContext("2026-02-05", history, None, None)
    first = night.quality(SPECS, CFG)
    assert night.quality(SPECS, CFG) is first and history.passes == 1
    night.quality(SPECS[:2], CFG)
    assert history.passes == 2
    pd.testing.assert_frame_equal(first.pooled, history_quality(_history(17), SPECS, CFG).pooled,
                                  rtol=1e-12)
