"""What resting costs: the paper Trader's passive entries (post-only at the touch, the rule's
resting order) against market orders, on two market models, measured where the execution
rule reads it.

    .venv/bin/python -m bench passive [--final] [--seeds 3] [--hours 6] [--coins BTC,ETH,SOL]
                                      [--every-s 300] [--json PATH] [--write]

The execution rule (docs/trader.md, "Execution: one rule") rests an entry only where the
edge lost by waiting is worth less than the taker fee and spread saved, and it prices a
resting order with the Trader's own passive record (fill probability, wait, the 60 s
markout of its passive fills), shrunk to what the Trader's probes of the book measured
(virtual post-only orders at the touch every 5 minutes per coin, `trader.probe`), and
those to a stated prior: fill probability 0.3, a wait of half the cancel window, adverse
selection 3 bps. This bench measures resting against taking, and what the probes measured
on the same day beside it.

Per seed and market model (`synth`: lotus_core.synth's default market; `flow`: the second
generator, lotus_core.flowmarket's queue-reactive market with its defaults), a generated day
of `--hours` on `--coins` is replayed through the Trader's engine (`replay_day`, the nightly
and live kernel) with the project's default Trader settings (the venue's fees, latency,
rejects, queue model, cancel window) in two arms on the same decision times:

- rest: every `--every-s` per coin (coins staggered) a ticket to hold 2 % of equity, long
  and short in turn, stating an edge of 0.5 bps: the rule rests it post-only at the touch
  (cancelled after `limit_cancel_after_ms`); the ticket's 2-minute horizon closes the
  position by a market order (the time limit), so each ticket enters from flat;
- take: the same tickets with `tr.execution_strategy: market`.

Figures per seed and model: the rest arm's passive orders, their fill rate and mean wait, the
markout of the passive fills 5 s and 60 s after each (the engine's own record: bps against
the position), the cost of a filled entry (fee + crossing against the arrival mid, bps of
notional; a passive fill's crossing is negative: it earns the half spread) and, for the
passive fills, the cost with the 60 s markout added; the take arm's cost of a market entry;
the probes' fill rate and 60 s markout (`TraderEngine.probed`, the same in both arms).
Across seeds: the mean and a 95 % t-interval (`lotus_core.intervals.t_interval`); the pooled
fill rate with its Wilson interval. Seeds come from validity_seeds.yaml, section
`execution`: the tuning cell by default, the sealed evaluation cell with `--final`.
`--write` (only with `--final`) writes the `passive` section of BENCHMARKS.md and the
headline record.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from bench.sealed_options import add_sealed_options, refuse_unsealed_write
from lotus_core.report.season import ci, fmt

MODELS = ("synth", "flow")
ARMS = ("rest", "take")
DAY = date(2026, 3, 2)
WEIGHT = 0.02  # of equity, per ticket
EDGE_BPS = 0.5  # the edge the resting tickets state: below what pays for taking
HORIZON = "2m"  # the time limit that closes each position


def recording(model: str, seed: int, hours: int, coins: Sequence[str], out: Path) -> Path:
    """A generated day of the model (seeded), written under `out`."""
    if model == "synth":
        from lotus_core.synth import default_spec, generate_day

        return Path(generate_day(out, DAY, list(coins), seed, default_spec(),
                                 hours=(0, hours))[0])
    from lotus_core.flowmarket.generator import generate_day as flow_day
    from lotus_core.flowmarket.spec import default_flow_spec

    return flow_day(out, DAY, list(coins), seed, default_flow_spec(), hours=(0, hours))[0]


def tickets(day: Any, coins: Sequence[str], every_s: int, arm: str) -> list[Any]:
    """The arm's decisions: one per coin every `every_s` (coins staggered), long and short in
    turn; the rest arm states the small edge, the take arm names the market order."""
    from bench.trader import bench_ticket, ticket_times

    out = []
    for k, at, coin in ticket_times(day, coins, every_s, 180_000):
        side = 1 if (k // len(coins)) % 2 == 0 else -1
        refs = ({"edge_bps": f"{side * EDGE_BPS}"} if arm == "rest"
                else {"tr.execution_strategy": "market"})
        out.append(bench_ticket(f"{arm}{k:06d}", at, coin, side * WEIGHT, HORIZON, 60_000,
                                refs))
    out.sort(key=lambda d: d.ts_ms)
    return out


def arm_figures(outputs: Sequence[Any], engine: Any) -> dict[str, Any]:
    """The entries' execution figures of one replay, from its exec reports and the engine's
    passive record."""
    entries = [o.data for o in outputs if o.kind == "exec_report"
               and o.data["exec_metrics"]["purpose"] == "entry"]
    filled = [r["exec_metrics"] for r in entries if r["exec_metrics"]["cost_bps"] is not None]
    maker = [m for m in filled if (m["maker_share"] or 0) > 0.5]
    taker = [m for m in filled if (m["maker_share"] or 0) <= 0.5]
    p = engine.passive

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else math.nan

    adverse_60 = p.adverse_60s / p.marked_60s if p.marked_60s else math.nan
    maker_cost = mean([m["cost_bps"] for m in maker])
    return {
        "entries": len(entries), "filled": len(filled),
        "passive_orders": p.orders, "passive_filled": p.filled,
        "fill_rate": p.filled / p.orders if p.orders else math.nan,
        "wait_s": p.waited_ms / p.waits / 1000 if p.waits else math.nan,
        "adverse_5s_bps": p.adverse_5s / p.marked_5s if p.marked_5s else math.nan,
        "adverse_60s_bps": adverse_60, "marked": p.marked_60s,
        "maker_fills": len(maker), "maker_cost_bps": maker_cost,
        "maker_cost_60s_bps": maker_cost + adverse_60,
        "taker_fills": len(taker), "taker_cost_bps": mean([m["cost_bps"] for m in taker]),
        "priced_fill_prob": p.fill_prob(), "priced_adverse_bps": p.adverse_bps(),
        "probe_orders": engine.probed.orders,
        "probe_fill_rate": (engine.probed.filled / engine.probed.orders
                            if engine.probed.orders else math.nan),
        "probe_adverse_60s_bps": (engine.probed.adverse_60s / engine.probed.marked_60s
                                  if engine.probed.marked_60s else math.nan),
    }


def one(model: str, seed: int, hours: int, coins: Sequence[str], every_s: int,
        workdir: str | None) -> dict[str, Any]:
    """Both arms of one seed and model."""
    from lotus_core.feed.parse import parse_recording
    from lotus_core.trader.config import trader_settings
    from lotus_core.trader.engine import TraderEngine
    from lotus_core.trader.replay import replay_day

    c0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix=f"passive_{model}_{seed}_", dir=workdir) as tmp:
        day = parse_recording(recording(model, seed, hours, coins, Path(tmp)), DAY.isoformat())
    cfg = trader_settings({})  # the project's defaults: the Trader the DM prices
    row: dict[str, Any] = {"model": model, "seed": seed}
    for arm in ARMS:
        engine = TraderEngine(cfg)
        res = replay_day(engine, day, tickets(day, coins, every_s, arm))
        row[arm] = arm_figures(res.outputs, engine)
    row["cpu_s"] = time.process_time() - c0
    return row


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model: each figure's mean and t-interval over seeds, and the pooled fill rate
    with its Wilson interval."""
    from lotus_core.intervals import wilson

    out = []
    for model in MODELS:
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            continue
        rest = [r["rest"] for r in mine]
        orders = sum(r["passive_orders"] for r in rest)
        filled = sum(r["passive_filled"] for r in rest)
        out.append({
            "model": model, "seeds": len(mine), "orders": orders,
            "fill_rate_pooled": filled / orders if orders else math.nan,
            "fill_rate_wilson": wilson(round(filled), orders) if orders else (0.0, 1.0),
            **{k: ci([r[k] for r in rest if k in r]) for k in (
                "fill_rate", "wait_s", "adverse_5s_bps", "adverse_60s_bps", "maker_cost_bps",
                "maker_cost_60s_bps", "probe_fill_rate", "probe_adverse_60s_bps")},
            "marked": sum(r["marked"] for r in rest),
            "taker_cost_bps": ci([r["take"]["taker_cost_bps"] for r in mine]),
            "taker_fills": sum(r["take"]["taker_fills"] for r in mine),
        })
    return out


