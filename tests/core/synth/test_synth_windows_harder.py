"""The generator's harder markets: an unobserved driver behind an observed
proxy, heteroskedastic noise, hours without activeAssetCtx, a mid-window regime shift, a
coin recorded without l2Book and one coin's feed out for hours.
Each knob does what it says, measured on the frame; off, the market is unchanged."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from lotus_core.signals.config import load_scoring
from lotus_core.signals.context import literals
from lotus_core.synth.windows import (
    BOOK_NAN_COLUMNS,
    CTX_COLUMNS,
    OI_HIGH,
    PLANTED,
    WindowSpec,
    bookless_coin,
    coin_outage_mask,
    ctx_gap_mask,
    planted_truth,
    shift_day,
    window_frame,
)

BIG = WindowSpec(days=4, windows_per_day=3000)


def _planted_rows(f: pd.DataFrame) -> pd.DataFrame:
    return f[f["detector_id"] == PLANTED]


def test_a_latent_driver_makes_top_oi_a_proxy_with_the_stated_correlation_and_truth():
    spec = replace(BIG, delta_bps=10.0, latent_agreement=0.7)
    f = _planted_rows(window_frame(spec, 3))
    state = (f["planted"] > 0).to_numpy()  # the latent state (the planted detector pays in it)
    proxy = (f["oi_pctl"] >= OI_HIGH).to_numpy()
    assert planted_truth(spec) == pytest.approx(7.0)
    assert 0 < (state != proxy).mean() < 0.3  # a proxy, not the state
    for regime in ("quiet", "trend", "chop"):  # within a regime the propensity is one number
        m = (f["regime"] == regime).to_numpy()
        corr = np.corrcoef(state[m], proxy[m])[0, 1]
        assert corr == pytest.approx(0.7, abs=0.06), regime
        gap = f.loc[m & proxy, "planted"].mean() - f.loc[m & ~proxy, "planted"].mean()
        assert gap == pytest.approx(planted_truth(spec), abs=0.6), regime
    exact = _planted_rows(window_frame(replace(spec, latent_agreement=1.0), 3))
    assert ((exact["planted"] > 0) == (exact["oi_pctl"] >= OI_HIGH)).all()
    assert (window_frame(spec.null(), 3)["planted"] == 0).all()


def test_heteroskedastic_noise_follows_rv_and_leaves_the_effect_alone():
    quiet = replace(BIG, effect="oi_hi", delta_bps=8.0, regime_effect_bps=0.0, confounding=0.0)
    hot = replace(quiet, noise_rv_slope=1.0)
    a, b = window_frame(quiet, 5), window_frame(hot, 5)
    assert a["planted"].equals(b["planted"]) and a["rv_pctl"].equals(b["rv_pctl"])

    def sd_ratio(f: pd.DataFrame) -> float:
        rest = f[f["planted"] == 0]
        lo = rest.loc[rest["rv_pctl"] < 1 / 3, "net_ret_bps"].std()
        hi = rest.loc[rest["rv_pctl"] >= 2 / 3, "net_ret_bps"].std()
        return float(hi / lo)

    assert sd_ratio(a) == pytest.approx(1.0, abs=0.08)
    assert sd_ratio(b) == pytest.approx(1.98, abs=0.15)  # sqrt E[f^2] over the bins: 1.34/0.67
    p = _planted_rows(b)
    hi = (p["oi_pctl"] >= OI_HIGH).to_numpy()
    diff = p.loc[hi, "net_ret_bps"].mean() - p.loc[~hi, "net_ret_bps"].mean()
    assert diff == pytest.approx(8.0, abs=0.8)


def test_missing_ctx_hours_blank_the_ctx_columns_in_whole_hours_and_the_effect_goes_on():
    spec = replace(BIG, days=8, windows_per_day=800, ctx_gap_hours=(2, 4))
    plain = window_frame(replace(spec, ctx_gap_hours=(0, 0)), 11)
    f = window_frame(spec, 11)
    hour = ((f["ts_ms"] // 3_600_000) % 24).to_numpy()
    gap = f["oi_pctl"].isna().to_numpy()
    days_with = 0
    for day, idx in f.groupby("date").indices.items():
        hours = sorted(set(hour[idx][gap[idx]]))
        if hours:
            days_with += 1
            assert 2 <= len(hours) <= 4 and hours == list(range(hours[0], hours[-1] + 1)), day
            assert gap[idx][np.isin(hour[idx], hours)].all()  # whole hours
    assert 0 < days_with < 8  # some days, not all (seeded share 0.5)
    for c in CTX_COLUMNS:
        assert np.array_equal(f[c].isna().to_numpy(), gap), c
    assert f.loc[gap, ["rv_pctl", "book_imb_5", "net_ret_bps"]].notna().all().all()
    assert (f.loc[gap & (f["detector_id"] == PLANTED).to_numpy(), "planted"] > 0).any()
    # everything else is the gap-free market's draws, and the quantiser bins the hole `na`
    keep = [c for c in f.columns if c not in CTX_COLUMNS]
    assert f[keep].equals(plain[keep])
    assert f.loc[~gap, list(CTX_COLUMNS)].equals(plain.loc[~gap, list(CTX_COLUMNS)])
    lits = literals(f, load_scoring().context)
    assert (lits.loc[gap, ["oi_pctl_bin", "funding_pctl_bin", "oi_delta_bin"]] == "na").all().all()
    day0 = np.asarray(f["date"] == f["date"].iloc[0])
    assert np.array_equal(ctx_gap_mask(spec, 11, 0, hour[day0]), gap[day0])


def test_a_regime_shift_flips_the_baseline_from_a_seeded_day_and_the_effect_persists():
    spec = replace(BIG, days=6, delta_bps=6.0, regime_effect_bps=4.0, regime_shift=True)
    assert shift_day(replace(spec, regime_shift=False), 2) is None
    days = {shift_day(spec, s) for s in range(12)}
    assert days <= set(range(1, 6)) and len(days) > 1  # seeded, never the first day
    at = shift_day(spec, 2)
    assert at is not None
    f = window_frame(spec, 2)
    day = f["date"].map({d: i for i, d in enumerate(sorted(f["date"].unique()))}).to_numpy()
    trend = (f["regime"] == "trend").to_numpy()
    high = (f["oi_pctl"] >= OI_HIGH).to_numpy()
    y = (f["net_ret_bps"] - f["planted"]).to_numpy()
    for after in (False, True):
        m = (day >= at) if after else (day < at)
        sign = -1 if after else 1
        lift = high[m & trend].mean() - high[m & ~trend].mean()
        assert sign * lift > 0.25  # high OI tracks trend, then avoids it
        own = y[m & trend].mean() - y[m & ~trend].mean()
        assert own == pytest.approx(sign * 4.0, abs=1.0)  # the regime's own effect flips
    p = (f["detector_id"] == PLANTED).to_numpy()
    assert np.array_equal(f.loc[p, "planted"].to_numpy(), np.where(high[p], 6.0, 0.0))
    assert planted_truth(spec) == 6.0


@pytest.mark.parametrize("bad", [
    {"latent_agreement": 0.0}, {"latent_agreement": 0.5, "effect": "oi_top_quintile"},
    {"noise_rv_slope": 2.0}, {"ctx_gap_hours": (3, 2)}, {"ctx_gap_hours": (0, 2)},
    {"coin_outage_hours": (5, 4)}, {"coin_outage_hours": (0, 3)},
    {"regime_shift": True, "days": 1}])
def test_a_knob_out_of_range_is_refused(bad):
    with pytest.raises(ValueError):
        WindowSpec(**bad)


def test_a_coin_without_l2book_has_what_the_microtape_makes_without_one_every_day():
    spec = replace(BIG, days=3, windows_per_day=600, effect="bimb_with", confound_book=True,
                   book_absent_coin=True)
    plain = window_frame(replace(spec, book_absent_coin=False), 5)
    f = window_frame(spec, 5)
    coin = bookless_coin(spec, 5)
    assert coin is not None and bookless_coin(replace(spec, book_absent_coin=False), 5) is None
    assert len({bookless_coin(spec, s) for s in range(20)}) > 1  # seeded
    mine = (f["coin"] == coin).to_numpy()
    for c in BOOK_NAN_COLUMNS:
        assert f.loc[mine, c].isna().all() and f.loc[~mine, c].notna().all(), c
    assert (f.loc[mine, "cancel_rate"] == 0.0).all()
    assert set(f.loc[mine, "date"]) == set(f["date"])  # every day
    # the rest of the market, the planted book effect included, is the same draws
    keep = [c for c in f.columns if c not in (*BOOK_NAN_COLUMNS, "cancel_rate")]
    assert f[keep].equals(plain[keep])
    assert (f.loc[mine & (f["detector_id"] == PLANTED).to_numpy(), "planted"] > 0).any()
    lits = literals(f, load_scoring().context)
    assert (lits.loc[mine, ["bimb5_bin", "depth_bin"]] == "na").all().all()
    assert (lits.loc[~mine, "bimb5_bin"] != "na").all()


def test_a_coin_outage_removes_one_coins_windows_for_whole_hours_on_some_days():
    spec = replace(BIG, days=8, windows_per_day=800, coin_outage_hours=(2, 6))
    plain = window_frame(replace(spec, coin_outage_hours=(0, 0)), 9)
    f = window_frame(spec, 9)
    gone = plain[~plain["window_id"].isin(f["window_id"])]
    assert len(gone) and f["window_id"].isin(plain["window_id"]).all()  # only removals
    hour = ((gone["ts_ms"] // 3_600_000) % 24).to_numpy()
    days_out = 0
    for day, idx in gone.groupby("date").indices.items():
        days_out += 1
        assert gone["coin"].iloc[idx].nunique() == 1, day  # one coin a day
        hours = sorted(set(hour[idx]))
        assert 1 <= len(hours) <= 6 and hours[-1] - hours[0] < 6, day
        # within the block, every window of that coin is gone; the other coins go on
        coin = gone["coin"].iloc[idx[0]]
        d = plain[(plain["date"] == day)]
        ph = ((d["ts_ms"] // 3_600_000) % 24).to_numpy()
        block = (ph >= hours[0]) & (ph <= hours[-1])
        assert not f["window_id"].isin(d.loc[block & (d["coin"] == coin).to_numpy(),
                                              "window_id"]).any()
        assert d.loc[block & (d["coin"] != coin).to_numpy(),
                     "window_id"].isin(f["window_id"]).all()
    assert 0 < days_out < 8
    day0 = plain["date"] == plain["date"].iloc[0]
    h0 = ((plain.loc[day0, "ts_ms"] // 3_600_000) % 24).to_numpy()
    out0 = coin_outage_mask(spec, 9, 0, h0, plain.loc[day0, "coin"].to_numpy())
    assert out0.sum() == (gone["date"] == plain["date"].iloc[0]).sum()
