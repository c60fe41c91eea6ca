"""Does `funding_pctl` land where a funding context defined against the coin's own history
holds? The flow market (lotus_core.flowmarket, a generator written from another model than
synth's) plants its interaction where the hour's funding is above the 80th percentile of
the previous 72 hourly values; its truth file flags those hours.

Per sealed seed: five flow-market days of one coin; the fourth and fifth days' MicroTapes
built twice, funding ranked inside the grid's trailing 4 hours (`funding_rank_days` 0) and
against the coin's three days before (3). Per hour: the mean `funding_pctl` and the share
of rows in the `hi` tercile. Reported per timescale: the AUC of the hour's mean in telling
the flagged hours from the others, the hi share in flagged and in other hours; the mean over
seeds with a 95 % t interval, and the command.

    python -m bench context_timescale --seeds 8 --evaluation
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from lotus_core.feed.parse import parse_recording
from lotus_core.flowmarket import FlowSpec, generate_days
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.microtape.context_history import context_history

START = date(2026, 3, 1)
DAYS = 5
SCORED = (3, 4)  # the fourth and fifth days: three days of history behind each
HOUR_MS = 3_600_000
TIMESCALES = {"4 h of grid points": 0, "3 days": 3}
HI = 2 / 3


def _hours(feed: Path, day: str, coin: str, params: MicroTapeParams
           ) -> list[tuple[bool, float, float]]:
    """(flagged, mean funding_pctl, share in hi) of each generated hour of `day`."""
    tape = build_microtape(parse_recording(feed / f"{day}.jsonl.gz", day), params,
                           history=context_history(feed, day, params))
    tape = tape[tape["coin"] == coin]
    truth = json.loads((feed / f"{day}.truth.json").read_text())
    out = []
    for h in truth["per_coin"][coin]["funding"]["hours"]:
        inside = (tape["ts_ms"] >= h["start_ms"]) & (tape["ts_ms"] < h["start_ms"] + HOUR_MS)
        p = tape.loc[inside, "funding_pctl"].to_numpy()
        p = p[np.isfinite(p)]
        if len(p):
            out.append((bool(h["high"]), float(p.mean()), float((p >= HI).mean())))
    return out


def one_seed(seed: int, hours: tuple[int, int], coin: str) -> dict[str, Any]:
    """The agreement of each timescale with the planted hours on one seed's market."""
    with tempfile.TemporaryDirectory(prefix="ctx-timescale-") as tmp:
        feed = Path(tmp)
        generate_days(feed, START, DAYS, [coin], seed, FlowSpec(), hours=hours)
        days = [(START + timedelta(days=i)).isoformat() for i in SCORED]
        row: dict[str, Any] = {"seed": seed}
        for name, n in TIMESCALES.items():
            params = MicroTapeParams(funding_rank_days=n)
            hrs = [h for day in days for h in _hours(feed, day, coin, params)]
            flag = np.array([h[0] for h in hrs], dtype=bool)
            mean = np.array([h[1] for h in hrs], dtype=float)
            share = np.array([h[2] for h in hrs], dtype=float)
            auc = (stats.mannwhitneyu(mean[flag], mean[~flag]).statistic
                   / (flag.sum() * (~flag).sum())) if flag.any() and (~flag).any() else np.nan
            row[name] = {"hours": len(hrs), "flagged": int(flag.sum()), "auc": float(auc),
                         "hi_flagged": float(share[flag].mean()) if flag.any() else np.nan,
                         "hi_other": float(share[~flag].mean()) if (~flag).any() else np.nan}
    return row


def _mean_ci(values: list[float], bounds: tuple[float, float] = (-np.inf, np.inf)) -> str:
    """Mean and 95 % t interval (clipped to `bounds`) of the finite values."""
    x = np.asarray([v for v in values if np.isfinite(v)])
    if len(x) < 2:
        return f"{x.mean():.3f} (one seed)" if len(x) else "-"
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    lo, hi = max(x.mean() - half, bounds[0]), min(x.mean() + half, bounds[1])
    return f"{x.mean():.3f} [{lo:.3f}, {hi:.3f}]"


def summary(rows: list[dict[str, Any]], part: str) -> tuple[list[str], str, str]:
    """(the printed lines, the headline figure, its spread) of the seeds' rows: each
    timescale's AUC and hi shares, and the AUC's paired difference (days - hours) over the
    seeds whose scored days hold planted hours."""
    short, long = TIMESCALES
    unit = (0.0, 1.0)
    held = [r for r in rows if r[short]["flagged"] > 0]
    lines = []
    for name in TIMESCALES:
        cell = [r[name] for r in rows]
        lines.append(f"{part}, {len(rows)} seeds, ranked on {name}: AUC "
                     f"{_mean_ci([c['auc'] for c in cell], unit)}; hi share in the planted "
                     f"hours {_mean_ci([c['hi_flagged'] for c in cell], unit)}, in the others "
                     f"{_mean_ci([c['hi_other'] for c in cell], unit)}")
    gain = _mean_ci([r[long]["auc"] - r[short]["auc"] for r in held])
    lines.append(f"AUC, {long} minus {short}, paired over the {len(held)} seeds with planted "
                 f"hours: {gain}")
    figure = (f"funding_pctl's AUC for the planted funding hours "
              f"{_mean_ci([r[long]['auc'] for r in held], unit)} ranked on {long}, "
              f"{_mean_ci([r[short]['auc'] for r in held], unit)} on {short}; paired gain "
              f"{gain}")
    spread = (f"over the {len(held)} of {len(rows)} {part} seeds whose scored days hold "
              "planted hours, 95 % t intervals")
    return lines, figure, spread


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=4, help="flow-market seeds")
    ap.add_argument("--evaluation", action="store_true", help="the sealed seeds")
    ap.add_argument("--hours", default="0-24", help="UTC hours generated each day")
    ap.add_argument("--coin", default="BTC")
    ap.add_argument("--write", action="store_true",
                    help="record the headline (bench/results/headline.jsonl)")
    args = ap.parse_args(argv)
    lo, hi = (int(x) for x in args.hours.split("-"))
    part = "evaluation" if args.evaluation else "tuning"
    seeds = load_seeds().seeds(part, "flowmarket", "twins", args.seeds)
    rows = []
    for seed in seeds:
        rows.append(one_seed(seed, (lo, hi), args.coin))
        print(json.dumps(rows[-1]), flush=True)
    lines, figure, spread = summary(rows, part)
    for line in lines:
        print(line, flush=True)
    if args.write:
        from bench.report import headline

        headline("context_timescale", figure, spread)

if __name__ == "__main__":
    main()
