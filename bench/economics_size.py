"""What planted effect does acting on it need to pay? The planted season of `bench.economics`
(learning on) at several sizes of the generator's planted effect, net of every cost.

    .venv/bin/python -m bench economics_size [--final] [--seeds 4] [--sizes 8,32,64]
                                             [--nights 10] [--hours 0-6]
                                             [--coins BTC,ETH,SOL] [--workers 2]
                                             [--json PATH] [--write]

`bench.economics` judges the season at the generator's default effect (`default_spec()`:
+8 bps over 60 s after a sweep-then-stall under high open interest), which a market order
in and out cannot take at the venue's fees: 4.5 bps a side, a round trip of 9.1 to 9.9 bps
with the spread (docs/dm.md, "Costs"). A target that cannot be met at the default size is
answered by the size it needs, measured, never by raising the default. This bench measures it:
per seed (validity_seeds.yaml's `economics` section, cell `size`) and per size, the planted
market with its effect's `delta_bps` set to the size (nothing else of the spec changed, the
same seed at every size) runs `--nights` days through the
real pipeline, every asset every day with learning on (`economics.every_asset`; the chain's
assets, whose runs hold no asset check), and each day's paper figures are read
as `bench.economics` reads them. The null twin does not depend on the size: its season is
`bench.economics`'.

Per size: the season's net P&L (the equity change, fees and funding in), gross P&L, fees,
fills and maker share, and what the DM believed (`EDGE_FIGURES`: its largest calibrated
edge, the median round trip it priced, the tickets whose edge beat it), each the mean over
seeds with a 95 % t-interval; a size pays where the net interval is clear above zero.
`--write` (only with `--final`) writes the `economics-size` section of BENCHMARKS.md and
the headline record.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from bench.closed_loop import Size, _cpu, _hours, built_market, materialise
from bench.economics import day_row, every_asset
from bench.sealed_options import add_sealed_options, refuse_unsealed_write
from lotus_core.report.season import ci, fmt, totals

CELL = "size"
RESULTS_NAME = "bench/results/economics_size_sealed.json"
"""Where the sealed run's rows are kept (`--json`), what `--from-json` re-renders."""
DEFAULT_SIZES = (8.0, 32.0, 64.0)
FIGURES = ("net", "gross", "fees", "fills", "maker_share")
EDGE_FIGURES = ("edge_max", "round_trip_med", "beats")
"""What the DM believed, per season (`edges`): the largest calibrated edge of any ticket
(|edge_bps|, bps), the median round trip it priced (bps) and the tickets whose edge beat
their round trip: why a size trades or holds, in the DM's own numbers."""


def planted_at(delta_bps: float) -> Any:
    """The generator's default market with its planted effect moved to `delta_bps`."""
    from lotus_core.synth import default_spec

    spec = default_spec()
    return spec.replace(effects=tuple(e.replace(delta_bps=delta_bps) for e in spec.effects))


def edges(settings: Any, day: str) -> dict[str, float]:
    """The day's tickets as the DM saw them (`EDGE_FIGURES`, per day: `beats` a count)."""
    from lotus_core.store.lake import Lake

    d = Lake(settings.lake_dir).read("dm_decisions", day, columns=["edge_bps", "ticket_json"])
    if not len(d):
        return {"edge_max": math.nan, "round_trip_med": math.nan, "beats": 0.0}
    trip = [float(json.loads(t)["audit_refs"].get("cost.round_trip_bps", "nan"))
            for t in d["ticket_json"]]
    edge = d["edge_bps"].abs().to_numpy()
    beats = sum(1 for e, r in zip(edge, trip, strict=True) if e > r)
    trips = sorted(r for r in trip if math.isfinite(r))
    return {"edge_max": float(edge.max()),
            "round_trip_med": trips[len(trips) // 2] if trips else math.nan,
            "beats": float(beats)}


def one_size(seed: int, delta_bps: float, size: Size, workdir: str | None) -> dict[str, Any]:
    """The planted season at `delta_bps`, learning on: a row per night and its cost."""
    t0, c0 = time.perf_counter(), _cpu()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix=f"econ_size_{seed}_{delta_bps:g}_",
                                     dir=workdir) as tmp, \
            built_market(Path(tmp), planted_at(delta_bps), seed, size,
                         selection=["raw_feed"]) as (on, instance):
        for night, day in enumerate(size.dates, 1):
            materialise(on, instance, day, every_asset())
            rows.append({"seed": seed, "delta_bps": delta_bps, "night": night,
                         **day_row(on, day), **edges(on, day)})
            print(f"seed {seed} {delta_bps:g} bps night {night}: net {rows[-1]['net']:+.2f} "
                  f"USD, fills {rows[-1]['fills']} (CPU {(_cpu() - c0) / 60:.1f} min)",
                  flush=True)
    return {"seed": seed, "delta_bps": delta_bps, "rows": rows, "cpu_s": _cpu() - c0,
            "wall_s": time.perf_counter() - t0}


