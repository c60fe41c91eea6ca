# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""The paper Trader beside hftbacktest 2.4.4 on the same book data, in one run.

Usage: python -m bench trader [--hours 24] [--coins BTC,ETH,SOL] [--seed 1] [--every-min 20]

1. A generated day (bench.microtape's recording, reused when present) is parsed once.
2. Lotus replays a day of decision tickets with realistic settings (market/limit/TWAP,
   barriers on): the nightly replay time and events/s.
3. The comparison run: market and limit orders only, barriers off, slippage cap wide,
   so that every order is a plain order both engines can take. Lotus's orders (side,
   quantity, send time, limit price, cancel time) are handed to hftbacktest with the
   same order latency, fees, tick and lot sizes and the power-3 probabilistic queue
   model, on the same frames: the recording is rewritten to `<recv_ns> <frame>` per coin
   with the venue time set to the receive time, so both engines see each snapshot at
   the same instant. hftbacktest runs in its own venv (.lotus/bench-venv; it needs
   numpy < 2.3), made here on first use.
4. Per order (bench.trader_levels): every market order that walked several levels is
   compared level by level with the levels hftbacktest's exchange filled (checked against
   its response), each difference put down to a named rule; limit orders by filled
   fraction and last-fill time; throughput of both engines with and without orders.
   bench/trader_busy.py runs the same comparison on busy books.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.microtape import BENCH_DAY, ensure_recording
from bench.report import headline, wrap, write_section

VENV = Path(".lotus/bench-venv")
WORK = Path(".lotus/bench/trader")
LATENCY_MS = 120


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "hftbacktest==2.4.4",
                        "numpy<2.3"], check=True)
    return py


def bench_ticket(decision_id: str, at_ms: int, coin: str, weight: float, horizon: str,
                 valid_ms: int, audit_refs: dict[str, str]) -> Any:
    """A dm-decision-1.0 ticket the benches hand the Trader: hold `weight` of equity in
    `coin` from `at_ms` (a `Decision` of the replay)."""
    from lotus_core.trader.replay import Decision
    from lotus_core.trader.reports import iso

    return Decision(at_ms, {
        "schema_ver": "dm-decision-1.0", "decision_id": decision_id, "asof_ts": iso(at_ms),
        "portfolio_id": "default", "target_type": "weights", "targets": {coin: weight},
        "horizon": horizon, "confidence": 0.5, "valid_until": iso(at_ms + valid_ms),
        "rationale": {"top_alphas": ["bench"]}, "audit_refs": audit_refs})


def ticket_times(day: Any, coins: Sequence[str], every_s: int,
                 end_margin_ms: int) -> Iterator[tuple[int, int, str]]:
    """(k, time, coin) of the benches' tickets: one per coin every `every_s`, the coins
    staggered across the step, from a minute after the day's first book to `end_margin_ms`
    before its last; k counts them in order."""
    t0 = int(day.books.meta["recv_ts_ms"].min()) + 60_000
    t1 = int(day.books.meta["recv_ts_ms"].max()) - end_margin_ms
    step = every_s * 1000
    k = 0
    for ts in range(t0, t1, step):
        for j, coin in enumerate(coins):
            yield k, ts + j * step // len(coins), coin
            k += 1


def decisions(day: Any, coins: list[str], every_min: int, comparison: bool) -> list:
    t0 = int(day.books.meta["recv_ts_ms"].min()) + 60_000
    t1 = int(day.books.meta["recv_ts_ms"].max()) - 180_000
    out, k = [], 0
    weights = (0.1, 0.0, -0.1, 0.0)
    strategies = ("market", "limit") if comparison else ("market", "limit", "twap")
    for ts in range(t0, t1, every_min * 60_000):
        for j, coin in enumerate(coins):
            at = ts + j * 7_000
            n = k // len(coins)
            out.append(bench_ticket(
                f"b{k:05d}", at, coin, weights[n % 4], "1d" if comparison else "30m", 300_000,
                {"tr.execution_strategy": strategies[n % len(strategies)]}))
            k += 1
    return out


