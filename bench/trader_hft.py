"""The hftbacktest side of bench/trader.py and bench/trader_busy.py. Runs in the
benchmark's own venv (hftbacktest 2.4.4 needs numpy < 2.3), imports nothing from Lotus,
and talks through files:

    python bench/trader_hft.py WORKDIR

WORKDIR/spec.json lists per coin the gzip feed (`<recv_ns> <frame>` lines, as
hftbacktest.data.utils.hyperliquid.convert reads them), tick and lot sizes, fees, the order
latency and the orders file (.npy, float64 rows: submit_ns, side, qty, kind 0 market /
1 limit, limit price, cancel_ns). It writes WORKDIR/hft_result.json: per order the filled
quantity and hftbacktest's own response fields, per market order the levels it filled,
and the timings.

What hftbacktest 2.4.4 exposes about fills (read from its source, tag 2.4.4 = commit
4d700e8): the Python API has no fill records. `last_trades` are the feed's trades, the
recorder and `state_values` are the *local* state, which applies a response only when its
status is FILLED, with that response's `exec_qty` (LocalProcessor::process_recv_order_);
the exchange's own state (which takes every level) is not exposed. A market order is filled
level by level inside `PartialFillExchange::ack_new` with `fill::<false>` (no response per
level) and answered once: the order then carries `exec_price_tick`/`exec_qty` of its *last*
level and `leaves_qty`. So the per-level fills are taken from hftbacktest's own depth at the
instant its exchange matched the order (a second instance on the same rows, advanced to the
order's exchange time: the exchange processes rows at or before that time first, evs.rs
breaks ties by index: local data, local order, exchange data, exchange order) walked by the
exchange's own loop (best tick .. best + 99 ticks, `min(qty at tick, leaves)`, FILLED once
`round(leaves / lot) == 0`), and every walk is checked against the order's response: the
same total (`qty - leaves_qty`) and the same last level (`exec_price_tick`, `exec_qty`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from hftbacktest import (
    GTC,
    LIMIT,
    MARKET,
    BacktestAsset,
    HashMapMarketDepthBacktest,
)
from hftbacktest.data.utils import hyperliquid
from numba import njit

FILLED, PARTIALLY_FILLED = 3, 5
MAX_TICKS = 100  # PartialFillExchange::ack_new, market orders: "todo: set the proper upper bound"
# per order: filled, exec_price, exec_qty, status, exch_ts, filled and exch_ts read just
# before the cancel was sent, price
NCOL = 8


@njit
def run_actions(hbt, acts, orders):  # noqa: ANN001, ANN201
    """Every order of the day at its own time, overlapping as in Lotus: `acts` rows are
    (time_ns, 0 submit | 1 cancel, order index), in time order. A cancel is skipped when
    the local side already knows the order is filled (cancelling a filled order makes
    2.4.4's local state take the fill twice). After the last event every order is read from
    the local order table (never cleared)."""
    n = orders.shape[0]
    out = np.full((n, NCOL), np.nan)
    if hbt.current_timestamp > 4_000_000_000_000_000_000:  # not started: go to the data
        hbt.elapse(1)
    ended = False
    for a in range(acts.shape[0]):
        t, what, k = acts[a, 0], int(acts[a, 1]), int(acts[a, 2])
        now = hbt.current_timestamp
        if t > now and hbt.elapse(int(t - now)) != 0:
            ended = True
            break
        oid = k + 1
        side, qty, kind, px = orders[k, 1], orders[k, 2], orders[k, 3], orders[k, 4]
        if what == 0:
            if kind == 0:
                depth = hbt.depth(0)
                if side > 0:
                    hbt.submit_buy_order(0, oid, depth.best_ask * 2.0, qty, GTC, MARKET, False)
                else:
                    hbt.submit_sell_order(0, oid, depth.best_bid * 0.5, qty, GTC, MARKET, False)
            elif side > 0:
                hbt.submit_buy_order(0, oid, px, qty, GTC, LIMIT, False)
            else:
                hbt.submit_sell_order(0, oid, px, qty, GTC, LIMIT, False)
        else:
            o = hbt.orders(0).get(oid)
            if o is not None and o.status != FILLED:
                out[k, 5] = o.qty - o.leaves_qty
                if o.status == PARTIALLY_FILLED:
                    out[k, 6] = o.exch_timestamp
                hbt.cancel(0, oid, False)
    if not ended:
        while hbt.elapse(3_600_000_000_000) == 0:
            pass
    orders_now = hbt.orders(0)
    for k in range(n):
        o = orders_now.get(k + 1)
        if o is None:
            continue
        out[k, 0] = o.qty - o.leaves_qty
        out[k, 1] = o.exec_price
        out[k, 2] = o.exec_qty
        out[k, 3] = o.status
        out[k, 4] = o.exch_timestamp
        out[k, 7] = o.price
    return out


@njit
def peek_walks(hbt, at, side, qty, lot):  # noqa: ANN001, ANN201
    """The levels hftbacktest's exchange fills for market orders matched at `at` (ns, in
    time order): rows (order index, price tick, qty, tick size) from its own depth."""
    n = at.shape[0]
    rows = np.full((n * MAX_TICKS, 4), np.nan)
    r = 0
    if hbt.current_timestamp > 4_000_000_000_000_000_000:
        hbt.elapse(1)
    for k in range(n):
        now = hbt.current_timestamp
        if at[k] > now and hbt.elapse(int(at[k] - now)) != 0:
            break
        depth = hbt.depth(0)
        leaves = qty[k]
        t0 = depth.best_ask_tick if side[k] > 0 else depth.best_bid_tick
        for j in range(MAX_TICKS):
            t = t0 + j if side[k] > 0 else t0 - j
            q = depth.ask_qty_at_tick(t) if side[k] > 0 else depth.bid_qty_at_tick(t)
            if q > 0.0:
                ex = min(q, leaves)
                leaves -= ex
                rows[r, 0], rows[r, 1], rows[r, 2], rows[r, 3] = k, t, ex, depth.tick_size
                r += 1
                if np.floor(leaves / lot + 0.5) <= 0:  # Rust's f64::round, leaves >= 0
                    break
    return rows[:r]


@njit
def run_through(hbt, step_ns):  # noqa: ANN001, ANN201
    """Process the whole day's events with no orders (the engine's raw event rate)."""
    n = 0
    while hbt.elapse(step_ns) == 0:
        n += 1
    return n


def build(data: np.ndarray, c: dict) -> HashMapMarketDepthBacktest:
    asset = (BacktestAsset().data([data]).linear_asset(1.0)
             .constant_order_latency(int(c["latency_ns"]), int(c["latency_ns"]))
             .power_prob_queue_model(float(c["queue_power"]))
             .partial_fill_exchange()
             .trading_value_fee_model(float(c["maker_fee"]), float(c["taker_fee"]))
             .tick_size(float(c["tick"])).lot_size(float(c["lot"]))
             .last_trades_capacity(0))
    return HashMapMarketDepthBacktest([asset])


def actions(orders: np.ndarray, latency_ns: int) -> np.ndarray:
    """(time, kind, order) rows: submits at the send time, cancels sent one latency before
    Lotus's expiry so they reach the exchange when Lotus's order expires."""
    sub = [(o[0], 0, k) for k, o in enumerate(orders)]
    can = [(max(o[5] - latency_ns, o[0] + latency_ns), 1, k) for k, o in enumerate(orders)
           if o[3] == 1 and o[5] > 0]
    acts = np.array(sorted(sub + can), dtype=np.float64).reshape(-1, 3)
    return acts


def load(c: dict, result: dict) -> np.ndarray:
    cached = Path(c["feed"]).with_suffix(".npz")
    if cached.exists() and cached.stat().st_mtime >= Path(c["feed"]).stat().st_mtime:
        return np.load(cached)["data"]
    t0 = time.perf_counter()
    data = hyperliquid.convert(c["feed"], tick_size=c["tick"], lot_size=c["lot"],
                               num_levels=20, buffer_size=80_000_000)
    result["convert_s"] += time.perf_counter() - t0
    np.savez(cached, data=data)
    return data


def main() -> None:
    work = Path(sys.argv[1])
    spec = json.loads((work / "spec.json").read_text())
    result: dict = {"coins": {}, "convert_s": 0.0, "run_orders_s": 0.0, "run_through_s": 0.0,
                    "run_orders_cpu_s": 0.0, "run_through_cpu_s": 0.0,
                    "rows": 0, "depth_rows": 0, "trade_rows": 0}
    for coin, c in spec["coins"].items():
        data = load(c, result)
        result["rows"] += len(data)
        is_trade = (data["ev"] & 0xFF) == 2  # TRADE_EVENT (the low byte is the kind)
        result["trade_rows"] += int(is_trade.sum())
        result["depth_rows"] += int((~is_trade).sum())
        orders = np.load(c["orders"])
        acts = actions(orders, int(c["latency_ns"]))
        if not result.get("warm"):  # compile outside the timed runs
            hb = build(data[:20000], c)
            run_actions(hb, acts[:0], orders[:0])
            hb.close()
            hb = build(data[:20000], c)
            run_through(hb, 3_600_000_000_000)
            hb.close()
            hb = build(data[:20000], c)
            peek_walks(hb, np.zeros(0), np.zeros(0), np.zeros(0), 1.0)
            hb.close()
            result["warm"] = True
        best = [float("inf")] * 4  # the fastest of `repeat` runs: wall, CPU; idle, orders
        for _ in range(int(spec.get("repeat", 1))):
            hb = build(data, c)
            t0, c0 = time.perf_counter(), time.process_time()
            run_through(hb, 3_600_000_000_000)
            best[0] = min(best[0], time.perf_counter() - t0)
            best[1] = min(best[1], time.process_time() - c0)
            hb.close()
            hb = build(data, c)
            t0, c0 = time.perf_counter(), time.process_time()
            out = run_actions(hb, acts, orders)
            best[2] = min(best[2], time.perf_counter() - t0)
            best[3] = min(best[3], time.process_time() - c0)
            hb.close()
        result["run_through_s"] += best[0]
        result["run_through_cpu_s"] += best[1]
        result["run_orders_s"] += best[2]
        result["run_orders_cpu_s"] += best[3]
        mk = np.flatnonzero(orders[:, 3] == 0)
        mk = mk[np.argsort(orders[mk, 0], kind="stable")]
        at = orders[mk, 0] + float(c["latency_ns"])
        hb = build(data, c)
        rows = peek_walks(hb, at, orders[mk, 1], orders[mk, 2], float(c["lot"]))
        hb.close()
        rows[:, 0] = mk[rows[:, 0].astype(np.int64)]  # back to order indices
        result["coins"][coin] = {"rows": len(data), "orders": out.tolist(),
                                 "levels": rows.tolist()}
    (work / "hft_result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
