# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""The paper Trader beside hftbacktest 2.4.4 on busy books: an order or a position live
nearly all day on every coin.

Usage: python -m bench trader_busy [--hours 24] [--seeds 1,2,3] [--coins BTC,ETH,SOL,HYPE]
                                   [--every-s 120] [--repeat 2] [--no-write]

Per seed: a generated day (lotus_core.synth with its defaults: the venue's fast 5-level
frames every 0.5 s and slow 20-level frames every 5 s interleaved, bbo, trades, candles,
activeAssetCtx), with the activeAssetCtx lines of hours `NO_CTX_HOURS` dropped from a copy
of the recording (the generator has no such option). A decision every `--every-s` per coin
(coins staggered), cycling target weights 0.10, 0.15, 0.05, -0.10, -0.15, -0.05 of equity
so every one sends an order (a flip always grows the position: the engine sets barriers only
on an entry fill that grows |position|, so a shrinking flip would keep the old side's), and strategies market, limit, TWAP (4 market slices over 2 min); stop loss
20 bps, take profit 30 bps and a 10-minute time limit make barrier exits. Lotus replays the
day (timed); every order it sent (entries, TWAP slices, exits) is handed to hftbacktest at
its own send time, on the same frames (bench/trader.py's rewrite), and run over the whole
day (timed). Both times exclude data preparation (Lotus's parse, hftbacktest's convert).
Events are counted the same way for both: the recording's L2 snapshots and trades (what
Lotus receives); hftbacktest's per-level diff rows are reported beside them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.microtape import BENCH_DAY, ensure_recording
from bench.report import headline, wrap, write_section
from bench.trader import (
    FRAC_MARGIN,
    LATENCY_MS,
    TIME_MARGIN_S,
    bench_ticket,
    compare,
    ensure_venv,
    orders_of,
    ticket_times,
    write_hft_inputs,
)
from bench.trader_levels import (
    limit_table,
    market_table,
    new_limit,
    new_market,
)

WORK = Path(".lotus/bench/trader_busy")
NO_CTX_HOURS = (3, 4, 15)  # UTC hours whose activeAssetCtx lines are dropped
# tick and lot of the generator's coins (lotus_core.synth: 5 significant figures, szDecimals)
TICK = {"BTC": 1.0, "ETH": 0.1, "SOL": 0.01, "HYPE": 0.001}
LOT = {"BTC": 0.00001, "ETH": 0.0001, "SOL": 0.01, "HYPE": 0.01}
WEIGHTS = (0.10, 0.15, 0.05, -0.10, -0.15, -0.05)
STRATEGIES = ("market", "limit", "twap")


def busy_recording(hours: int, coins: list[str], seed: int) -> Path:
    """The generated day with activeAssetCtx dropped in NO_CTX_HOURS (a filtered copy)."""
    src = ensure_recording(hours, coins, seed)
    out = WORK / f"h{hours}-{'-'.join(coins)}-s{seed}" / src.name
    if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    day0 = None
    with gzip.open(src, "rb") as f, gzip.open(out, "wb", compresslevel=3) as g:
        for line in f:
            if b'"activeAssetCtx"' in line and b'"subscriptionResponse"' not in line:
                rec = orjson.loads(line)
                day0 = day0 if day0 is not None else rec["recv_ts_ms"] // 86_400_000 * 86_400_000
                if (rec["recv_ts_ms"] - day0) // 3_600_000 in NO_CTX_HOURS:
                    continue
            g.write(line)
    return out


def busy_settings(coins: list[str]) -> Any:
    from lotus_core.trader.config import trader_settings

    return trader_settings({
        "venues": [{"name": "hyperliquid", "maker_fee": 0.00015, "taker_fee": 0.00045,
                    "tick_size": {c: TICK[c] for c in coins}, "lot_size": {c: LOT[c] for c in coins},
                    "latency": {"base_ms": LATENCY_MS, "jitter_ms": 0}, "symbols": coins}],
        "venue_preferences": ["hyperliquid"], "max_slippage_bps": 50.0,
        "stop_loss_bps": 30.0, "take_profit_bps": 45.0, "limit_cancel_after_ms": 60_000,
        "twap_slices": 4, "twap_horizon_ms": 120_000, "twap_slice_type": "market"})


def busy_decisions(day: Any, coins: list[str], every_s: int) -> list:
    out = []
    for k, at, coin in ticket_times(day, coins, every_s, 60_000):
        n = k // len(coins)
        out.append(bench_ticket(
            f"busy{k:06d}", at, coin, WEIGHTS[n % len(WEIGHTS)], "10m", 60_000,
            {"tr.execution_strategy": STRATEGIES[n % len(STRATEGIES)]}))
    out.sort(key=lambda d: d.ts_ms)
    return out


def live_share(orders: dict[str, dict], outputs: list, coins: list[str], start: dict[str, int],
               end: int) -> dict[str, float]:
    """Per coin, the share of [its first decision, day end] with an order working or in
    flight, or a non-zero position (from the fills)."""
    spans: dict[str, list[tuple[int, int]]] = {c: [] for c in coins}
    for o in orders.values():
        last = max((f["ts_ms"] for f in o["fills"]), default=None)
        stop = o["arrive_ms"]
        if o["kind"] == "limit" and o["status"] == "filled" and last is not None:
            stop = last
        elif o["kind"] == "limit" and o.get("reason") == "expired":
            stop = o["expire_ms"]
        spans[o["coin"]].append((o["created_ms"], max(stop, o["arrive_ms"])))
    pos = dict.fromkeys(coins, 0.0)
    since: dict[str, int | None] = dict.fromkeys(coins)
    for out in outputs:
        if out.kind != "fill":
            continue
        f = out.data
        c = f["coin"]
        before = pos[c]
        pos[c] = before + f["side"] * f["qty"]
        flat = abs(pos[c]) < 0.5 * LOT[c]
        if abs(before) < 0.5 * LOT[c] and not flat:
            since[c] = f["ts_ms"]
        elif flat and since[c] is not None:
            spans[c].append((since[c], f["ts_ms"]))  # type: ignore[arg-type]
            since[c] = None
    share = {}
    for c in coins:
        if since[c] is not None:
            spans[c].append((since[c], end))  # type: ignore[arg-type]
        live, cur_s, cur_e = 0, None, None
        for s, e in sorted((max(s, start[c]), min(e, end)) for s, e in spans[c]):
            if e <= s:
                continue
            if cur_e is None or s > cur_e:
                live += (cur_e - cur_s) if cur_e is not None else 0  # type: ignore[operator]
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        live += (cur_e - cur_s) if cur_e is not None else 0  # type: ignore[operator]
        share[c] = live / max(end - start[c], 1)
    return share


def run_seed(args: Any, seed: int, coins: list[str], py: Path) -> dict[str, Any]:
    from lotus_core.feed.parse import parse_recording
    from lotus_core.trader.engine import TraderEngine
    from lotus_core.trader.replay import replay_day

    path = busy_recording(args.hours, coins, seed)
    day = parse_recording(path, BENCH_DAY.isoformat())
    cfg = busy_settings(coins)
    decs = busy_decisions(day, coins, args.every_s)
    lotus_s = lotus_cpu = float("inf")
    for _ in range(args.repeat):  # the fastest of `repeat` runs (the same outputs each time)
        eng = TraderEngine(cfg)
        t0, c0 = time.perf_counter(), time.process_time()
        res = replay_day(eng, day, decs)
        lotus_s = min(lotus_s, time.perf_counter() - t0)
        lotus_cpu = min(lotus_cpu, time.process_time() - c0)
    eng_idle = TraderEngine(cfg)
    t0 = time.perf_counter()
    replay_day(eng_idle, day, [])
    idle_s = time.perf_counter() - t0
    orders = orders_of(res.outputs)
    work = WORK / f"h{args.hours}-s{seed}"
    spec = write_hft_inputs(path, coins, orders, cfg, 50, work=work)
    (work / "spec.json").write_text(json.dumps({**spec, "repeat": args.repeat}))
    subprocess.run([str(py), str(Path(__file__).with_name("trader_hft.py")), str(work)], check=True)
    hft = json.loads((work / "hft_result.json").read_text())
    compared = compare(orders, hft, coins, day, cfg)  # bench.trader's: the same rules
    mk, lim = compared["market"], compared["limit"]
    start = {c: min(d.ts_ms for d in decs if c in d.ticket["targets"]) for c in coins}
    end = int(day.books.meta["recv_ts_ms"].max())
    live = live_share(orders, res.outputs, coins, start, end)
    reps = [o.data for o in res.outputs if o.kind == "exec_report"]
    exits: dict[str, int] = {}
    for r in reps:
        m = r["exec_metrics"]
        key = m["strategy"] if m["purpose"] == "entry" else f"exit:{m['reason']}"
        exits[key] = exits.get(key, 0) + 1
    kinds = {"market": sum(o["kind"] == "market" for o in orders.values()),
             "limit": sum(o["kind"] == "limit" for o in orders.values())}
    return {"seed": seed, "books": res.events["book"], "trades": res.events["trade"],
            "ctx": res.events["ctx"], "decisions": res.events["decision"],
            "lotus_s": lotus_s, "lotus_idle_s": idle_s, "hft_s": hft["run_orders_s"],
            "lotus_cpu_s": lotus_cpu, "hft_cpu_s": hft["run_orders_cpu_s"],
            "hft_idle_s": hft["run_through_s"], "hft_rows": hft["rows"],
            "hft_depth_rows": hft["depth_rows"], "hft_trade_rows": hft["trade_rows"],
            "orders": kinds, "executions": exits, "live": live, "market": mk, "limit": lim,
            "fills": sum(o.kind == "fill" for o in res.outputs)}


def merge_counts(runs: list[dict]) -> tuple[dict, dict]:
    mk, lim = new_market(), new_limit()
    for r in runs:
        for k, v in r["market"].items():
            if k == "examples":
                mk[k] += v[: max(0, 3 - len(mk[k]))]
            elif isinstance(v, dict):
                mk[k].update(v)
            else:
                mk[k] += v
        lim["n"] += r["limit"]["n"]
        lim["time_lotus_later"] += r["limit"]["time_lotus_later"]
        lim["why_time"].update(r["limit"]["why_time"])
        lim["why_hft_only"].update(r["limit"]["why_hft_only"])
        for k in ("dt_last_fill_s", "frac_lotus", "frac_hft"):
            lim[k] += r["limit"][k]
        for cause, row in r["limit"]["by_cause"].items():
            lim["by_cause"].setdefault(cause, type(row)()).update(row)
    return mk, lim



def _machine(load: list[float]) -> str:
    """What the load says about the figures: the ratio is taken in one run either way."""
    return (f"load {load[0]:.1f} -> {load[1]:.1f}"
            + ("" if max(load) < 1.5 else " (times inflated; both engines in one run)"))


def render(runs: list[dict], args: Any, coins: list[str], load: list[float]) -> str:
    """The section: method, the day per seed for both engines, the fills compared order by
    order (bench.trader_levels), a reading; every figure from this run."""
    mk, lim = merge_counts(runs)
    rows = []
    for r in runs:
        ev = r["books"] + r["trades"]
        rows.append(
            f"| seed {r['seed']} | {r['books']:,} + {r['trades']:,} | {r['hft_depth_rows']:,} + {r['hft_trade_rows']:,} | "
            f"{r['orders']['market']:,} / {r['orders']['limit']:,} | {min(r['live'].values()):.1%} | "
            f"{r['lotus_s']:.1f} s ({ev / r['lotus_s']:,.0f}/s) | {r['hft_s']:.1f} s ({ev / r['hft_s']:,.0f}/s) | "
            f"**{r['lotus_s'] / r['hft_s']:.2f}×** | {r['lotus_cpu_s']:.1f} s / {r['hft_cpu_s']:.1f} s = **{r['lotus_cpu_s'] / r['hft_cpu_s']:.2f}×** | "
            f"{r['lotus_idle_s']:.1f} s / {r['hft_idle_s']:.1f} s |")
    tl, th = sum(r["lotus_s"] for r in runs), sum(r["hft_s"] for r in runs)
    cl, ch = sum(r["lotus_cpu_s"] for r in runs), sum(r["hft_cpu_s"] for r in runs)
    ex = {}
    for r in runs:
        for k, v in r["executions"].items():
            ex[k] = ex.get(k, 0) + v
    exs = ", ".join(f"{k} {v:,}" for k, v in sorted(ex.items()))
    dts = np.array(lim["dt_last_fill_s"])
    med = f"{np.median(dts):+.2f} s" if len(dts) else "—"
    fl, fh = np.array(lim["frac_lotus"]), np.array(lim["frac_hft"])
    nan = float("nan")
    method = wrap(
        f"`python -m bench trader_busy --hours {args.hours} --seeds {args.seeds}`: {len(runs)} "
        f"generated {args.hours}-hour days (`lotus_core.synth`; {', '.join(coins)}; 5-level frames "
        "every 0.5 s, 20-level every 5 s; no activeAssetCtx in UTC hours "
        f"{', '.join(map(str, NO_CTX_HOURS))}); a decision every {args.every_s} s per coin "
        "(market, limit, TWAP; stop 30 bps, take profit 45 bps, 10 min limit) keeps orders "
        f"or positions live nearly all day: {exs}. Each order goes to hftbacktest 2.4.4 when "
        f"sent; best of {args.repeat} timed runs per engine; {_machine(load)}.")
    reading = wrap(
        f"Reading. Within 2× of hftbacktest's day on the same orders: **{tl / th:.2f}×** wall, "
        f"**{cl / ch:.2f}×** CPU (steadier under load): "
        f"{'met' if max(tl / th, cl / ch) <= 2 else 'not met'}. Mean filled fraction: Lotus "
        f"{fl.mean() if len(fl) else nan:.3f}, hftbacktest {fh.mean() if len(fh) else nan:.3f}; "
        f"last fill, Lotus minus hftbacktest (median): {med}. hftbacktest moves the queue on each "
        "per-level diff, Lotus on the whole snapshot (docs/trader.md).")
    return f"""## Paper Trader vs hftbacktest on busy books

{method}

| day | snapshots + trades | hftbacktest diff rows + trade rows | orders market / limit | least live share of a coin | Lotus, whole day (wall) | hftbacktest, same orders (wall) | Lotus / hftbacktest (wall) | CPU time Lotus / hftbacktest | no orders (wall): Lotus / hftbacktest |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}
| all | | | | | {tl:.1f} s | {th:.1f} s | **{tl / th:.2f}×** | {cl:.1f} s / {ch:.1f} s = **{cl / ch:.2f}×** | |

{market_table(mk)}

{limit_table(lim, FRAC_MARGIN, TIME_MARGIN_S)}

{reading}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--coins", default="BTC,ETH,SOL,HYPE")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--every-s", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per engine (fastest kept)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    coins = args.coins.split(",")
    py = ensure_venv()
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        r = run_seed(args, seed, coins, py)
        runs.append(r)
        print(json.dumps({k: v for k, v in r.items() if k not in ("market", "limit")},
                         default=str), flush=True)
    load = [load0, os.getloadavg()[0]]
    body = render(runs, args, coins, load)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / f"figures-h{args.hours}.json").write_text(json.dumps(
        {"runs": runs, "load": load, "args": vars(args)}, default=str))
    print(body)
    if not args.no_write:
        write_section("trader_busy", body)
        mk, _ = merge_counts(runs)
        ratios = [r["lotus_s"] / r["hft_s"] for r in runs]
        tl, th = sum(r["lotus_s"] for r in runs), sum(r["hft_s"] for r in runs)
        unexplained = mk["rules"].get("unexplained", 0) + mk["single_rules"].get("unexplained", 0)
        headline("trader_busy", f"{tl / th:.2f}x hftbacktest's time ({tl:.1f} s vs {th:.1f} s "
                 f"for {len(runs)} days); {mk['multi']:,} multi-level market orders compared, "
                 f"{unexplained} unexplained",
                 f"{min(ratios):.2f}-{max(ratios):.2f}x over {len(runs)} seeds (the fastest of "
                 f"{args.repeat} runs each)")


if __name__ == "__main__":
    main()
