"""Every market order's fills, level by level, against the snapshot it walked.

A generated hour (lotus_core.synth: fast 5-level and slow 20-level frames interleaved) is
replayed with a decision every 30 s per coin, large enough to walk several levels, some
with a tight slippage cap. Each market order (entries, TWAP slices, barrier exits) must
have filled exactly what an independent walk of the last snapshot received at or before
its arrival gives: the snapshot's levels in order, best first, min(size left, quantity
left) each, none skipped, stopping at the cap (arrival mid ± slip_bps) — less what earlier
orders took from the same snapshot. bench/trader_busy.py compares the same fills with
hftbacktest's; this is the part that needs no hftbacktest.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.synth import default_spec, generate_day
from lotus_core.trader.config import trader_settings
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.replay import Decision, replay_day
from lotus_core.trader.reports import iso

DAY = date(2026, 1, 6)
COINS = ["BTC", "SOL"]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):  # noqa: ANN001, ANN201
    out = tmp_path_factory.mktemp("walk")
    feed, _ = generate_day(out, DAY, COINS, 5, default_spec(), hours=(0, 1))
    day = parse_recording(feed, DAY.isoformat())
    cfg = trader_settings({"venue_preferences": ["hyperliquid"], "max_slippage_bps": 50.0,
                           "stop_loss_bps": 15.0, "take_profit_bps": 20.0,
                           "equity": 1_000_000.0})
    t0 = int(day.books.meta["recv_ts_ms"].min()) + 30_000
    weights = (0.45, -0.45, 0.3, -0.3)
    decs = []
    for n, ts in enumerate(range(t0, t0 + 3_300_000, 30_000)):
        for j, coin in enumerate(COINS):
            at = ts + j * 15_000
            refs = {"tr.execution_strategy": ("market", "twap")[n % 2]}
            if n % 5 == 4:
                refs["tr.max_slippage_bps"] = "0.5"  # the cap binds
            decs.append(Decision(at, {
                "schema_ver": "dm-decision-1.0", "decision_id": f"w{n:04d}{coin}",
                "asof_ts": iso(at), "portfolio_id": "default", "target_type": "weights",
                "targets": {coin: weights[n % 4]}, "horizon": "5m", "confidence": 0.5,
                "valid_until": iso(at + 20_000), "rationale": {"top_alphas": ["test"]},
                "audit_refs": refs}))
    decs.sort(key=lambda d: d.ts_ms)
    res = replay_day(TraderEngine(cfg), day, decs)
    return day, cfg, res.outputs


def test_market_fills_walk_the_arrival_snapshot_level_by_level(replayed) -> None:  # noqa: ANN001
    day, cfg, outputs = replayed
    orders: dict[str, dict] = {}
    fills: dict[str, list[tuple[float, float]]] = {}
    for o in outputs:
        if o.kind == "order":
            orders[o.data["order_id"]] = o.data  # the last state of each order
        elif o.kind == "fill":
            fills.setdefault(o.data["order_id"], []).append((o.data["px"], o.data["qty"]))
    meta = day.books.meta
    coin_of = meta["coin"].astype(str).to_numpy()
    ts_of = meta["recv_ts_ms"].to_numpy(np.int64)
    taken: dict[int, dict[float, float]] = {}  # snapshot row -> what earlier orders took
    multi = capped = 0
    market = sorted((o for o in orders.values() if o["kind"] == "market"),
                    key=lambda o: (o["arrive_ms"], o["created_ms"]))
    assert len(market) > 100
    for o in market:
        rows = np.flatnonzero((coin_of == o["coin"]) & (ts_of <= o["arrive_ms"]))
        row = int(rows[-1])
        bid_px, bid_sz, ask_px, ask_sz = day.books.levels(row)
        pxs, szs = (ask_px, ask_sz) if o["side"] > 0 else (bid_px, bid_sz)
        mid = 0.5 * (bid_px[0] + ask_px[0])
        assert o["arrival_mid"] == mid
        cap = mid * (1 + o["side"] * o["slip_bps"] / 1e4)
        took = taken.setdefault(row, {})
        want, left = [], o["qty"]
        for p, s in zip(pxs, szs, strict=True):
            if left <= 1e-12 or (p > cap if o["side"] > 0 else p < cap):
                break
            avail = s - took.get(p, 0.0)
            if avail <= 1e-12:
                continue
            q = min(avail, left)
            want.append((p, q))
            left -= q
            took[p] = took.get(p, 0.0) + q
        got = fills.get(o["order_id"], [])
        assert got == want, (o["order_id"], got, want)
        multi += len(got) > 1
        capped += o["reason"] == "slippage_cap"
    print(f"{len(market)} market orders, {multi} over several levels, {capped} capped")
    assert multi >= 10, multi  # the check covers orders over several levels
    assert capped >= 1, capped  # and orders the cap stopped
