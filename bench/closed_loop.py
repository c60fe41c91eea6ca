# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""The closed loop through the real Dagster pipeline, with controls.

For each seed, two generated markets that differ only in the planted effect: the generator's
default spec (`default_spec()`: +8 bps over 60 s after a sweep-then-stall under high OI, 3
triggers per coin-hour, a funding decoy that tracks OI 80 % of the time) and its null twin
(`null_spec()`: the same patterns and decoy, no effect). Days 1..k are materialised (MicroTape,
DSI, signals, outcomes, lessons, braids, priors), then day k+1 is scored with the priors those
nights compiled and, in a copy of the home with no priors, without them.

Judged per market:
- planted lesson: the last night activates a lesson of `sweep_stall_v1` whose rule names the
  planted context literally (`oi_pctl_bin=hi`) with a positive uplift, and it is in force on
  day k+1;
- planted-looking (null control): any night activates a lesson of any detector naming
  `oi_pctl_bin=hi` with a positive uplift;
- next day: paired comparison over the scored day's windows. The statistic is the mean net
  return (60 s, bps) of the published windows with the priors minus that of the same day's
  published windows without them; both arms are the same windows, outcomes and exploration
  draws, so only the priors differ. Interval: hour-block bootstrap (the day's hours resampled
  with replacement, both arms together), percentile, 95 %.

Usage: nice -n 10 python -m bench closed_loop [--seeds 3] [--first-seed 1] [--days 5]
                                              [--hours 0-8] [--coins BTC,ETH,SOL]
                                              [--resamples 2000] [--workers 1]
                                              [--no-write] [--json PATH]
`--days` counts the scored day (days-1 nights learn). Writes the `closed_loop` section of
BENCHMARKS.md (docs/validity.md quotes its summary by hand: a reference page, not a log).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DETECTOR = "sweep_stall_v1"
PLANTED = ("oi_pctl_bin", "hi")
DECOY = ("funding_pctl_bin", "hi")
HORIZON_S = 60
START = date(2026, 2, 2)
LOOP_ASSETS = ["raw_feed", "dsi_model", "microtape_frames", "microtape_days",
               "dsi_annotations", "dsi_coin_stats", "dsi_experts", "detector_windows",
               "detector_windows_days", "detector_audits", "detector_audit_status",
               "scoring_day", "signal_events", "curator_log", "curator_tallies",
               "curator_kpis", "meta_signals", "signal_events_days", "signal_eval",
               "signal_eval_days", "signal_eval_late", "lesson_atoms", "lessons",
               "watchdog_alerts", "braids", "meta_braids", "active_priors"]
"""Every asset upstream of the next day's priors; the trading assets downstream of them (DM,
paper trades, executor scores, loop report, detector cards) cannot change what is learned."""


@dataclass(frozen=True)
class Size:
    """How much market each run generates: `days` includes the scored day."""

    days: int = 5
    hours: tuple[int, int] = (0, 8)
    coins: tuple[str, ...] = ("BTC", "ETH", "SOL")

    @property
    def dates(self) -> list[str]:
        return [(START + timedelta(days=i)).isoformat() for i in range(self.days)]

    def text(self) -> str:
        return (f"{self.days - 1} learning days + 1 scored day x {self.hours[1] - self.hours[0]} h "
                f"x {len(self.coins)} coins")


def names_literal(rule: str, literal: tuple[str, str]) -> bool:
    from lotus_core.signals.context import parse_cond_key

    return literal in parse_cond_key(rule)


def planted_lessons(lessons: pd.DataFrame, detector: str | None = DETECTOR,
                    literal: tuple[str, str] = PLANTED) -> pd.DataFrame:
    """Active lessons naming `literal` with a positive uplift (of `detector`, or any if None)."""
    act = lessons[(lessons["state"] == "active") & (lessons["uplift_bps"] > 0)]
    if detector is not None:
        act = act[act["detector_id"] == detector]
    return act[[names_literal(r, literal) for r in act["rule"]]]


# --- the paired comparison ------------------------------------------------------------------