def run_sizes(seeds: Sequence[int], sizes: Sequence[float], size: Size, workers: int = 1,
              workdir: str | None = None) -> list[dict[str, Any]]:
    """`one_size` for every (seed, size), the largest sizes first; with workers > 1 each in a
    spawned process (never forked: a fork of a threaded Dagster process can inherit a
    held lock)."""
    jobs = [(s, d) for d in sorted(sizes, reverse=True) for s in seeds]
    if workers <= 1:
        out = [one_size(s, d, size, workdir) for s, d in jobs]
    else:
        out = []
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futs = {pool.submit(one_size, s, d, size, workdir): (s, d) for s, d in jobs}
            for fut in as_completed(futs):
                out.append(fut.result())
    return sorted(out, key=lambda m: (m["delta_bps"], m["seed"]))


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size: each figure's season total per seed, its mean and 95 % t-interval over
    seeds, and whether the season pays (net interval clear above zero; None: one seed)."""
    out = []
    for delta in sorted({r["delta_bps"] for r in rows}):
        seasons: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            if r["delta_bps"] == delta:
                seasons.setdefault(r["seed"], []).append(r)
        per_seed = [{**totals(rs), **season_edges(rs)} for _, rs in sorted(seasons.items())]
        row: dict[str, Any] = {"delta_bps": delta, "seeds": len(per_seed),
                               **{f: ci([t[f] for t in per_seed])
                                  for f in FIGURES + EDGE_FIGURES}}
        row["positive"] = sum(1 for t in per_seed if t["net"] > 0)
        lo = row["net"][1]
        row["pays"] = None if not math.isfinite(lo) else lo > 0
        out.append(row)
    return out


def season_edges(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """A season's `EDGE_FIGURES`: the largest edge, the median of the nights' median round
    trips, the tickets that beat theirs (rows without the figures: NaN)."""
    def finite(k: str) -> list[float]:
        return sorted(float(r[k]) for r in rows if math.isfinite(float(r.get(k, math.nan))))

    edge, trip = finite("edge_max"), finite("round_trip_med")
    return {"edge_max": edge[-1] if edge else math.nan,
            "round_trip_med": trip[len(trip) // 2] if trip else math.nan,
            "beats": float(sum(float(r.get("beats", 0.0)) for r in rows))}


def needed(table: Sequence[dict[str, Any]]) -> float | None:
    """The smallest size from which every larger measured size pays too (None: none pays)."""
    need = None
    for r in sorted(table, key=lambda r: -r["delta_bps"]):
        if r["pays"] is not True:
            break
        need = r["delta_bps"]
    return need


def markdown(table: Sequence[dict[str, Any]]) -> str:
    out = ["| planted effect | seeds | season net P&L (USD) | seeds net > 0 | gross P&L | fees | "
           "fills | "
           "maker share | largest DM edge (bps) | round trip (bps) | tickets with edge > "
           "round trip | pays |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in table:
        pays = {True: "yes", False: "no", None: "not judged (one seed)"}[r["pays"]]
        out.append(f"| {r['delta_bps']:g} bps | {r['seeds']} | {fmt(r['net'])} | "
                   f"{r['positive']}/{r['seeds']} | "
                   f"{fmt(r['gross'])} | {fmt(r['fees'])} | {fmt(r['fills'], ',.1f')} | "
                   f"{fmt(r['maker_share'], '.2f')} | {fmt(r['edge_max'], '.1f')} | "
                   f"{fmt(r['round_trip_med'], '.1f')} | {fmt(r['beats'], ',.1f')} | "
                   f"{pays} |")
    return "\n".join(out)


def verdict(table: Sequence[dict[str, Any]]) -> str:
    need = needed(table)
    measured = ", ".join(f"{r['delta_bps']:g}" for r in table)
    if need is None:
        top = max(table, key=lambda r: r["delta_bps"])
        return (f"no measured size's season net interval is clear of zero (sizes {measured} "
                f"bps; at {top['delta_bps']:g} bps {top['positive']}/{top['seeds']} seeds' "
                "seasons made money)")
    return f"the planted season pays from {need:g} bps on (sizes {measured} bps measured)"


def section(table: Sequence[dict[str, Any]], kept: dict[str, Any], cmd: str) -> str:
    seeds, size = kept["seeds"], kept["size"]
    cpu = sum(m["cpu_s"] for m in kept["markets"]) / 3600
    edges = " / ".join(fmt(r["edge_max"], ".1f").split(" [")[0] for r in table)
    trips = " / ".join(fmt(r["round_trip_med"], ".1f").split(" [")[0] for r in table)
    sizes = " / ".join(f"{r['delta_bps']:g}" for r in table)
    return f"""## What effect does acting on it need to pay? The planted season by size

