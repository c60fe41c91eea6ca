"""The hftbacktest side of bench/trader.py. Runs in the benchmark's own venv (hftbacktest
2.4.4 needs numpy < 2.3), imports nothing from Lotus, and talks through files:

    python bench/trader_hft.py WORKDIR

WORKDIR/spec.json lists per coin the gzip feed (`<recv_ns> <frame>` lines, as
hftbacktest.data.utils.hyperliquid.convert reads them), tick and lot sizes, fees, the order
latency and the orders file (.npy, float64 rows: submit_ns, side, qty, kind 0 market /
1 limit, limit price, cancel_ns). It writes WORKDIR/hft_result.json: per order the filled
quantity, VWAP, fee, first and last fill times; and the timings.
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

FILLED = 3


@njit
def order_fill(hbt, oid):  # noqa: ANN001, ANN201
    """(filled quantity, status) of local order `oid` from the order itself (qty minus
    leaves_qty, kept up to date by every response, partial ones included); (-1, -1) when
    the local processor no longer holds it."""
    values = hbt.orders(0).values()
    while values.has_next():
        o = values.get()
        if o.order_id == oid:
            return o.qty - o.leaves_qty, o.status
    return -1.0, -1


@njit
def run_orders(hbt, orders, step_ns):  # noqa: ANN001, ANN201
    n = orders.shape[0]
    out = np.full((n, 5), np.nan)  # filled, value, fee, first_fill_ns, last_fill_ns
    if hbt.current_timestamp > 4_000_000_000_000_000_000:  # not started: go to the data
        hbt.elapse(1)
    for k in range(n):
        submit, side, qty, kind, px, cancel = orders[k]
        now = hbt.current_timestamp
        if submit > now and hbt.elapse(int(submit - now)) != 0:
            break
        sv = hbt.state_values(0)
        # hftbacktest 2.4.4's local state applies an order response only when its status is
        # FILLED, with that response's exec_qty (LocalProcessor::process_recv_order_): a
        # PARTIALLY_FILLED response moves nothing, and a market order that walks several
        # levels moves position/balance by its last level only (the exchange fills level by
        # level without responding, then answers once). So the filled quantity is read from
        # the order, and value and fee from the state only when the state took all of it.
        v0, q0, f0 = sv.balance, sv.position, sv.fee
        oid = k + 1
        depth = hbt.depth(0)
        got = 0.0
        status = -1
        if kind == 0:
            p = depth.best_ask * 2.0 if side > 0 else depth.best_bid * 0.5
            if side > 0:
                hbt.submit_buy_order(0, oid, p, qty, GTC, MARKET, True)
            else:
                hbt.submit_sell_order(0, oid, p, qty, GTC, MARKET, True)
            got, status = order_fill(hbt, oid)
            if got > 1e-12:
                out[k, 3] = submit + 0.0
                out[k, 4] = submit + 0.0
        else:
            if side > 0:
                hbt.submit_buy_order(0, oid, px, qty, GTC, LIMIT, False)
            else:
                hbt.submit_sell_order(0, oid, px, qty, GTC, LIMIT, False)
            while hbt.current_timestamp < cancel:
                if hbt.elapse(step_ns) != 0:
                    break
                got, status = order_fill(hbt, oid)
                if got > 1e-12 and (np.isnan(out[k, 0]) or got > out[k, 0]):
                    if np.isnan(out[k, 3]):
                        out[k, 3] = hbt.current_timestamp + 0.0
                    out[k, 4] = hbt.current_timestamp + 0.0
                    out[k, 0] = got
                if status == FILLED:
                    break
            # never cancel a filled order: the exchange no longer has it, rejects the cancel
            # and echoes the request, which still carries status FILLED and its exec_qty;
            # the local processor applies that echo as a second fill (it checks the status
            # before the rejection), which doubled position, balance, fee and volume on
            # every filled limit order of the earlier runs
            if status != FILLED:
                hbt.cancel(0, oid, True)
                got2, status2 = order_fill(hbt, oid)
                if got2 >= 0.0:
                    got, status = got2, status2
        sv = hbt.state_values(0)
        got = max(got, 0.0)
        out[k, 0] = got
        dq = abs(sv.position - q0)
        if got > 0 and abs(dq - got) <= 1e-9 * max(got, 1.0):
            out[k, 1] = abs(sv.balance - v0)
            out[k, 2] = sv.fee - f0
        elif kind != 0:  # a resting limit order fills at its own price (maker)
            out[k, 1] = got * px
        elif got == 0:
            out[k, 1] = 0.0
        # else: a market order over several levels; its VWAP is not visible locally (NaN)
        hbt.clear_inactive_orders(0)
    return out


@njit
def run_through(hbt, step_ns):  # noqa: ANN001, ANN201
    """Process the whole day's events with no orders (the engine's raw event rate)."""
    n = 0
    while hbt.elapse(step_ns) == 0:
        n += 1
    return n


def build(data: np.ndarray, c: dict, orders_on: bool) -> HashMapMarketDepthBacktest:
    asset = (BacktestAsset().data([data]).linear_asset(1.0)
             .constant_order_latency(int(c["latency_ns"]), int(c["latency_ns"]))
             .power_prob_queue_model(float(c["queue_power"]))
             .partial_fill_exchange()
             .trading_value_fee_model(float(c["maker_fee"]), float(c["taker_fee"]))
             .tick_size(float(c["tick"])).lot_size(float(c["lot"]))
             .last_trades_capacity(0))
    return HashMapMarketDepthBacktest([asset])


def main() -> None:
    work = Path(sys.argv[1])
    spec = json.loads((work / "spec.json").read_text())
    result: dict = {"coins": {}, "convert_s": 0.0, "run_orders_s": 0.0, "run_through_s": 0.0,
                    "rows": 0}
    # warm the JIT on a tiny slice so compile time is not counted
    for coin, c in spec["coins"].items():
        cached = Path(c["feed"]).with_suffix(".npz")
        if cached.exists() and cached.stat().st_mtime >= Path(c["feed"]).stat().st_mtime:
            data = np.load(cached)["data"]
        else:
            t0 = time.perf_counter()
            data = hyperliquid.convert(c["feed"], tick_size=c["tick"], lot_size=c["lot"],
                                       num_levels=20, buffer_size=40_000_000)
            result["convert_s"] += time.perf_counter() - t0
            np.savez(cached, data=data)
        result["rows"] += len(data)
        orders = np.load(c["orders"])
        if not result.get("warm"):
            hb = build(data[:20000], c, True)
            run_orders(hb, orders[:0], 50_000_000)
            run_through(hb, 3_600_000_000_000)
            hb.close()
            result["warm"] = True
        hb = build(data, c, False)
        t0 = time.perf_counter()
        run_through(hb, 3_600_000_000_000)
        result["run_through_s"] += time.perf_counter() - t0
        hb.close()
        hb = build(data, c, True)
        t0 = time.perf_counter()
        out = run_orders(hb, orders, int(spec["step_ns"]))
        result["run_orders_s"] += time.perf_counter() - t0
        hb.close()
        result["coins"][coin] = {"rows": len(data), "orders": out.tolist()}
    (work / "hft_result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
