"""Does acting on what Lotus learns pay, net of every cost? A season of paper trading on a
planted market and its null twin, with learning on and with learning frozen after night 1.

    .venv/bin/python -m bench economics [--final] [--seeds 3] [--nights 10] [--hours 0-24]
                                        [--coins BTC,ETH,SOL] [--workers 1] [--workdir DIR]
                                        [--json PATH] [--write]

Per seed, two markets (`bench.closed_loop`'s generator, same seed): the planted closed-loop
market (`default_spec()`: the generator's default effect, never raised) and its null twin
(`null_spec()`: the same patterns and decoy, nothing planted). Each is a season of
`--nights` days (`Size`: consecutive days from `closed_loop.START`), and every day runs the
whole chain through the real Dagster pipeline (`materialise`): signals, outcomes, lessons ->
braids -> priors (the fabric's sig_priors), dm_calibration, the DM and the paper Trader in
one replay (dm_decisions, paper_trades; the book carried night to night), executor scores,
exec lessons -> tr_priors (the fabric's tr_priors), and the reports. Day k trades on what
nights 1..k-1 learned.

Two arms per market, paired: the same market files (one feed directory), the same seed, the
same Dagster instance, and one home until the fork.

- learning on: every asset, every day (the normal chain).
- frozen after night 1: day 1 and its night run in the learning arm's home; the home is then
  copied (the fork) and the frozen arm runs days 2..N in the copy with the learning assets
  left out: the lesson night (`closed_loop.NIGHT_ASSETS`: lesson_atoms, lessons,
  watchdog_alerts, braids, meta_braids, active_priors, and loop_report that reads them) and
  the execution night (exec_lessons, tr_priors). So:
  - signal priors: the fabric's sig_priors gets no version after night 1's, and the set in
    force for a day is the newest set compiled the nights before it
    (`priors_store.read_priors_for_date`): night 1's, every day;
  - execution priors: tr_priors likewise (`read_priors_for_date(..., "tr")`, what the
    Trader reads): night 1's set, every day;
  - DM calibration (a lake partition fitted on the days before its own, nothing in the
    fabric): day 2's partition is fitted on day 1 alone (night 1's calibration) in both
    arms; for days 3..N the frozen arm's partition is a byte copy of day 2's (its
    `train_window` still names day 1) written before the day runs, and `dm_calibration` is
    not materialised.
  Everything else (features, scoring, publication, the DM, the Trader) runs as in the
  learning arm. Days 1 and 2 are therefore the same in both arms (a check of the pairing);
  the arms part from day 3 on. Each row carries the versions in force and the calibration
  window, so the freeze is visible in the figures themselves.

Figures per day, from the day's `paper_trades` (`lotus_core.trader.day_pnl`: positions and
equity carry across midnight, so a day starts from the previous day's end): net P&L (the
equity change, fees and funding in), gross P&L (realised + unrealised change, before fees
and funding), fees, funding, turnover (USD traded), maker share and fills; the season is the
sum over its days (maker share: maker fills over fills). Across seeds: the mean with a 95 %
t-interval (`lotus_core.report.season`, which the Dagster asset `economics_season`
shows too); planted minus null and learning on minus
frozen are paired by seed.

Targets (printed with whether each is met; learning on unless named):
- the planted season's net P&L > 0, its interval clear of zero;
- the null season's net P&L >= -0.05 % of the starting equity (mean over seeds);
- the null twin's turnover over the last 3 nights < a tenth of the planted twin's (means);
- learning on minus frozen, season net: > 0 with its interval clear of zero on the planted
  market, its interval covering zero on the null twin.

Seeds come from lotus_core/learning/validity_seeds.yaml, section `economics`: the tuning
cell by default, the sealed evaluation cell with `--final`. `--write` (only with `--final`)
writes the `economics` section of BENCHMARKS.md and the headline record.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from bench.closed_loop import (
    Size,
    _cpu,
    _hours,
    _settings,
    built_market,
    materialise,
    scored_day_selection,
)
from bench.sealed_options import add_sealed_options, refuse_unsealed_write
from lotus_core.report.season import (
    MARKETS,
    RESULTS_NAME,
    compact,
    fmt,
    markdown,
    summarise,
)

EXEC_NIGHT = ["exec_lessons", "tr_priors"]
"""The execution night: exec lessons over the paper window, compiled into tr_priors."""
ECON_CODE = ("lotus_core/dm", "lotus_core/trader", "lotus_core/config")
"""Beyond the closed loop's code (`validity_stamp.LOOP_CODE`), what a season runs: the DM,
the Trader and the settings they are run with (the stamp of a run)."""


# --- the selections ---------------------------------------------------------------------------


def every_asset() -> Any:
    """A day of the learning arm: every asset (raw_feed was made for every day up front)."""
    import dagster as dg

    return dg.AssetSelection.all() - dg.AssetSelection.assets("raw_feed")


def frozen_assets(calibrate: bool) -> Any:
    """A day of the frozen arm: every asset but the lesson night and what reads it
    (`scored_day_selection`), the execution night, raw_feed, and (`calibrate` False) the
    DM calibration, whose partition is then night 1's copied in."""
    import dagster as dg

    out = (scored_day_selection() - dg.AssetSelection.assets("raw_feed", *EXEC_NIGHT))
    return out if calibrate else out - dg.AssetSelection.assets("dm_calibration")