`{cmd}` (sealed evaluation seeds {seeds[0]}-{seeds[-1]} of validity_seeds.yaml's `economics`
cell `size`): per seed and size, the planted market of `bench.economics` with its effect
moved to the size (the default is 8 bps over 60 s), {size['nights']} nights x
{size['hours'][1] - size['hours'][0]} h x {len(size['coins'])} coins through the real pipeline
with learning on; season net P&L is the sum of the nights' equity changes, fees and funding
in; mean over seeds with its 95 % t-interval. {cpu:.1f} h of CPU. The rows:
`{RESULTS_NAME}` (`--from-json` prints them again).

{markdown(table)}

Reading: {verdict(table)}. The DM trades only where its calibrated edge over the horizon
beats the round trip it prices (docs/dm.md, "Trade only what pays"): its largest edge of a
season was {edges} bps at {sizes} bps planted, against a median round trip of {trips} bps
(a market order in and out at the venue's base-tier fees, 4.5 bps a side, and the spread).
"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_sealed_options(ap, "economics", CELL, 4, "seasons")
    ap.add_argument("--sizes", default=",".join(f"{d:g}" for d in DEFAULT_SIZES),
                    help="the planted effect's delta_bps values, comma-separated")
    ap.add_argument("--nights", type=int, default=10)
    ap.add_argument("--hours", type=_hours, default=(0, 6), help="UTC hours of each day")
    ap.add_argument("--coins", default="BTC,ETH,SOL")
    args = ap.parse_args(argv)
    refuse_unsealed_write(ap, args)
    if args.from_json is not None:
        kept = json.loads(args.from_json.read_text())
        table = summarise(kept["rows"])
        print(markdown(table))
        if args.write:
            _write(table, kept)
        return {"table": table, **kept}
    try:
        sizes = [float(x) for x in args.sizes.split(",") if x]
    except ValueError:
        ap.error(f"--sizes: comma-separated numbers (bps), got {args.sizes!r}")
    if not sizes or any(not math.isfinite(d) or d <= 0 for d in sizes):
        ap.error(f"--sizes: positive sizes in bps, got {args.sizes!r}")
    if args.nights < 2:
        ap.error("--nights: need >= 2 (day 1 has no calibration yet: it holds)")
    from lotus_core.learning.validity_seeds import load_seeds

    partition = "evaluation" if args.final else "tuning"
    seeds = load_seeds().seeds(partition, "economics", CELL, args.seeds)
    size = Size(days=args.nights, hours=args.hours,
                coins=tuple(c for c in args.coins.split(",") if c))
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    markets = run_sizes(seeds, sizes, size, args.workers, args.workdir)
    rows = [r for m in markets for r in m["rows"]]
    kept = {"partition": partition, "seeds": seeds, "sizes": sizes,
            "load": [load0, os.getloadavg()[0]],
            "size": {"nights": size.days, "hours": list(size.hours), "coins": list(size.coins)},
            "markets": [{k: v for k, v in m.items() if k != "rows"} for m in markets],
            "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(kept, indent=1))
    table = summarise(rows)
    print(markdown(table))
    print(f"{verdict(table)}; {len(markets)} seasons: "
          f"{sum(m['cpu_s'] for m in markets) / 60:.1f} min CPU, "
          f"{(time.perf_counter() - t0) / 60:.1f} min wall ({partition} seeds "
          f"{seeds[0]}-{seeds[-1]})")
    if args.write:
        _write(table, kept)
    return {"table": table, **kept}


def _command(kept: dict[str, Any]) -> str:
    size = kept["size"]
    return (f"python -m bench economics_size --final --seeds {len(kept['seeds'])} --sizes "
            f"{','.join(f'{d:g}' for d in kept['sizes'])} --nights {size['nights']} --hours "
            f"{size['hours'][0]}-{size['hours'][1]} --coins {','.join(size['coins'])}")


def _write(table: Sequence[dict[str, Any]], kept: dict[str, Any]) -> None:
    """The BENCHMARKS.md section and the headline record of a sealed run (kept rows too)."""
    if kept["partition"] != "evaluation":
        raise SystemExit("--write records sealed evidence: these rows are tuning seeds")
    from bench.report import headline, write_section

    cmd = _command(kept)
    write_section("economics-size", section(table, kept, cmd))
    cells = "; ".join(f"{r['delta_bps']:g} bps {fmt(r['net'])}" for r in table)
    headline("economics_size", f"planted season net (USD): {cells}; {verdict(table)}",
             f"95 % t-interval over {len(kept['seeds'])} sealed seeds", command=cmd)


if __name__ == "__main__":
    main()
