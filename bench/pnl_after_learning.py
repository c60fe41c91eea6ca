"""Does acting on what was learned pay? The paper Trader's P&L on the day after the
lessons activate, with the priors those nights compiled versus the previous priors.

    .venv/bin/python -m bench pnl_after_learning [--seeds 4] [--first-seed 101]
                                                 [--days 5] [--hours 0-8] [--workers 2]
                                                 [--write]

For each seed, two markets go through the real pipeline for days 1..k: the closed-loop
market (`bench.closed_loop`: `default_spec()`, the planted sweep-then-stall effect) and its
null twin (`null_spec()`, no effect). Day k+1 is scored in three arms:
- with the priors in force;
- with the previous priors: a copy of the home without the version the last night
  compiled, so the version that scored day k is in force;
- with no priors at all.
Then, in each arm, `dm_calibration` and the DM + Trader multi-asset run on day k+1 from a
flat book.

The arms share the markets, the earlier days and the calibration: only the priors differ.
Per market the statistic is the paired difference of the day's paper P&L (equity change,
fees and funding included), with minus previous (and with minus none). Across seeds it is
a mean with a 95 % t-interval. The null twins are the control: their difference should
straddle zero.

Seeds 101+ are evaluation seeds: nothing in the DM, the Trader or this bench was tuned on
them. `bench.closed_loop` and the tests use seeds 1-40 and 424242.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.closed_loop import (
    Size,
    _hours,
    _settings,
    built_market,
    materialise,
)
from lotus_core.intervals import t_interval as interval

TRADING = ["dm_calibration", "dm_decisions", "paper_trades"]


def day_pnl(lake_dir: Path, day: str) -> dict[str, float]:
    """The day's paper figures from `paper_trades` (a flat start: P&L = equity change)."""
    from lotus_core.store.lake import Lake

    table = Lake(lake_dir).read("paper_trades", day)
    state = json.loads(table.loc[table["kind"] == "state", "data_json"].iloc[-1])
    ps, pf = state["portfolio_state"], state["portfolio"]
    fills = [json.loads(s) for s in table.loc[table["kind"] == "fill", "data_json"]]
    return {"pnl": float(ps["equity"]) - float(pf["initial_equity"]),
            "fees": float(ps["fees"]), "fills": len(fills),
            "traded": float(sum(abs(f["qty"] * f["px"]) for f in fills))}


def rescored(settings: Any, instance: Any, day: str, home: Path, where: str) -> Any:
    """A copy of the home whose fabric lost the sig_priors rows `where` selects, with `day`
    re-scored in it (the stages that read the priors); returns its settings."""
    from lotus_core.store.opsdb import OpsDb

    shutil.copytree(settings.home, home)
    arm = _settings(home, Path(settings.feed_dir))
    with OpsDb.open(arm.fabric) as fabric, fabric.transaction() as tx:
        tx.execute(f"DELETE FROM sig_priors WHERE {where}")
    # the priors reach the coins' scoring through the day's scoring_day: made again too
    materialise(arm, instance, day, selection=["scoring_day", "signal_events", "curator_log",
                                               "curator_tallies", "curator_kpis",
                                               "meta_signals"])
    return arm


def one_market(seed: int, kind: str, size: Size, workdir: str | None) -> dict[str, Any]:
    """Three arms on the scored day: the priors in force; the previous priors (the version
    the last night compiled removed, so the one that scored the day before is in force);
    no priors at all."""
    from lotus_core.learning.priors_store import NIGHTLY_SOURCE
    from lotus_core.synth import default_spec, null_spec

    spec = default_spec() if kind == "planted" else null_spec()
    t0 = time.perf_counter()
    scored, last_night = size.dates[-1], size.dates[-2]
    with tempfile.TemporaryDirectory(prefix=f"pnl_{kind}_{seed}_", dir=workdir) as tmp, \
            built_market(Path(tmp), spec, seed, size) as (settings, instance):
        arms = {"with": settings,
                "previous": rescored(settings, instance, scored, Path(tmp) / "previous",
                                     f"source_event_id = '{NIGHTLY_SOURCE}{last_night}'"),
                "none": rescored(settings, instance, scored, Path(tmp) / "none", "1 = 1")}
        figures = {}
        for arm, s in arms.items():
            materialise(s, instance, scored, selection=TRADING)
            figures[arm] = day_pnl(s.lake_dir, scored)
            figures[arm]["published"] = published(s.lake_dir, scored)
    return {"seed": seed, "kind": kind, **{f"{a}_{k}": v for a, r in figures.items()
                                           for k, v in r.items()},
            "diff": figures["with"]["pnl"] - figures["previous"]["pnl"],
            "diff_none": figures["with"]["pnl"] - figures["none"]["pnl"],
            "wall_s": time.perf_counter() - t0}