def copy_calibration(lake_dir: Path, source_day: str, day: str) -> None:
    """`day`'s dm_calibration partition: a byte copy of `source_day`'s."""
    from lotus_core.store.lake import Lake

    lake = Lake(lake_dir)
    target = lake.path("dm_calibration", day)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(lake.path("dm_calibration", source_day), target)


# --- one market through the real pipeline ------------------------------------------------------


def day_row(settings: Any, day: str) -> dict[str, Any]:
    """The day's paper figures and what was in force: the sig and tr priors versions and the
    DM calibration's training window."""
    from lotus_core.learning.priors_store import read_priors_for_date
    from lotus_core.store.lake import Lake
    from lotus_core.store.opsdb import OpsDb
    from lotus_core.trader.day_pnl import day_pnl

    lake = Lake(settings.lake_dir)
    d = day_pnl(lake, day)
    if d is None:
        raise RuntimeError(f"{day}: no paper_trades partition (the Trader did not run)")
    with OpsDb.open(settings.fabric) as fabric:
        sig = read_priors_for_date(fabric, day).version
        tr = read_priors_for_date(fabric, day, "tr").version
    window = lake.read("dm_calibration", day, columns=["train_window"])["train_window"]
    return {"day": day, "net": d.net, "gross": d.gross, "fees": d.fees, "funding": d.funding,
            "traded": d.traded, "maker_share": d.maker_share, "fills": d.fills,
            "maker_fills": d.maker_fills, "start_equity": d.start_equity,
            "sig_priors_ver": sig, "tr_priors_ver": tr,
            "calibration_window": str(window.iloc[0]) if len(window) else "-"}


def _say(text: str) -> None:
    print(text, flush=True)


def one_market(seed: int, kind: str, size: Size, workdir: str | None,
               log: Callable[[str], None] = _say) -> dict[str, Any]:
    """One market's season in both arms: its rows (one per arm and night) and its cost."""
    from lotus_core.learning.validity_stamp import LOOP_CODE, LOOP_EXCLUDE, stamp
    from lotus_core.synth import default_spec, null_spec

    spec = default_spec() if kind == "planted" else null_spec()
    t0, c0 = time.perf_counter(), _cpu()
    code = stamp(LOOP_CODE + ECON_CODE, LOOP_EXCLUDE)
    dates = size.dates
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix=f"economics_{kind}_{seed}_", dir=workdir) as tmp, \
            built_market(Path(tmp), spec, seed, size, selection=["raw_feed"]) as (on, instance):
        materialise(on, instance, dates[0], every_asset())
        shutil.copytree(on.home, Path(tmp) / "frozen")  # the fork: night 1 learned in one home
        frozen = _settings(Path(tmp) / "frozen", Path(on.feed_dir))
        for night, day in enumerate(dates, 1):
            if night > 1:
                materialise(on, instance, day, every_asset())
                if night > 2:
                    copy_calibration(frozen.lake_dir, dates[1], day)
                materialise(frozen, instance, day, frozen_assets(calibrate=night == 2))
            rows += [{"arm": "on", "night": night, **day_row(on, day)},
                     {"arm": "frozen", "night": night, **day_row(frozen, day)}]
            log(f"seed {seed} {kind} night {night}: net on {rows[-2]['net']:+.2f} frozen "
                f"{rows[-1]['net']:+.2f} USD, fills {rows[-2]['fills']} / {rows[-1]['fills']}"
                f" (CPU {(_cpu() - c0) / 60:.1f} min, wall "
                f"{(time.perf_counter() - t0) / 60:.1f} min)")
    for r in rows:
        r.update(seed=seed, market=kind)
    return {"seed": seed, "market": kind, "rows": rows, "cpu_s": _cpu() - c0,
            "wall_s": time.perf_counter() - t0,
            "stamp": {k: code[k] for k in ("commit", "dirty", "code_hash")}}