def markdown(table: Sequence[dict[str, Any]]) -> str:
    out = ["| market model | seeds | passive orders | fill rate (pooled, Wilson) | fill rate "
           "(mean of seeds) | wait (s) | markout 5 s (bps) | markout 60 s (bps) | passive "
           "entry cost (bps) | with the 60 s markout | market entry cost (bps) | probes: fill "
           "rate | probes: markout 60 s (bps) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        lo, hi = r["fill_rate_wilson"]
        out.append(
            f"| {r['model']} | {r['seeds']} | {r['orders']} | {r['fill_rate_pooled']:.2f} "
            f"[{lo:.2f}, {hi:.2f}] | {fmt(r['fill_rate'], '.2f')} | {fmt(r['wait_s'], '.1f')} | "
            f"{fmt(r['adverse_5s_bps'])} | {fmt(r['adverse_60s_bps'])} | "
            f"{fmt(r['maker_cost_bps'])} | {fmt(r['maker_cost_60s_bps'])} | "
            f"{fmt(r['taker_cost_bps'])} | {fmt(r['probe_fill_rate'], '.2f')} | "
            f"{fmt(r['probe_adverse_60s_bps'])} |")
    return "\n".join(out)


def verdict(table: Sequence[dict[str, Any]]) -> str:
    """Each model's measured figures against the prior the rule starts from."""
    from lotus_core.costs import PRIOR_ADVERSE_BPS, PRIOR_FILL_PROB

    parts = []
    for r in table:
        parts.append(f"{r['model']}: fill rate {r['fill_rate_pooled']:.2f} (prior "
                     f"{PRIOR_FILL_PROB:.2f}), 60 s markout {r['adverse_60s_bps'][0]:+.2f} bps "
                     f"(prior {PRIOR_ADVERSE_BPS:.1f}); a passive entry cost "
                     f"{r['maker_cost_60s_bps'][0]:+.2f} bps with it, a market entry "
                     f"{r['taker_cost_bps'][0]:+.2f}"
                     + (f"; the probes measured a fill rate {r['probe_fill_rate'][0]:.2f}, "
                        f"a 60 s markout {r['probe_adverse_60s_bps'][0]:+.2f} bps"
                        if math.isfinite(r["probe_fill_rate"][0]) else ""))
    return "; ".join(parts)


def section(table: Sequence[dict[str, Any]], kept: dict[str, Any], cmd: str) -> str:
    cpu = sum(r["cpu_s"] for r in kept["rows"]) / 60
    seeds = kept["seeds"]
    return f"""## What resting costs: passive entries against market orders

`{cmd}` (sealed evaluation seeds {seeds[0]}-{seeds[-1]} of validity_seeds.yaml's
`execution` cell `passive`): per seed and market model, a generated day of
{kept['hours']} h x {len(kept['coins'])} coins replayed through the Trader's engine with
the project's default Trader settings, a ticket every {kept['every_s']} s per coin (2 % of
equity, long and short in turn, closed by its 2-minute time limit) in two arms: resting
(an edge of 0.5 bps, which the execution rule rests post-only at the touch) and taking
(a market order). `synth` is lotus_core.synth's default market, `flow` the second generator
(lotus_core.flowmarket). Costs in bps of the filled notional: fee + crossing against the
arrival mid (a passive fill earns the half spread), and for passive fills the mid's move
against the position 60 s later added (the markout the rule prices as adverse selection).
Mean over seeds with a 95 % t-interval; the pooled fill rate with its Wilson interval.
{cpu:.1f} min of CPU. The rows: `python -m bench passive --from-json {RESULTS}`.

{markdown(table)}

Reading: {verdict(table)}. The rule prices a resting entry from the Trader's own record of
passive orders shrunk to its probes' record, and that to a stated prior (docs/trader.md,
"The passive odds"). Both arms probe the same books alike; the probes' columns are what the
rule prices with the day after such a day while the own record is empty. The rest arm's
tickets alternate sides as the probes do, so neither column says what an entry that follows
a signal meets: the own record measures that.
"""


RESULTS = "bench/results/passive_sealed.json"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_sealed_options(ap, "execution", "passive", 3, "days")
    ap.add_argument("--hours", type=int, default=6, help="hours of each generated day")
    ap.add_argument("--coins", default="BTC,ETH,SOL")
    ap.add_argument("--every-s", type=int, default=300, help="seconds between one coin's "
                    "tickets (>= 180: each position closes before the next)")
    args = ap.parse_args(argv)
    refuse_unsealed_write(ap, args)
    if args.from_json is not None:
        kept = json.loads(args.from_json.read_text())
    else:
        if not 1 <= args.hours <= 24:
            ap.error(f"--hours: 1 to 24, got {args.hours}")
        if args.every_s < 180:
            ap.error(f"--every-s: >= 180 (a position lives 2 minutes), got {args.every_s}")
        coins = [c for c in args.coins.split(",") if c]
        if not coins:
            ap.error("--coins: at least one coin")
        from lotus_core.learning.validity_seeds import load_seeds

        partition = "evaluation" if args.final else "tuning"
        seeds = load_seeds().seeds(partition, "execution", "passive", args.seeds)
        jobs = [(m, s) for s in seeds for m in MODELS]
        t0 = time.perf_counter()
        if args.workers <= 1:
            rows = [one(m, s, args.hours, coins, args.every_s, args.workdir) for m, s in jobs]
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
                rows = list(pool.map(one, *zip(*[(m, s, args.hours, coins, args.every_s,
                                                  args.workdir) for m, s in jobs],
                                               strict=True)))
        kept = {"partition": partition, "seeds": seeds, "hours": args.hours, "coins": coins,
                "every_s": args.every_s, "load": os.getloadavg()[0], "rows": rows}
        print(f"{len(rows)} days: {(time.perf_counter() - t0) / 60:.1f} min wall", flush=True)
        if args.json:
            args.json.write_text(json.dumps(kept, indent=1))
    table = summarise(kept["rows"])
    print(markdown(table))
    print(verdict(table))
    if args.write:
        _write(table, kept)
    return {"table": table, **kept}


def _write(table: Sequence[dict[str, Any]], kept: dict[str, Any]) -> None:
    if kept["partition"] != "evaluation":
        raise SystemExit("--write records sealed evidence: these rows are tuning seeds")
    from bench.report import headline, write_section

    cmd = (f"python -m bench passive --final --seeds {len(kept['seeds'])} --hours "
           f"{kept['hours']} --coins {','.join(kept['coins'])} --every-s {kept['every_s']}")
    write_section("passive", section(table, kept, cmd))
    headline("passive", verdict(table), f"95 % t-interval over {len(kept['seeds'])} sealed "
             "seeds; pooled fill rate with its Wilson interval", command=cmd)


if __name__ == "__main__":
    main()
