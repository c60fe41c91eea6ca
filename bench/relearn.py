"""Re-run the lessons stage night by night over a closed-loop market's lake with another
learning configuration (the packaged one by default): how the planted rule's z and the
night's bar move when only the search changes (docs/validity.md, "How much data the default
effect needs"). Reads signal_events and signal_eval; writes nothing.

The windows and their outcomes are the market's; what the priors published is not re-played
(the lessons learn from every window, published or not), so a night here is the night the
pipeline would have had with this configuration, up to the earlier nights' priors.

Usage: python -m bench relearn LAKE_DIR [--learning PATH] [--dates D1,D2,...]
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from bench.closed_loop import DETECTOR, PLANTED


def relearn(lake_dir: Path, dates: list[str], learning: str | None = None) -> list[dict]:
    from lotus_core.learning import pipeline
    from lotus_core.learning.config import load_learning
    from lotus_core.signals import load_scoring
    from lotus_core.store.lake import Lake

    cfg = load_learning(learning)
    base = load_scoring(None).context
    lake = Lake(lake_dir)
    previous = pd.DataFrame()
    out = []
    for day in dates:
        d = date.fromisoformat(day)
        span = [(d - timedelta(days=i)).isoformat() for i in range(cfg.window_days - 1, -1, -1)]
        have = [x for x in span if x in set(dates)]
        events = pd.concat([lake.read("signal_events", x).assign(date=x) for x in have],
                           ignore_index=True)
        evals = pd.concat([lake.read("signal_eval", x).assign(date=x) for x in have],
                          ignore_index=True)
        tw = pipeline.window_from_lake(events, evals, cfg, base, None)
        lessons, _ = pipeline.lessons(tw, previous, day, cfg)
        previous = lessons
        rule = f"{PLANTED[0]}={PLANTED[1]}"
        hit = lessons[(lessons["detector_id"] == DETECTOR) & (lessons["rule"] == rule)]
        row = {"date": day, "features": len(cfg.quantizer.features),
               "active": sorted(f"{r.detector_id}: {r.rule} ({r.uplift_bps:+.2f})"
                                for r in lessons[lessons["state"] == "active"].itertuples())}
        if len(hit):
            h = hit.iloc[0]
            row.update(z=float(h["z"]), z_crit=float(h["z_crit"]),
                       uplift=float(h["uplift_bps"]), state=str(h["state"]),
                       reason=str(h["reason"]))
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lake", type=Path)
    ap.add_argument("--learning", default=None)
    ap.add_argument("--dates", required=True)
    a = ap.parse_args()
    relearn(a.lake, a.dates.split(","), a.learning)


if __name__ == "__main__":
    main()
