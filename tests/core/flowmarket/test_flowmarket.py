"""The flow market (lotus_core.flowmarket): determinism, the venue's wire format as Lotus
parses it, hourly mean-reverting funding, null twins that differ only where the planted
move acts, the planted move's sign and size, and truth intervals recomputed from the
recording by the contexts' own definitions.

One coin, two hours in which its funding is high (found from the funding process, which is
cheap), generated once as a planted market and once as its null twin. Seed: the tuning
cell of validity_seeds.yaml `flowmarket`."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.flowmarket import DECOY, INTERACTION, FlowSpec, generate_day
from lotus_core.flowmarket.funding import (
    FUNDING_MEAN,
    FUNDING_SD,
    FUNDING_UNIT,
    funding_hours,
    funding_phi,
    hourly_funding,
)
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.time import HOUR_MS, day_start_ms

SEED = load_seeds().seeds("tuning", "flowmarket", "twins", 1)[0]
COIN = "BTC"
DELTA_BPS = 10.0
SPEC = FlowSpec.from_dict({"interaction": {"delta_bps": DELTA_BPS}})


def _high_hours() -> tuple[date, int]:
    """The first day from 2026-03-01 with two consecutive funding-high hours for COIN."""
    first = date(2026, 3, 1)
    start = day_start_ms(first)
    f = funding_hours(SEED, COIN, start, start + 20 * 24 * HOUR_MS, SPEC)
    for k in np.flatnonzero(f.high[:-1] & f.high[1:]).tolist():
        if k % 24 < 23:
            return first + timedelta(days=k // 24), k % 24
    raise AssertionError("no two consecutive funding-high hours in 20 days")


DAY, HOUR = _high_hours()
HOURS = (HOUR, HOUR + 2)


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("flow")
    out = {}
    for name, spec in (("planted", SPEC), ("null", SPEC.null_twin())):
        feed, truth = generate_day(root / name, DAY, [COIN], SEED, spec, hours=HOURS)
        out[name] = {"feed": feed, "truth": json.loads(truth.read_text()),
                     "day": parse_recording(feed), "dir": root / name}
    return out


def _mid(fd) -> tuple[np.ndarray, np.ndarray]:
    b = fd.bbo
    return b.time_ms.to_numpy(), ((b.bid_px + b.ask_px) / 2).to_numpy()


def _effects(truth: dict) -> list[dict]:
    return truth["per_coin"][COIN]["effects"]


def test_same_seed_gives_the_same_bytes(twins: dict, tmp_path: Path) -> None:
    feed, truth = generate_day(tmp_path, DAY, [COIN], SEED, SPEC, hours=HOURS)
    assert feed.read_bytes() == twins["planted"]["feed"].read_bytes()
    assert truth.read_bytes() == (twins["planted"]["dir"] / truth.name).read_bytes()


def test_every_line_parses_with_zero_dead_letters(twins: dict) -> None:
    for name in ("planted", "null"):
        fd = twins[name]["day"]
        assert fd.dead == [], fd.dead[:3]
        for channel in ("l2Book", "trades", "bbo", "activeAssetCtx", "candle"):
            assert fd.counts[(channel, COIN)] > 0, channel
        fast = fd.books.meta["fast"].to_numpy()
        assert fast.sum() == 2 * 7200 and (~fast).sum() == 2 * 720  # 0.5 s and 5 s cadences
        slow = fd.books.select(~fast)
        assert (slow.meta["n_bid"] == 20).all() and (slow.meta["n_ask"] == 20).all()
        assert (fd.bbo.bid_px < fd.bbo.ask_px).all()
        assert twins[name]["truth"]["feed"]["lines"] == fd.stats["lines"]


def test_funding_changes_only_on_the_hour_and_is_the_truth_value(twins: dict) -> None:
    fd = twins["planted"]["day"]
    hours = twins["planted"]["truth"]["per_coin"][COIN]["funding"]["hours"]
    hour_of = (fd.ctx.recv_ts_ms.to_numpy() - hours[0]["start_ms"]) // HOUR_MS
    funding = fd.ctx.funding.to_numpy()
    for k, h in enumerate(hours):
        values = np.unique(funding[hour_of == k])
        assert len(values) == 1  # constant within the hour
        assert round(values[0] / FUNDING_UNIT) == h["funding"]
    assert hours[0]["funding"] != hours[1]["funding"]  # and set anew on the hour


def test_funding_mean_reverts_slowly_over_years_of_hours() -> None:
    """A funding-only simulation of ~20 years of hours. Tolerances: the AR(1) coefficient
    within 0.005 of exp(-1/48) (about 10 standard errors), the mean within 2e-6 of the
    baseline (about 6 standard errors), the day-ahead regression slope within 0.05 of
    phi**24, the stationary sd within 10%."""
    x = hourly_funding(SEED, COIN, 24 * 365 * 20) * FUNDING_UNIT
    y = x - FUNDING_MEAN
    phi_hat = float(y[1:] @ y[:-1] / (y[:-1] @ y[:-1]))
    assert abs(phi_hat - funding_phi()) < 0.005
    assert abs(x.mean() - FUNDING_MEAN) < 2e-6
    slope_day = float(y[24:] @ y[:-24] / (y[:-24] @ y[:-24]))  # pulled back towards the mean
    assert abs(slope_day - funding_phi() ** 24) < 0.05
    assert abs(x.std() / FUNDING_SD - 1) < 0.1
    lag_2w = float(np.corrcoef(y[24 * 14:], y[:-24 * 14])[0, 1])
    assert lag_2w < 0.05  # drifts over days, forgets within weeks


def test_null_twin_differs_only_inside_planted_intervals(twins: dict) -> None:
    p, n = twins["planted"], twins["null"]
    ep, en = _effects(p["truth"]), _effects(n["truth"])
    assert ep and all(e["planted"] for e in ep) and not any(e["planted"] for e in en)
    key = ("start_ms", "end_ms", "direction")
    assert [[e[k] for k in key] for e in ep] == [[e[k] for k in key] for e in en]
    assert p["truth"]["per_coin"][COIN]["contexts"] == n["truth"]["per_coin"][COIN]["contexts"]
    fp, fn = p["day"], n["day"]
    # the same lines at the same receive times: every draw but the planted move is shared
    assert fp.stats["lines"] == fn.stats["lines"]
    for table in ("bbo", "trades", "ctx", "candles"):
        a, b = getattr(fp, table), getattr(fn, table)
        assert (a.recv_ts_ms.to_numpy() == b.recv_ts_ms.to_numpy()).all(), table
    assert (fp.trades.sz.to_numpy() == fn.trades.sz.to_numpy()).all()
    assert (fp.trades.side.to_numpy() == fn.trades.side.to_numpy()).all()
    assert np.array_equal(fp.books.bid_sz, fn.books.bid_sz, equal_nan=True)
    assert (fp.ctx.funding.to_numpy() == fn.ctx.funding.to_numpy()).all()
    t, mp = _mid(fp)
    _, mn = _mid(fn)
    gap = mp - mn
    first = ep[0]["start_ms"]
    assert (gap[t < first] == 0).all()  # identical until the first planted move
    moved = np.flatnonzero(np.diff(gap) != 0) + 1  # the gap changes between rows i-1 and i
    assert len(moved) > 0
    for i in moved.tolist():
        assert any(t[i - 1] < e["end_ms"] and t[i] >= e["start_ms"] for e in ep), t[i]


def test_inside_planted_intervals_the_mid_moves_by_delta_in_the_lean(twins: dict) -> None:
    """Measured on the recorded bbo mids. Paired with the null twin, every completed move is
    delta within 0.3 bps (a few ticks of rounding and a block of bbo staleness); unpaired,
    the planted market's mean signed move is within 4 standard errors of delta."""
    tp, mp = _mid(twins["planted"]["day"])
    tn, mn = _mid(twins["null"]["day"])
    end = twins["planted"]["truth"]["window"]["end_ms"]
    done = [e for e in _effects(twins["planted"]["truth"]) if e["end_ms"] <= end]
    assert len(done) >= 10

    def move(t: np.ndarray, m: np.ndarray, e: dict) -> float:
        i0 = np.searchsorted(t, e["start_ms"], side="right") - 1
        i1 = np.searchsorted(t, e["end_ms"], side="right") - 1
        sign = 1 if e["direction"] == "up" else -1
        return sign * (m[i1] - m[i0]) / m[i0] * 1e4

    planted = np.array([move(tp, mp, e) for e in done])
    null = np.array([move(tn, mn, e) for e in done])
    assert np.abs(planted - null - DELTA_BPS).max() < 0.3
    se = planted.std(ddof=1) / math.sqrt(len(planted))
    assert planted.mean() > 0 and abs(planted.mean() - DELTA_BPS) < 4 * se