def published(lake_dir: Path, day: str) -> int:
    from lotus_core.store.lake import Lake

    return int(Lake(lake_dir).read("signal_events", day, columns=["published"])["published"]
               .sum())


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| market | seed | published with / previous / none | fills with / previous / none "
           "| P&L with | P&L previous | P&L none | with - previous | with - none |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["kind"], r["seed"])):
        out.append(f"| {r['kind']} | {r['seed']} | {r['with_published']} / "
                   f"{r['previous_published']} / {r['none_published']} | {r['with_fills']} / "
                   f"{r['previous_fills']} / {r['none_fills']} | {r['with_pnl']:+.2f} | "
                   f"{r['previous_pnl']:+.2f} | {r['none_pnl']:+.2f} | {r['diff']:+.2f} | "
                   f"{r['diff_none']:+.2f} |")
    for kind in ("planted", "null"):
        d = [r["diff"] for r in rows if r["kind"] == kind]
        e = [r["diff_none"] for r in rows if r["kind"] == kind]
        if d:
            m, lo, hi = interval(d)
            m2, lo2, hi2 = interval(e)
            out.append(f"| **{kind}: mean paired difference, 95 % t-interval** | {len(d)} seeds "
                       f"| | | | | | **{m:+.2f} [{lo:+.2f}, {hi:+.2f}]** "
                       f"| **{m2:+.2f} [{lo2:+.2f}, {hi2:+.2f}]** |")
    return "\n".join(out)


def section(rows: list[dict[str, Any]], args: argparse.Namespace, load: list[float]) -> str:
    """The BENCHMARKS.md section: method, table, what the intervals say."""
    seeds = sorted({r["seed"] for r in rows})
    verdicts = []
    for kind in ("planted", "null"):
        m, lo, hi = interval([r["diff"] for r in rows if r["kind"] == kind])
        verdicts.append(f"{kind} {m:+.2f} USD a day [{lo:+.2f}, {hi:+.2f}] "
                        + ("(holds zero)" if lo <= 0 <= hi else "(excludes zero)"))
    cmd = (f"python -m bench pnl_after_learning --seeds {args.seeds} --first-seed "
           f"{args.first_seed} --days {args.days} --hours {args.hours[0]}-{args.hours[1]} "
           f"--workers {args.workers} --write")
    size = (f"{args.days} days x {args.hours[1] - args.hours[0]} h x "
            f"{len(args.coins.split(','))} coins")
    return f"""## Does acting on what was learned pay? P&L after learning

`{cmd}` (evaluation seeds {seeds[0]}-{seeds[-1]}: nothing was tuned on them; raw rows
with `--json`). Each seed builds a planted closed-loop market (`default_spec()`) and its null
twin (`null_spec()`), {size}, through the real pipeline. The last day is scored
three times: with the priors in force, with the previous priors (the version the last night
compiled removed), and with none; in each arm the DM and the paper Trader trade that day from
a flat book. P&L is the equity change, fees and funding included, in USD on 100,000 of paper
equity. Load average {load[0]:.1f} at the start, {load[1]:.1f} at the end.

{table(rows)}

Reading: newest minus previous priors, mean over seeds with its 95 % t-interval:
{"; ".join(verdicts)}. An interval that holds zero in the planted market is no measurable
effect of the last night's priors on a day's P&L; the null twin is the control.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=101)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--hours", type=_hours, default=(0, 8))
    ap.add_argument("--coins", default="BTC,ETH,SOL")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--write", action="store_true",
                    help="update BENCHMARKS.md (bench:pnl_after_learning) and the headline")
    args = ap.parse_args()
    size = Size(days=args.days, hours=args.hours, coins=tuple(args.coins.split(",")))
    jobs = [(s, k) for s in range(args.first_seed, args.first_seed + args.seeds)
            for k in ("planted", "null")]
    load0 = os.getloadavg()[0]
    with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
        futs = [pool.submit(one_market, s, k, size, args.workdir) for s, k in jobs]
        rows = []
        for f in futs:
            rows.append(f.result())
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "load": [load0, os.getloadavg()[0]],
                                         "size": {"days": args.days, "hours": list(args.hours),
                                                  "coins": list(size.coins)}}, indent=1))
    print(table(rows))
    load = [load0, os.getloadavg()[0]]
    print(f"load average {load[0]:.1f} at the start, {load[1]:.1f} at the end")
    if args.write:
        from bench.report import headline, write_section

        write_section("pnl_after_learning", section(rows, args, load))
        cells = []
        for kind in ("planted", "null twin"):
            m, lo, hi = interval([r["diff"] for r in rows if r["kind"] == kind.split()[0]])
            cells.append(f"{kind} {m:+.2f} USD a day [{lo:+.2f}, {hi:+.2f}]")
        headline("pnl_after_learning", "newest minus previous priors: " + ", ".join(cells),
                 f"95 % t-interval over {args.seeds} evaluation seeds")


if __name__ == "__main__":
    main()