def run_lotus(day: Any, decs: list, settings: Any, repeat: int = 1) -> dict:
    from lotus_core.trader.engine import TraderEngine
    from lotus_core.trader.replay import replay_day

    best, res, eng = float("inf"), None, None
    for _ in range(repeat):
        eng = TraderEngine(settings)
        t0 = time.perf_counter()
        res = replay_day(eng, day, decs)
        best = min(best, time.perf_counter() - t0)
    assert res is not None and eng is not None
    return {"seconds": best, "events": res.events, "outputs": res.outputs, "engine": eng}


def orders_of(outputs: list) -> dict[str, dict]:
    """Lotus's orders with their fills, by order id, in send order."""
    orders: dict[str, dict] = {}
    for o in outputs:
        d = o.data
        if o.kind == "order":
            cur = orders.setdefault(d["order_id"], {"fills": []})
            cur.update({k: d.get(k) for k in ("coin", "side", "qty", "kind", "created_ms",
                                              "arrive_ms", "expire_ms", "limit_px", "status",
                                              "reason", "purpose")})
        elif o.kind == "fill":
            orders[d["order_id"]]["fills"].append(d)
    return orders


def write_hft_inputs(path: Path, coins: list[str], orders: dict[str, dict], cfg: Any,
                     step_ms: int, work: Path = WORK) -> dict:
    """Per coin: the gzip feed with venue times set to receive times, and the orders."""
    work.mkdir(parents=True, exist_ok=True)
    stamp = work / "feed.source"
    fresh = stamp.exists() and stamp.read_text() == f"{path.resolve()}:{path.stat().st_mtime}"
    files = {} if fresh else {c: gzip.open(work / f"{c}.gz", "wb", compresslevel=1)  # noqa: SIM115
             for c in coins}
    with gzip.open(path, "rb") as src:
        for line in src if files else ():
            rec = orjson.loads(line)
            msg = rec["msg"]
            ch = msg.get("channel") if isinstance(msg, dict) else None
            recv = rec["recv_ts_ms"]
            if ch == "l2Book":
                coin = msg["data"]["coin"]
                msg["data"]["time"] = recv
            elif ch == "trades" and msg["data"]:
                coin = msg["data"][0]["coin"]
                for t in msg["data"]:
                    t["time"] = recv
            else:
                continue
            if coin in files:
                files[coin].write(b"%d " % (recv * 1_000_000) + orjson.dumps(msg) + b"\n")
    for f in files.values():
        f.close()
    stamp.write_text(f"{path.resolve()}:{path.stat().st_mtime}")
    venue = cfg.venue("hyperliquid")
    spec: dict = {"step_ns": step_ms * 1_000_000, "coins": {}}
    for c in coins:
        rows = [[o["created_ms"] * 1e6, o["side"], o["qty"], 0 if o["kind"] == "market" else 1,
                 o["limit_px"] or 0.0, (o["expire_ms"] or 0) * 1e6]
                for o in orders.values() if o["coin"] == c]
        np.save(work / f"{c}_orders.npy", np.array(rows, dtype=np.float64).reshape(-1, 6))
        spec["coins"][c] = {"feed": str((work / f"{c}.gz").resolve()),
                            "orders": str((work / f"{c}_orders.npy").resolve()),
                            "tick": venue.tick(c), "lot": venue.lot(c),
                            "maker_fee": venue.maker_fee, "taker_fee": venue.taker_fee,
                            "latency_ns": LATENCY_MS * 1_000_000,
                            "queue_power": cfg.queue.power}
    (work / "spec.json").write_text(json.dumps(spec))
    return spec


FRAC_MARGIN, TIME_MARGIN_S = 0.10, 1.0  # limit orders: "differs" beyond these