def _lean(bid_sz: np.ndarray, ask_sz: np.ndarray, threshold: float) -> np.ndarray:
    b, a = bid_sz.sum(axis=1), ask_sz.sum(axis=1)
    return ((b - a) > threshold * (b + a)).astype(int) - ((a - b) > threshold * (b + a))


def _held(runs: list[dict], times: np.ndarray) -> np.ndarray:
    out = np.zeros(len(times), dtype=int)
    for r in runs:
        inside = (times >= r["start_ms"]) & (times < r["end_ms"])
        out[inside] = 1 if r["direction"] == "up" else -1
    return out


def test_truth_intervals_are_exactly_where_the_contexts_held(twins: dict) -> None:
    """Recomputed from the recording: funding from the asset contexts, its threshold from
    the truth's hourly history, the lean from each fast snapshot's top-5 sizes (integer
    lots, as the generator sums them)."""
    truth = twins["planted"]["truth"]
    coin = truth["per_coin"][COIN]
    inter = truth["spec"]["interaction"]
    fd = twins["planted"]["day"]
    fast = fd.books.select(fd.books.meta["fast"].to_numpy())
    times = fast.meta["time_ms"].to_numpy()
    lots = 10 ** coin["params"]["sz_decimals"]
    k = inter["lean_levels"]
    lean = _lean(np.rint(fast.bid_sz[:, :k] * lots), np.rint(fast.ask_sz[:, :k] * lots),
                 inter["lean_threshold"])
    fund = coin["funding"]
    history = np.asarray(fund["history"])
    h0 = (fund["hours"][0]["start_ms"] - fund["history_start_ms"]) // HOUR_MS
    recorded = fd.ctx.funding.to_numpy()
    ctx_hour = (fd.ctx.recv_ts_ms.to_numpy() - fund["hours"][0]["start_ms"]) // HOUR_MS
    high, above = [], []
    for j in range(len(fund["hours"])):
        f = round(float(np.unique(recorded[ctx_hour == j])[0]) / FUNDING_UNIT)
        k_abs = h0 + j
        assert history[k_abs] == f
        lb, mh = inter["lookback_hours"], truth["spec"]["decoy"]["mean_hours"]
        high.append(f > np.percentile(history[k_abs - lb:k_abs], inter["funding_percentile"]))
        above.append(f > history[k_abs - mh:k_abs].mean())
    snap_hour = (times - fund["hours"][0]["start_ms"]) // HOUR_MS
    context = np.where(np.asarray(high)[snap_hour], lean, 0)
    decoy = np.where(np.asarray(above)[snap_hour], lean, 0)
    assert (context != 0).any()
    assert np.array_equal(_held(coin["contexts"][INTERACTION], times), context)
    assert np.array_equal(_held(coin["contexts"][DECOY], times), decoy)
    # the triggers: a snapshot where the context holds and no planted move is running
    starts, busy = [], -1
    for t, d in zip(times.tolist(), context.tolist(), strict=True):
        if d != 0 and t >= busy:
            starts.append((t, "up" if d > 0 else "down"))
            busy = t + inter["horizon_min"] * 60_000
    assert starts == [(e["start_ms"], e["direction"]) for e in coin["effects"]]