def run_markets(seeds: Sequence[int], size: Size, workers: int = 1,
                workdir: str | None = None, done: Sequence[dict[str, Any]] = (),
                on_done: Callable[[list[dict[str, Any]]], None] | None = None
                ) -> list[dict[str, Any]]:
    """`one_market` for every (seed, market) not already `done`; with workers > 1 each in a
    spawned process (never forked: a fork of a threaded Dagster process can inherit a held
    lock). `on_done` gets the markets finished so far each time one finishes, so a stopped
    run keeps them (`--json`, `--resume`)."""
    out = list(done)
    have = {(m["seed"], m["market"]) for m in out}
    jobs = [(s, k) for s in seeds for k in MARKETS if (s, k) not in have]

    def finished(m: dict[str, Any]) -> None:
        out.append(m)
        print(f"seed {m['seed']} {m['market']}: done", flush=True)
        if on_done is not None:
            on_done(sorted(out, key=_order))

    if workers <= 1:
        for s, k in jobs:
            finished(one_market(s, k, size, workdir))
    else:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futs = [pool.submit(one_market, s, k, size, workdir) for s, k in jobs]
            for fut in as_completed(futs):
                finished(fut.result())
    return sorted(out, key=_order)


def _order(m: dict[str, Any]) -> tuple[int, int]:
    return m["seed"], MARKETS.index(m["market"])