def compare(orders: dict[str, dict], hft: dict, coins: list[str], day: Any, cfg: Any) -> dict:
    """Market orders level by level, limit orders by filled fraction and last-fill time
    (bench.trader_levels), every order of every coin."""
    from bench.trader_levels import compare_limit, compare_market, new_limit, new_market

    venue = cfg.venue("hyperliquid")
    mk, lim = new_market(), new_limit()
    for c in coins:
        mine = [o for o in orders.values() if o["coin"] == c]
        res = hft["coins"][c]
        compare_market(mine, res["orders"], res["levels"], day, c, venue.tick(c), venue.lot(c),
                       LATENCY_MS, mk)
        compare_limit(mine, res["orders"], day, venue.tick(c), lim, FRAC_MARGIN, TIME_MARGIN_S)
    return {"market": mk, "limit": lim}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--coins", default="BTC,ETH,SOL")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--every-min", type=int, default=20)
    ap.add_argument("--step-ms", type=int, default=50)
    load_start = os.getloadavg()[0]
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    coins = args.coins.split(",")
    from lotus_core.feed.parse import parse_recording
    from lotus_core.trader.config import trader_settings

    path = ensure_recording(args.hours, coins, args.seed)
    t0 = time.perf_counter()
    day = parse_recording(path, BENCH_DAY.isoformat())
    parse_s = time.perf_counter() - t0
    n_book, n_trade = len(day.books), len(day.trades)
    realistic = trader_settings({})
    night = run_lotus(day, decisions(day, coins, args.every_min, False), realistic)
    idle = run_lotus(day, [], realistic)
    comp_cfg = trader_settings({"max_slippage_bps": 1000.0, "stop_loss_bps": 5000.0,
                                "take_profit_bps": 10000.0, "limit_cancel_after_ms": 60_000,
                                "venue_preferences": ["hyperliquid"]})
    comp = run_lotus(day, decisions(day, coins, args.every_min, True), comp_cfg)
    orders = orders_of(comp["outputs"])
    py = ensure_venv()
    t0 = time.perf_counter()
    write_hft_inputs(path, coins, orders, comp_cfg, args.step_ms)
    rewrite_s = time.perf_counter() - t0
    subprocess.run([str(py), str(Path(__file__).with_name("trader_hft.py")), str(WORK)],
                   check=True)
    hft = json.loads((WORK / "hft_result.json").read_text())
    cmp_ = compare(orders, hft, coins, day, comp_cfg)
    recorded = n_book + n_trade
    fig = {
        "parse_s": parse_s, "books": n_book, "trades": n_trade, "ctx": len(day.ctx),
        "night_s": night["seconds"], "night_events": night["events"],
        "night_fills": sum(o.kind == "fill" for o in night["outputs"]),
        "night_reports": sum(o.kind == "exec_report" for o in night["outputs"]),
        "idle_s": idle["seconds"], "comp_s": comp["seconds"],
        "lotus_eps_orders": recorded / comp["seconds"], "lotus_eps_idle": recorded / idle["seconds"],
        "hft_rows": hft["rows"], "hft_convert_s": hft["convert_s"],
        "hft_orders_s": hft["run_orders_s"], "hft_through_s": hft["run_through_s"],
        "hft_eps_orders": recorded / hft["run_orders_s"],
        "hft_eps_idle": recorded / hft["run_through_s"],
        "rewrite_s": rewrite_s, "compare": cmp_,
        "portfolio": night["engine"].portfolio_state(),
    }
    lim = cmp_["limit"]
    fl, fh = np.array(lim["frac_lotus"]), np.array(lim["frac_hft"])
    dts = np.array(lim["dt_last_fill_s"])
    summary = {k: v for k, v in fig.items() if k not in ("compare", "portfolio")}
    summary.update({"market": cmp_["market"], "limit_by_cause": lim["by_cause"],
                    "limit_mean_frac": [float(fl.mean()) if len(fl) else None,
                                        float(fh.mean()) if len(fh) else None],
                    "dt_last_fill_s_p50": float(np.median(dts)) if len(dts) else None})
    print(json.dumps(summary, indent=1, default=str))
    if args.no_write:
        return
    fig["portfolio"] = {k: v for k, v in fig["portfolio"].items() if not isinstance(v, dict)}
    fig["load"] = [load_start, os.getloadavg()[0]]
    (WORK / "figures.json").write_text(json.dumps(
        {"fig": fig, "fl": fl.tolist(), "fh": fh.tolist(), "dts": dts.tolist(),
         "args": vars(args)}, default=str))
    write_section("trader", render(fig, args, coins, fl, fh, dts))
    headline("trader", f"the day in {fig['night_s']:.1f} s; "
             f"{fig['lotus_eps_orders'] / fig['hft_eps_orders']:.2f}x hftbacktest's events/s "
             f"with orders ({fig['lotus_eps_orders']:,.0f} vs {fig['hft_eps_orders']:,.0f}/s)",
             f"one run at load {min(fig['load']):.1f}-{max(fig['load']):.1f} "
             "(no spread measured)")