def _hour_sums(pairs: pd.DataFrame) -> np.ndarray:
    """Per hour block: [sum y with, n with, sum y without, n without] (H x 4)."""
    hour = (pairs["ts_ms"].to_numpy() // 3_600_000).astype(np.int64)
    y = pairs["net_ret_bps"].to_numpy(dtype=np.float64)
    a = pairs["pub_with"].to_numpy(dtype=bool)
    b = pairs["pub_without"].to_numpy(dtype=bool)
    cols = np.stack([np.where(a, y, 0.0), a.astype(float), np.where(b, y, 0.0),
                     b.astype(float)], axis=1)
    _, inv = np.unique(hour, return_inverse=True)
    out = np.zeros((inv.max() + 1 if len(inv) else 0, 4))
    np.add.at(out, inv, cols)
    return out


def _diff(t: np.ndarray) -> np.ndarray:
    """Mean published return with minus without, from summed columns (... x 4)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return t[..., 0] / t[..., 1] - t[..., 2] / t[..., 3]


def _hour_bootstrap(sums: Sequence[np.ndarray], stat: Callable[[np.ndarray], np.ndarray],
                    resamples: int, ci: float, seed: int) -> tuple[float, float, float]:
    """(statistic, lo, hi): `stat` of the summed hour-block columns, and its percentile
    interval with each group's hours resampled within the group (the groups pooled)."""
    rng = np.random.default_rng(seed)
    width = next((x.shape[1] for x in sums), 1)
    total, boot = np.zeros(width), np.zeros((resamples, width))
    for x in sums:
        if len(x) == 0:
            continue
        total += x.sum(axis=0)
        boot += rng.multinomial(len(x), np.full(len(x), 1 / len(x)), size=resamples) @ x
    with np.errstate(invalid="ignore", divide="ignore"):
        d, bs = float(stat(total)), stat(boot)
    bs = bs[np.isfinite(bs)]
    a = (1 - ci) / 2
    lo, hi = (np.quantile(bs, [a, 1 - a]) if len(bs) else (np.nan, np.nan))
    return d, float(lo), float(hi)


def paired_ci(groups: Sequence[pd.DataFrame], resamples: int = 2000, ci: float = 0.95,
              seed: int = 13) -> dict[str, Any]:
    """The paired difference of mean published net return (with - without priors) and its
    hour-block bootstrap interval; several groups (seeds) are resampled within each group and
    pooled (each group keeps its own hours)."""
    sums = [_hour_sums(pairs) for pairs in groups]
    d, lo, hi = _hour_bootstrap(sums, _diff, resamples, ci, seed)
    total = sum((x.sum(axis=0) for x in sums if len(x)), np.zeros(4))
    n_changed = sum(int((g["pub_with"] != g["pub_without"]).sum()) for g in groups)
    return {"diff_bps": d, "lo": lo, "hi": hi, "ci": ci,
            "with_bps": float(total[0] / total[1]) if total[1] else float("nan"),
            "without_bps": float(total[2] / total[3]) if total[3] else float("nan"),
            "n_with": int(total[1]), "n_without": int(total[3]), "n_changed": n_changed,
            "resamples": resamples}


def planted_context(pairs: pd.DataFrame) -> np.ndarray:
    """The planted detector's windows whose context names the planted literal."""
    from lotus_core.signals.context import parse_cond_key

    return np.array([d == DETECTOR and PLANTED in parse_cond_key(k)
                     for d, k in zip(pairs["detector_id"], pairs["cond_key"], strict=True)],
                    dtype=bool)


def _sized_hour_sums(pairs: pd.DataFrame) -> np.ndarray:
    """Per hour block: [sum of (published x |sigma|) x net return, with - without; windows]."""
    y = pairs["net_ret_bps"].to_numpy(dtype=np.float64)
    w = (pairs["pub_with"].to_numpy(dtype=bool) * np.abs(pairs["sigma_with"].to_numpy(float))
         - pairs["pub_without"].to_numpy(dtype=bool)
         * np.abs(pairs["sigma_without"].to_numpy(float)))
    _, inv = np.unique((pairs["ts_ms"].to_numpy() // 3_600_000).astype(np.int64),
                       return_inverse=True)
    out = np.zeros((inv.max() + 1 if len(inv) else 0, 2))
    np.add.at(out, inv, np.stack([w * y, np.ones_like(y)], axis=1))
    return out


def sized_ci(groups: Sequence[pd.DataFrame], resamples: int = 2000, ci: float = 0.95,
             seed: int = 13) -> dict[str, Any]:
    """The paired difference a sizer sees: per window (published x |sigma|) x net return,
    with minus without the priors, averaged over the windows (bps per window at unit sigma).
    A positive patch on windows that are published either way changes no publication, so
    the mean published return (`paired_ci`) cannot see it; this can. Hour-block bootstrap,
    each group resampled within itself."""
    sums = [_sized_hour_sums(pairs) for pairs in groups]
    d, lo, hi = _hour_bootstrap(sums, lambda t: t[..., 0] / t[..., 1], resamples, ci, seed)
    return {"diff_bps": d, "lo": lo, "hi": hi, "ci": ci,
            "n": int(sum(len(g) for g in groups))}


def twin_pairs(planted: tuple[pd.DataFrame, pd.DataFrame],
               null: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """The windows both twins scored, matched by window id, with each twin's settled 60 s net
    return: (signal_events, signal_eval) of the planted market and of its null twin. The
    twins share every random draw but the planted move, so `y_planted - y_null` is what the
    effect did to that window (0 where no planted move reached it), without the noise."""
    def one(events: pd.DataFrame, outcome: pd.DataFrame, tag: str) -> pd.DataFrame:
        y = outcome[(outcome["horizon_s"] == HORIZON_S) & (outcome["status"] == "done")]
        y = y.set_index("window_id")["net_ret_bps"]
        out = events[["window_id", "ts_ms", "detector_id", "cond_key"]].copy()
        out[f"y_{tag}"] = y.reindex(out["window_id"]).to_numpy()
        return out.rename(columns={"cond_key": f"cond_key_{tag}"})

    m = one(*planted, "planted").merge(one(*null, "null").drop(columns=["ts_ms", "detector_id"]),
                                       on="window_id", how="inner")
    return m[np.isfinite(m["y_planted"]) & np.isfinite(m["y_null"])].reset_index(drop=True)


def twin_ci(pairs: pd.DataFrame, resamples: int = 2000, ci: float = 0.95,
            seed: int = 13) -> dict[str, Any]:
    """Mean of y_planted - y_null over `pairs` and its hour-block bootstrap interval."""
    d = (pairs["y_planted"] - pairs["y_null"]).to_numpy(dtype=np.float64)
    _, inv = np.unique((pairs["ts_ms"].to_numpy() // 3_600_000).astype(np.int64),
                       return_inverse=True)
    sums = np.zeros((inv.max() + 1 if len(inv) else 0, 2))
    np.add.at(sums, inv, np.stack([d, np.ones_like(d)], axis=1))
    m, lo, hi = _hour_bootstrap([sums], lambda t: t[..., 0] / t[..., 1], resamples, ci, seed)
    return {"diff_bps": m, "lo": lo, "hi": hi, "ci": ci, "n": len(pairs),
            "hours": len(sums)}


def t_ci(xs: Sequence[float], ci: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of per-seed figures (seeds as the unit)."""
    from scipy import stats

    x = np.asarray([v for v in xs if np.isfinite(v)], dtype=float)
    if len(x) < 2:
        m = float(x.mean()) if len(x) else float("nan")
        return m, float("nan"), float("nan")
    m, se = float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))
    q = float(stats.t.ppf(0.5 + ci / 2, len(x) - 1))
    return m, m - q * se, m + q * se


# --- one market through the real pipeline ---------------------------------------------------


NIGHT_ASSETS = ["lesson_atoms", "lessons", "watchdog_alerts", "braids", "meta_braids",
                "active_priors"]
"""A day's own learning night: it compiles the NEXT day's priors, so the closed loop's scored
(last) day never needs it."""


def scored_day_selection() -> Any:
    """Every asset but the day's own night and what reads it (the loop report): the scored
    day's whole trading chain (DM, paper trades, executor lessons) under the priors the
    nights before compiled, without the costliest step of the day (the lessons search)."""
    import dagster as dg

    return dg.AssetSelection.all() - dg.AssetSelection.assets(*NIGHT_ASSETS).downstream()


def materialise(settings: Any, instance: Any, day: str, selection: Any = None) -> None:
    from lotus_assets.chain import sized_assets
    from lotus_assets.day_plan import materialize_day
    from lotus_core.config.shared import shared_values
    from lotus_location.definitions import build_resources

    result = materialize_day(sized_assets(shared_values(settings)), partition_key=day,
                             instance=instance, resources=build_resources(settings),
                             selection=selection, raise_on_error=False)
    if not result.success:
        errs = [str(e.step_failure_data.error and e.step_failure_data.error.message)
                for e in result.all_events if e.is_step_failure]
        raise RuntimeError(f"materialising {day} failed: {errs}")


def _settings(home: Path, feed: Path) -> Any:
    from lotus_core.config import load_settings

    return load_settings(overrides={"home": str(home), "feed_dir": str(feed),
                                    "verify_manifest": False}, env={})


@contextmanager
def built_market(root: Path, spec: Any, seed: int, size: Size,
                 selection: list[str] | None = LOOP_ASSETS, scored_last_day: bool = False
                 ) -> Iterator[tuple[Any, Any]]:
    """Generate the market and materialise every day in order (the `selection`, None = every
    asset; `scored_last_day`: the last day with `scored_day_selection()`); yields (settings,
    instance)."""
    import dagster as dg

    from lotus_core.synth import generate_days

    feed = root / "feed"
    generate_days(feed, START, size.days, list(size.coins), seed=seed, spec=spec,
                  hours=size.hours)
    settings = _settings(root / "home", feed)
    (root / "dagster").mkdir()
    from lotus_resources.event_log import instance_overrides

    with dg.instance_for_test(temp_dir=str(root / "dagster"),
                              overrides=instance_overrides(root / "dagster")) as instance:
        for day in size.dates:
            last = scored_last_day and day == size.dates[-1]
            materialise(settings, instance, day, scored_day_selection() if last else selection)
        yield settings, instance


def score_without_priors(settings: Any, instance: Any, day: str, home: Path) -> pd.DataFrame:
    """`day`'s signal_events re-scored in a copy of the home whose fabric holds no priors."""
    from lotus_core.store.lake import Lake
    from lotus_core.store.opsdb import OpsDb

    shutil.copytree(settings.home, home)
    bare = _settings(home, Path(settings.feed_dir))
    with OpsDb.open(bare.fabric) as fabric, fabric.transaction() as tx:
        tx.execute("DELETE FROM sig_priors")
    # the priors reach the coins' scoring through the day's scoring_day: made again too
    materialise(bare, instance, day, selection=["scoring_day", "signal_events", "curator_log",
                                                 "curator_tallies", "curator_kpis",
                                                 "meta_signals"])
    return Lake(bare.lake_dir).read("signal_events", day)


def paired_windows(with_priors: pd.DataFrame, without: pd.DataFrame,
                   outcome: pd.DataFrame) -> pd.DataFrame:
    """One row per scored window with a settled 60 s outcome: both arms' publication."""
    if list(with_priors["window_id"]) != list(without["window_id"]):
        raise ValueError("the two arms scored different windows")
    y = outcome[(outcome["horizon_s"] == HORIZON_S) & (outcome["status"] == "done")]
    y = y.set_index("window_id")["net_ret_bps"]
    pairs = pd.DataFrame({
        "window_id": with_priors["window_id"].to_numpy(),
        "ts_ms": with_priors["ts_ms"].to_numpy(),
        "detector_id": with_priors["detector_id"].to_numpy(),
        "cond_key": with_priors["cond_key"].to_numpy(),
        "pub_with": with_priors["published"].to_numpy(dtype=bool),
        "pub_without": without["published"].to_numpy(dtype=bool),
        "sigma_with": with_priors["det_sigma"].to_numpy(),
        "sigma_without": without["det_sigma"].to_numpy(),
        "priors_ver": with_priors["priors_ver"].to_numpy(),
    })
    pairs["net_ret_bps"] = y.reindex(pairs["window_id"]).to_numpy()
    return pairs[pairs["net_ret_bps"].notna()].reset_index(drop=True)


def planted_rule_by_night(nights: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Per night: the planted detector's single-literal rule on the planted literal (the
    rule the market plants), as the search saw it - z against the night's bar, uplift, state
    and the gates it failed - or None where it was not among the night's candidates. The
    power estimate in docs/validity.md reads these."""
    rule = f"{PLANTED[0]}={PLANTED[1]}"
    out: list[dict[str, Any]] = []
    for day, df in nights.items():
        hit = df[(df["detector_id"] == DETECTOR) & (df["rule"] == rule)] if len(df) else df
        if not len(hit):
            out.append({"date": day, "z": None})
            continue
        r = hit.iloc[0]
        out.append({"date": day, "z": float(r["z"]), "z_crit": float(r["z_crit"]),
                    "uplift_bps": float(r["uplift_bps"]), "support": int(r["support"]),
                    "state": str(r["state"]), "reason": str(r["reason"])})
    return out


def _rules(df: pd.DataFrame) -> list[str]:
    return [f"{r.detector_id}: {r.rule} ({r.uplift_bps:+.2f} bps)" for r in df.itertuples()]


def run_market(root: Path, spec: Any, seed: int, size: Size) -> dict[str, Any]:
    """One market through the pipeline: what it learned and the paired next-day windows."""
    from lotus_core.learning.priors_store import read_priors_for_date
    from lotus_core.signals.context import parse_cond_key
    from lotus_core.store.lake import Lake
    from lotus_core.store.opsdb import OpsDb

    t0, r0 = time.perf_counter(), _cpu()
    code = code_stamp()
    dates = size.dates
    scored, last_night = dates[-1], dates[-2]
    with built_market(root, spec, seed, size) as (settings, instance):
        lake = Lake(settings.lake_dir)
        nights = {d: lake.read("lessons", d) for d in dates[:-1]}
        with OpsDb.open(settings.fabric) as fabric:
            in_force = read_priors_for_date(fabric, scored)
        keys = [(p.detector_id, p.cond_key) for p in in_force.patches]
        pairs = paired_windows(lake.read("signal_events", scored),
                               score_without_priors(settings, instance, scored, root / "bare"),
                               lake.read("signal_eval", scored))
    last = nights[last_night]
    any_night = pd.concat(list(nights.values()), ignore_index=True)
    planted_ctx = planted_context(pairs)
    return {
        "seed": seed,
        "learned": _rules(planted_lessons(last)),
        "in_force": any(d == DETECTOR and PLANTED in parse_cond_key(k) for d, k in keys),
        "planted_looking_any_night": sorted(set(_rules(planted_lessons(any_night, None)))),
        "decoy_any_night": sorted(set(_rules(planted_lessons(any_night, None, DECOY)))),
        "active_last_night": _rules(last[last["state"] == "active"]),
        "patches": len(keys),
        "planted_rule": planted_rule_by_night(nights),
        "planted_windows": int(planted_ctx.sum()),
        "pairs": pairs,
        "cpu_s": _cpu() - r0,
        "wall_s": time.perf_counter() - t0,
        "stamp": code_stamp(since=code),
    }


def code_stamp(since: dict[str, Any] | None = None) -> dict[str, Any]:
    """The judged code's stamp (commit, code hash by module: `LOOP_CODE`); with `since` (the
    stamp taken when the run began), that stamp, marked if the code changed under the run."""
    from lotus_core.learning.validity_stamp import (
        LOOP_CODE,
        LOOP_EXCLUDE,
        changed_modules,
        module_hashes,
        stamp,
    )

    if since is None:
        return stamp(LOOP_CODE, LOOP_EXCLUDE)
    moved = changed_modules(since["modules"], module_hashes(LOOP_CODE, LOOP_EXCLUDE))
    return {**since, "changed_during_run": moved} if moved else since


def check_stamps(results: Sequence[dict[str, Any]], where: str) -> None:
    """Refuse (StaleEvidence) runs whose code stamp is missing or names other code than this
    checkout's learning, scoring, publication, feature or generator modules."""
    from lotus_core.learning.validity_stamp import LOOP_CODE, LOOP_EXCLUDE, check_current

    for r in results:
        for kind in ("planted", "null"):
            if kind in r:
                check_current(r[kind].get("stamp"), LOOP_CODE, LOOP_EXCLUDE,
                              what=f"{where}: seed {r['seed']} {kind}")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


# --- the bench ------------------------------------------------------------------------------


def run_seed(seed: int, size: Size, resamples: int, log: Callable[[str], None] = print,
             workdir: Path | None = None,
             kinds: Sequence[str] = ("planted", "null")) -> dict[str, Any]:
    from lotus_core.synth import default_spec, null_spec

    out: dict[str, Any] = {"seed": seed}
    specs = {"planted": default_spec(), "null": null_spec()}
    for kind in kinds:
        spec = specs[kind]
        with tempfile.TemporaryDirectory(prefix=f"closed_loop_{kind}_{seed}_",
                                         dir=workdir) as tmp:
            r = run_market(Path(tmp), spec, seed, size)
        r["paired"] = paired_ci([r["pairs"]], resamples, seed=seed)
        out[kind] = r
        log(f"seed {seed} {kind}: learned {r['learned']} in_force={r['in_force']} "
            f"planted-looking {r['planted_looking_any_night']} paired {_fmt_ci(r['paired'])} "
            f"planted rule z by night {[(n['z'], n.get('z_crit')) for n in r['planted_rule']]} "
            f"cpu {r['cpu_s']:.0f} s wall {r['wall_s']:.0f} s load {os.getloadavg()[0]:.1f}")
    return out


def _one_market(seed: int, kind: str, size: Size, resamples: int,
                workdir: Path | None) -> dict[str, Any]:
    return run_seed(seed, size, resamples, workdir=workdir, kinds=(kind,))


def run_seeds(seeds: Sequence[int], size: Size, resamples: int, workers: int = 1,
              workdir: Path | None = None,
              kinds: Sequence[str] = ("planted", "null"),
              done: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """`run_seed` for every seed; with workers > 1 every (seed, market) runs in its own
    spawned process (never forked: a fork of a threaded Dagster/pytest process can inherit
    a held lock), `workers` at a time. Each market is independent, so the results are the
    same either way. `done(seed result)` is called as each seed completes."""
    if workers <= 1:
        out = []
        for seed in seeds:
            out.append(run_seed(seed, size, resamples, workdir=workdir, kinds=kinds))
            if done:
                done(out[-1])
        return out
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    by_seed: dict[int, dict[str, Any]] = {s: {"seed": s} for s in seeds}
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        futs = {pool.submit(_one_market, s, k, size, resamples, workdir): (s, k)
                for s in seeds for k in kinds}
        for fut in as_completed(futs):
            s, k = futs[fut]
            by_seed[s][k] = fut.result()[k]
            print(f"seed {s} {k}: done", flush=True)
            if done and all(x in by_seed[s] for x in kinds):
                done(by_seed[s])
    return [by_seed[s] for s in seeds]


def save_json(path: Path, r: dict[str, Any], size: Size) -> None:
    """Append one seed's run (either or both markets) to `path` as a JSON line, stamped with
    its size and the load average, for `--from-json` (the soak tests write the same lines)."""
    r["size"] = {"days": size.days, "hours": list(size.hours), "coins": list(size.coins)}
    r["load"] = list(os.getloadavg())
    with path.open("a") as f:
        f.write(json.dumps({**r, **{k: {**r[k], "pairs": r[k]["pairs"].to_dict("list")}
                                    for k in ("planted", "null") if k in r}}) + "\n")


def load_json(paths: Sequence[Path], historical: bool = False) -> list[dict[str, Any]]:
    """The seeds saved by `save_json` (files as written, or gzipped `.gz`), one result per
    seed with both markets, seed order; a seed's markets may come from different lines
    (markets run as separate processes). Seeds with one market only are left out. A run
    made by other code than this checkout's (its stamp) is refused (`StaleEvidence`, naming
    the changed modules) unless `historical` (read as a record, judged as nothing)."""
    by_seed: dict[int, dict[str, Any]] = {}
    for path in paths:
        text = (gzip.decompress(Path(path).read_bytes()).decode() if Path(path).suffix == ".gz"
                else Path(path).read_text())
        for line in text.splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            if not historical:  # refused at its first line, before anything is built
                check_stamps([r], str(path))
            for kind in ("planted", "null"):
                if kind in r:
                    r[kind]["pairs"] = pd.DataFrame(r[kind]["pairs"])
            by_seed.setdefault(r["seed"], {}).update(r)
    return [r for _, r in sorted(by_seed.items()) if "planted" in r and "null" in r]


def _fmt_ci(p: dict[str, Any]) -> str:
    return f"{p['diff_bps']:+.2f} [{p['lo']:+.2f}, {p['hi']:+.2f}]"


def _z_nights(nights: Sequence[dict[str, Any]]) -> str:
    """`z/bar` of the planted detector's `oi_pctl_bin=hi` per night, `-` where it was not a
    candidate; `*` marks the nights it was active."""
    return ", ".join("-" if n["z"] is None else
                     f"{n['z']:.1f}/{n['z_crit']:.1f}{'*' if n['state'] == 'active' else ''}"
                     for n in nights) or "n/a"


def summarise(results: Sequence[dict[str, Any]], resamples: int) -> dict[str, Any]:
    s: dict[str, Any] = {}
    for kind in ("planted", "null"):
        rs = [r[kind] for r in results]
        s[kind] = {
            "pooled": paired_ci([r["pairs"] for r in rs], resamples, seed=1),
            "seeds_t": t_ci([r["paired"]["diff_bps"] for r in rs]),
            "learned": sum(bool(r["learned"]) and r["in_force"] for r in rs),
            "planted_looking": sum(bool(r["planted_looking_any_night"]) for r in rs),
            "n": len(rs),
            "sized_all": sized_ci([r["pairs"] for r in rs], resamples, seed=1),
            "sized_planted": sized_ci([r["pairs"][planted_context(r["pairs"])] for r in rs],
                                      resamples, seed=1),
        }
    return s


def markdown(results: Sequence[dict[str, Any]], s: dict[str, Any], size: Size) -> str:
    rows = ["| seed | market | planted lesson learned (last night, in force next day) | "
            "planted-looking, any night | decoy `funding_pctl_bin=hi`, any night | "
            "published without -> with | changed | mean net without -> with (bps) | "
            "paired diff [95 % CI] (bps) | CPU / wall (min) | `oi_pctl_bin=hi` z / bar, "
            "nights 1.. | every active lesson, last night |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for kind in ("planted", "null"):
            m, p = r[kind], r[kind]["paired"]
            learned = "; ".join(m["learned"]) or "no"
            if m["learned"] and not m["in_force"]:
                learned += " (not in force)"
            rows.append(
                f"| {r['seed']} | {kind} | {learned} | "
                f"{'; '.join(m['planted_looking_any_night']) or 'none'} | "
                f"{'; '.join(m['decoy_any_night']) or 'none'} | {p['n_without']} -> "
                f"{p['n_with']} | {p['n_changed']} | {p['without_bps']:+.2f} -> "
                f"{p['with_bps']:+.2f} | {_fmt_ci(p)} | {m['cpu_s'] / 60:.1f} / "
                f"{m['wall_s'] / 60:.1f} | {_z_nights(m.get('planted_rule', []))} | "
                f"{'; '.join(m['active_last_night']) or 'none'} |")
    summ = ["| market | planted lesson learned | planted-looking (any night) | pooled paired "
            "diff [95 % hour-bootstrap CI] (bps) | mean of per-seed diffs [95 % t CI] (bps) |",
            "|---|---|---|---|---|"]
    for kind in ("planted", "null"):
        k = s[kind]
        m, lo, hi = k["seeds_t"]
        seeds_ci = (f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo)
                    else f"{m:+.2f} (one seed: no interval)")
        summ.append(f"| {kind} | {k['learned']}/{k['n']} | {k['planted_looking']}/{k['n']} | "
                    f"{_fmt_ci(k['pooled'])} | {seeds_ci} |")
    sized = ["| market | sized paired diff, all windows [95 % CI] (bps per window at unit sigma) | "
             f"sized paired diff, `{DETECTOR}` windows in `{'='.join(PLANTED)}` [95 % CI] | "
             "those windows |", "|---|---|---|---|"]
    for kind in ("planted", "null"):
        a, p = s[kind]["sized_all"], s[kind]["sized_planted"]
        sized.append(f"| {kind} | {_fmt_ci(a)} | {_fmt_ci(p)} | {p['n']} |")
    return "\n".join([f"Size: {size.text()}; effect and trigger rate: the generator's defaults.",
                      "", *summ, "", "What a sizer sees (`sized_ci`: (published x |sigma|) x net "
                      "return, with minus without the priors, over every window of the scored "
                      "day; pooled over seeds):", "", *sized, "", *rows]) + "\n"


def _hours(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    if not sep or not lo.isdigit() or not hi.isdigit() or not 0 <= int(lo) < int(hi) <= 24:
        raise argparse.ArgumentTypeError(f"--hours: want START-END within 0-24, got {text!r}")
    return int(lo), int(hi)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bench.report import headline, machine, write_section

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=None,
                    help="default: the first seed of validity_seeds.yaml's tuning "
                    "closed_loop cell (the evaluation one with --final)")
    ap.add_argument("--final", action="store_true",
                    help="the sealed evaluation seeds (validity_seeds.yaml evaluation.closed_loop)")
    ap.add_argument("--days", type=int, default=5, help="days generated, the last one scored")
    ap.add_argument("--hours", type=_hours, default=(0, 8), help="UTC hours of each day, e.g. 0-24")
    ap.add_argument("--coins", default="BTC,ETH,SOL")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--markets", default="planted,null",
                    help="which of each seed's two markets to run (split them over processes "
                    "with --json, then summarise with --from-json)")
    ap.add_argument("--workers", type=int, default=1,
                    help="markets run at once, each in its own process (a 24 h x 3-coin market peaks "
                    "at 3.7 GB RSS)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--json", type=Path, help="append each finished seed's figures here (JSON lines)")
    ap.add_argument("--from-json", type=Path, nargs="+",
                    help="summarise seeds saved by --json (one or more files, .gz read as "
                    "gzip), no runs; refused if made by other code than this checkout's")
    ap.add_argument("--historical", action="store_true",
                    help="with --from-json: print runs made by other code as a record "
                    "(stamp not checked, nothing written)")
    args, _ = ap.parse_known_args(argv)  # `python -m bench quick` passes every bench its arguments
    if args.days < 3:
        ap.error("--days: need >= 3 (two nights before anything may activate, then a scored day)")
    size = Size(args.days, args.hours, tuple(c for c in args.coins.split(",") if c))
    if args.historical and not args.from_json:
        ap.error("--historical reads saved runs: give --from-json")
    if args.historical:
        args.no_write = True
    from lotus_core.learning.validity_seeds import load_seeds

    partition, cell = ("evaluation", "twins") if args.final else ("tuning", "soak")
    seeds = load_seeds().seeds(partition, "closed_loop", cell, args.seeds)
    if args.first_seed is not None:  # an explicit start: still inside the cell
        seeds = load_seeds().seeds(partition, "closed_loop", cell,
                                   args.first_seed - seeds[0] + args.seeds)[-args.seeds:]
        if seeds[0] != args.first_seed:
            ap.error(f"--first-seed {args.first_seed} is not in validity_seeds.yaml's "
                     f"{partition}.closed_loop[{cell}] (it starts at {seeds[0]})")
    started = datetime.now(UTC)
    load0 = os.getloadavg()
    results: list[dict[str, Any]] = []
    if args.from_json:
        try:
            results = load_json(args.from_json, historical=args.historical)
        except ValueError as exc:  # StaleEvidence
            raise SystemExit(f"bench.closed_loop --from-json: {exc}") from None
        size = Size(results[0]["size"]["days"], tuple(results[0]["size"]["hours"]),
                    tuple(results[0]["size"]["coins"]))
    else:
        results = run_seeds(seeds, size,
                            args.resamples, args.workers, kinds=args.markets.split(","),
                            done=(lambda r: save_json(args.json, r, size)) if args.json
                            else None)
    if any("planted" not in r or "null" not in r for r in results):
        print("(one market per seed run: summarise both with --from-json)")
        return {"results": results}
    s = summarise(results, args.resamples)
    table = markdown(results, s, size)
    cpu = sum(r[k]["cpu_s"] for r in results for k in ("planted", "null"))
    wall = sum(r[k]["wall_s"] for r in results for k in ("planted", "null"))
    loads = [r.get("load", [float("nan")])[0] for r in results]
    cmd = (f"python -m bench closed_loop --seeds {len(results)} --first-seed "
           f"{results[0]['seed'] if results else seeds[0]} --days {size.days} --hours "
           f"{size.hours[0]}-{size.hours[1]} --coins {','.join(size.coins)}")
    header = (f"_Command: `{cmd}`. {len(results)} seeds x 2 markets, {cpu / 60:.1f} min CPU "
              f"(`getrusage`, summed over markets), {wall / 60:.1f} min wall summed over markets on a "
              f"shared machine "
              f"(1-min load average {', '.join(f'{x:.1f}' for x in loads)} after each seed"
              + ("" if args.from_json else f", {load0[0]:.1f} at start") + "); "
              + (f"summarised {started:%Y-%m-%d %H:%M} UTC from {len(args.from_json)} saved "
                 "run file(s) (each market ran in a process of its own)"
                 if args.from_json else f"started {started:%Y-%m-%d %H:%M} UTC")
              + f" on {machine()}._")
    if args.historical:
        header = ("_HISTORICAL RECORD: made by other code than this checkout's (code stamps "
                  "not checked); it is evidence about that code only._ " + header)
    print(header + "\n\n" + table)
    if not args.no_write and results:
        write_section("closed_loop", "## The closed loop with controls\n\n" + header
                      + "\n\nDefinitions and reading: docs/validity.md, \"The real pipeline, "
                      "with controls\".\n\n" + table)
        pl, nu = s["planted"], s["null"]
        headline("closed_loop", f"planted lesson learned {pl['learned']}/{pl['n']}, "
                 f"planted-looking in the null twin {nu['planted_looking']}/{nu['n']}; the next "
                 f"day with minus without priors {_fmt_ci(pl['pooled'])} bps, null twin "
                 f"{_fmt_ci(nu['pooled'])}",
                 f"95 % hour-bootstrap CI pooled over {pl['n']} seeds", command=cmd)
    return {"results": results, "summary": s}


if __name__ == "__main__":
    main()
