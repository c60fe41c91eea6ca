"""Per-step memory: a few assets of one day materialised alone (their checks not), in this
fresh process, in process: the process's peak RSS is the steps' own (with Dagster and Lotus
imported, as a celery pool child that runs one step has), without a whole day's run. The
same step on the 3-coin and the 100-coin day says whether its memory is flat in the coins
(the goal: within 10 %, and under 2 GB at 100 coins).

    .venv/bin/python -m bench step_alone HOME FEED_DIR DAY ASSET[,ASSET...] [--coin-shards N]

HOME is a LOTUS_HOME whose lake holds the steps' inputs (materialise them first the same
way, a day's phase at a time: e.g. `raw_feed,dsi_model`, then `microtape_frames,
detector_windows,dsi_annotations,dsi_coin_stats` (a run per coin), then `dsi_experts`,
`signal_events,curator_log,curator_kpis,meta_signals`, `signal_eval`, `dm_calibration`); the
Dagster instance is a fresh temporary one. Lakes to measure on: `bench.scale` runs (a
generated day of N coins), `bench.replicate_coins` (a few-coin day copied to many coins) and
`bench.learning_memory` (a learning window of any size). Prints the selection, success, wall
seconds and the peak RSS (VmHWM) in MB as one JSON line. The headline compares runs: record
it with `python -m bench report --record step_alone --figure ... --spread ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def status_mb(field: str = "VmHWM") -> int:
    """MB of a /proc/self/status field (VmHWM: the peak RSS); 0 when the field is absent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("feed_dir", type=Path)
    ap.add_argument("day")
    ap.add_argument("assets", help="comma-separated asset keys (one step's outputs)")
    ap.add_argument("--coin-shards", type=int, default=1, help="feed.coin_shards")
    ap.add_argument("--coin", default=None,
                    help="a day x coin step: run only this coin's run (its process holds one "
                    "coin's step, as a celery pool child does; default: every coin in turn)")
    ap.add_argument("--checks", default="",
                    help="comma-separated checks of the ASSETs to run instead of materialising "
                    "them (e.g. signal_events_days --checks signal_drift): the check's step alone")
    ap.add_argument("--learning", type=Path, default=None,
                    help="a learning.yaml (settings learning.config; default: packaged)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lotus-step-alone-"))
    (work / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    lotus_yaml = work / "lotus.yaml"
    lotus_yaml.write_text(json.dumps({
        "deploy": {"executor": "in_process"}, "feed": {"coin_shards": args.coin_shards},
        **({"learning": {"config": str(args.learning)}} if args.learning else {})}))
    os.environ.update({"LOTUS_HOME": str(args.home), "LOTUS_FEED_DIR": str(args.feed_dir),
                       "LOTUS_CONFIG": str(lotus_yaml), "DAGSTER_HOME": str(work)})
    import dagster as dg

    from lotus_assets.day_plan import COINS_JOB, DAILY_JOB, coins_of_day, partition_keys
    from lotus_assets.feed import register_coins
    from lotus_core.config import load_settings
    from lotus_core.store.lake import open_lake
    from lotus_resources.deploy import lake_root
    from lotus_sensors.daily_run import daily_run_config, phases_of, reconstructable_job

    settings = load_settings()
    keys = [dg.AssetKey(k.strip()) for k in args.assets.split(",") if k.strip()]
    t0 = time.perf_counter()
    phases = [p for p in phases_of() if set(keys) & set(p.keys)]
    if len(phases) != 1 or not set(keys) <= set(phases[0].keys):
        raise SystemExit(f"{args.assets}: the assets must be of one job (lotus_daily or "
                         "lotus_coins) and of one phase of the day")
    phase = phases[0]
    # the selected assets without their checks (a check is a step of its own)
    checks = {dg.AssetCheckKey(k, c.strip()) for k in keys for c in args.checks.split(",")
              if c.strip()}
    job = reconstructable_job(COINS_JOB if phase.by_coin else DAILY_JOB).get_definition(
        ).get_subset(asset_selection=set() if checks else set(keys),
                     asset_check_selection=checks)
    config = daily_run_config(settings)
    nodes = {n.name for n in job.graph.nodes}
    config["ops"] = {k: v for k, v in config.get("ops", {}).items() if k in nodes}
    lake = open_lake(lake_root(settings))
    with dg.DagsterInstance.get() as instance:  # a day x coin step: each coin, one process
        if phase.by_coin:  # the fresh instance lists no coin yet (raw_feed registers them)
            register_coins(instance, coins_of_day(lake, args.day))
        results = [job.execute_in_process(run_config=config, instance=instance,
                                          partition_key=key, raise_on_error=False)
                   for key in partition_keys(phase, args.day,
                                             lambda: ([args.coin] if args.coin else
                                                      coins_of_day(lake, args.day)))]
    steps = sorted({e.step_key for r in results for e in r.all_events if e.step_key})
    print(json.dumps({"assets": args.assets, "checks": args.checks, "steps": steps, "day": args.day,
                      "runs": len(results),
                      "success": all(r.success for r in results),
                      "wall_s": round(time.perf_counter() - t0, 1),
                      "peak_rss_mb": status_mb()}), flush=True)


if __name__ == "__main__":
    main()