def _load_note(load: list[float]) -> str:
    """How busy the 2-core machine was: both engines ran in the same run either way."""
    busy = max(load) > 1.5
    return (f"Load average {load[0]:.1f} -> {load[1]:.1f}: "
            + ("times inflated, the ratio holds (both engines in one run)." if busy else
               "a quiet machine (both engines in one run)."))


def render(f: dict, args: Any, coins: list[str], fl: np.ndarray, fh: np.ndarray,
           dts: np.ndarray) -> str:
    """The section: method, the times of both engines, the fills compared order by order
    (bench.trader_levels), a reading; every figure from this run."""
    mk, lim = f["compare"]["market"], f["compare"]["limit"]
    ratio_orders = f["lotus_eps_orders"] / f["hft_eps_orders"]
    ratio_idle = f["lotus_eps_idle"] / f["hft_eps_idle"]
    from bench.trader_levels import limit_table, market_table

    med = f"{np.median(dts):+.2f} s" if len(dts) else "—"
    nan = float("nan")
    method = wrap(
        f"`python -m bench trader`: a generated {args.hours}-hour, {len(coins)}-coin day "
        f"({', '.join(coins)}; seed {args.seed}; {f['books']:,} L2 snapshots, {f['trades']:,} "
        f"trades, {f['ctx']:,} asset contexts; parse {f['parse_s']:.1f} s, not counted), a "
        f"decision every {args.every_min} min per coin. Lotus's orders go to hftbacktest 2.4.4 "
        "(`.lotus/bench-venv`, numba warmed) at their send times: latency "
        f"{LATENCY_MS} ms both ways, partial-fill exchange, `power_prob_queue_model(3)` (Lotus: "
        f"`mode: expected`, the same formula). {_load_note(f.get('load', [nan] * 2))}")
    reading = wrap(
        f"Reading. The day in < 30 s: **{f['night_s']:.1f} s**; events/s within 2× of "
        f"hftbacktest's: **{ratio_orders:.2f}×** with orders, **{ratio_idle:.2f}×** without "
        "(≥ 0.5 meets it; hftbacktest runs a diff stream in compiled code, Lotus whole snapshots "
        f"in Python). Mean filled fraction: Lotus {fl.mean() if len(fl) else nan:.3f}, "
        f"hftbacktest {fh.mean() if len(fh) else nan:.3f}; last fill, Lotus minus hftbacktest "
        f"(median): {med}. hftbacktest moves a limit order's queue on each per-level diff, Lotus "
        "on the whole snapshot (docs/trader.md).")
    return f"""## Paper Trader vs hftbacktest

{method}

| measure | Lotus paper Trader | hftbacktest 2.4.4 |
| --- | ---: | ---: |
| nightly replay of the day's {f['night_events']['decision']} decisions (market/limit/TWAP, barriers on) | {f['night_s']:.1f} s ({f['night_fills']} fills, {f['night_reports']} reports) | — |
| the same orders (market {mk['n']}, limit {lim['n']}), whole day: time (recorded events/s) | {f['comp_s']:.1f} s ({f['lotus_eps_orders']:,.0f}/s) | {f['hft_orders_s']:.1f} s ({f['hft_eps_orders']:,.0f}/s) |
| whole day, no orders: time (recorded events/s) | {f['idle_s']:.1f} s ({f['lotus_eps_idle']:,.0f}/s) | {f['hft_through_s']:.1f} s ({f['hft_eps_idle']:,.0f}/s) |

{market_table(mk)}

{limit_table(lim, FRAC_MARGIN, TIME_MARGIN_S)}

{reading}"""


if __name__ == "__main__":
    main()