def section(s: dict[str, Any], rows: Sequence[dict[str, Any]],
            markets: Sequence[dict[str, Any]], cmd: str, size: Size,
            load: Sequence[float]) -> str:
    """The BENCHMARKS.md section: method, size, cost, the tables."""
    seeds = sorted({m["seed"] for m in markets})
    cpu = sum(m["cpu_s"] for m in markets) / 3600
    stamp = markets[0]["stamp"]
    equity = rows[0]["start_equity"]
    dirty = " with uncommitted changes" if stamp["dirty"] else ""
    return f"""## Does acting on what Lotus learns pay? The economics of a season

`{cmd}` (sealed evaluation seeds {seeds[0]}-{seeds[-1]} of validity_seeds.yaml's
`economics` cell; commit {stamp['commit'][:12]}{dirty}, code {stamp['code_hash']}). Each seed is a
planted closed-loop market (`default_spec()`, the generator's default effect) and its null
twin (`null_spec()`), {size.days} nights x {size.hours[1] - size.hours[0]} h x
{len(size.coins)} coins, the whole chain run night after night through the real pipeline,
in two arms: learning on, and learning frozen after night 1 (no sig or tr priors version
after night 1's, the DM calibration of day 2 kept; bench/economics.py says how). Paper
equity {equity:,.0f} USD at the start; net P&L is the equity change with fees and funding
in; mean over seeds with its 95 % t-interval. {cpu:.1f} h of CPU over {len(markets)}
markets; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end. Every night's
figures with their intervals: `python -m bench economics --from-json {RESULTS_NAME}`.

{compact(s)}
"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_sealed_options(ap, "economics", "twins", 3, "markets (a 24 h x 3-coin one peaks near "
                       "3.7 GB RSS)")
    ap.add_argument("--nights", type=int, default=10, help="days in the season, each with its "
                    "night")
    ap.add_argument("--hours", type=_hours, default=(0, 24), help="UTC hours of each day")
    ap.add_argument("--coins", default="BTC,ETH,SOL")
    ap.add_argument("--resume", action="store_true",
                    help="with --json (rewritten as each market finishes): keep the markets "
                    "that file already holds and run the rest (same seeds partition and size, "
                    "else refused)")
    args = ap.parse_args(argv)
    if args.from_json is not None:
        return rendered(json.loads(args.from_json.read_text()), args.write)
    if args.nights < 2:
        ap.error("--nights: need >= 2 (the arms are the same on days 1-2 and part from day 3)")
    refuse_unsealed_write(ap, args)
    if args.resume and args.json is None:
        ap.error("--resume needs --json (the file whose markets are kept)")
    from lotus_core.learning.validity_seeds import load_seeds

    partition = "evaluation" if args.final else "tuning"
    seeds = load_seeds().seeds(partition, "economics", "twins", args.seeds)
    size = Size(days=args.nights, hours=args.hours,
                coins=tuple(c for c in args.coins.split(",") if c))
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    done = resumed(args.json, partition, size) if args.resume else []

    def keep(markets: list[dict[str, Any]]) -> None:
        if args.json:
            _write_atomic(args.json, kept_rows(partition, seeds, size,
                                               [load0, os.getloadavg()[0]], markets))

    markets = run_markets(seeds, size, args.workers, args.workdir, done, keep)
    rows = [r for m in markets for r in m["rows"]]
    load = [load0, os.getloadavg()[0]]
    s = summarise(rows)
    print(markdown(s))
    cpu = sum(m["cpu_s"] for m in markets)
    print(f"{len(markets)} markets x 2 arms: {cpu / 60:.1f} min CPU, "
          f"{(time.perf_counter() - t0) / 60:.1f} min wall; load average {load[0]:.1f} at the "
          f"start, {load[1]:.1f} at the end ({partition} seeds {seeds[0]}-{seeds[-1]})")
    if args.write:
        _write(s, rows, markets, size, load)
    return {"rows": rows, "summary": s, "markets": markets}


def _write(s: dict[str, Any], rows: Sequence[dict[str, Any]],
           markets: Sequence[dict[str, Any]], size: Size, load: Sequence[float]) -> None:
    """The BENCHMARKS.md section and the headline record of sealed rows (the seeds whose
    markets finished: a cell's first n, as the command names them)."""
    from bench.report import headline, write_section

    seeds = sorted({m["seed"] for m in markets})
    cmd = (f"python -m bench economics --final --seeds {len(seeds)} --nights {size.days} "
           f"--hours {size.hours[0]}-{size.hours[1]} --coins {','.join(size.coins)}")
    write_section("economics", section(s, rows, markets, cmd, size, load))
    t = s["targets"]
    season = {(r["market"], r["arm"]): r for r in s["table"] if r["night"] == "season"}
    headline("economics",
             f"season net, learning on: planted {fmt(season['planted', 'on']['net'])} "
             f"USD, null {fmt(season['null', 'on']['net'])}; learning on - frozen: "
             f"planted {t[3]['figure']}, null {t[4]['figure']}; targets met "
             f"{sum(x['met'] is True for x in t)}/{len(t)}",
             f"95 % t-interval over {len(seeds)} sealed seeds", command=cmd)


def _size_of(size: Size) -> dict[str, Any]:
    return {"nights": size.days, "hours": list(size.hours), "coins": list(size.coins)}


def kept_rows(partition: str, seeds: Sequence[int], size: Size, load: Sequence[float],
              markets: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What `--json` keeps: the run's seeds and size, each market's cost and stamp, the rows."""
    return {"partition": partition, "seeds": list(seeds), "load": list(load),
            "size": _size_of(size),
            "markets": [{k: v for k, v in m.items() if k != "rows"} for m in markets],
            "rows": [r for m in markets for r in m["rows"]]}


def _write_atomic(path: Path, kept: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(kept, indent=1))
    os.replace(tmp, path)


def resumed(path: Path, partition: str, size: Size) -> list[dict[str, Any]]:
    """The finished markets a kept file holds (none if it does not exist), each with its rows;
    refused if the file was kept for other seeds or another size."""
    if not path.exists():
        return []
    kept = json.loads(path.read_text())
    if kept["partition"] != partition or kept["size"] != _size_of(size):
        raise SystemExit(f"--resume: {path} holds {kept['partition']} seeds at {kept['size']}"
                         f", not {partition} at {_size_of(size)}")
    out = []
    for m in kept["markets"]:
        rows = [r for r in kept["rows"] if (r["seed"], r["market"]) == (m["seed"], m["market"])]
        out.append({**m, "rows": rows})
    print(f"--resume: {len(out)} markets kept in {path}", flush=True)
    return out


def rendered(kept: dict[str, Any], write: bool) -> dict[str, Any]:
    """The tables of a run's kept rows (`--json`); `write`: its BENCHMARKS.md section and
    headline again (only for sealed seeds)."""
    rows, markets = kept["rows"], kept["markets"]
    size = Size(days=kept["size"]["nights"], hours=tuple(kept["size"]["hours"]),
                coins=tuple(kept["size"]["coins"]))
    s = summarise(rows)
    print(markdown(s))
    if write:
        if kept["partition"] != "evaluation":
            raise SystemExit("--write records sealed evidence: these rows are tuning seeds")
        _write(s, rows, markets, size, kept["load"])
    return {"rows": rows, "summary": s, "markets": markets}


if __name__ == "__main__":
    main()
