"""Same tickets, same paper tables: `paper_day` on a generated busy day saved before a change
to lotus_core/trader and compared after it (`pd.testing.assert_frame_equal`), so a speed-up
is shown not to move a single fill, report or state byte.

    python -m bench trader_identical save  [--hours 2]   # before the change
    python -m bench trader_identical check [--hours 2]   # after it

Cases: the busy bench's settings and decisions (bench.trader_busy); the default settings
(two venues, barriers, TWAP) on the same decisions; queue `mode: sampled`; the packed
replay form (`ReplayDay`); and a second day carried over from the first (restore).
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import pandas as pd

from bench.microtape import BENCH_DAY
from bench.trader_busy import busy_decisions, busy_recording, busy_settings

OUT = Path(".lotus/bench/trader_identical")


def tables(hours: int) -> dict[str, pd.DataFrame]:
    from lotus_core.feed.packed import ReplayDay
    from lotus_core.feed.parse import parse_recording
    from lotus_core.trader.config import trader_settings
    from lotus_core.trader.nightly import paper_day
    from lotus_core.trader.replay import Decision

    coins = ["BTC", "ETH", "SOL", "HYPE"]
    day = parse_recording(busy_recording(hours, coins, 1), BENCH_DAY.isoformat())
    decs = busy_decisions(day, coins, 120)
    # the settings the "before" tables were made with (fixed here, whatever the bench uses)
    busy = trader_settings({**busy_settings(coins).model_dump(), "stop_loss_bps": 20.0,
                            "take_profit_bps": 30.0})
    sampled = trader_settings({**busy.model_dump(), "queue": {"mode": "sampled", "power": 3.0,
                                                             "seed": 7}})
    out = {}
    out["busy"], _ = paper_day(busy, day, decs)
    out["default"], _ = paper_day(trader_settings({}), day, decs)
    out["sampled"], _ = paper_day(sampled, day, decs)
    out["packed"], _ = paper_day(busy, ReplayDay.of(day), decs)
    again = [Decision(d.ts_ms, {**d.ticket, "decision_id": "next-" + d.ticket["decision_id"]})
             for d in busy_decisions(day, coins, 300)]
    out["carried"], _ = paper_day(busy, day, again, previous=out["busy"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["save", "check"])
    ap.add_argument("--hours", type=int, default=2)
    args = ap.parse_args()
    path = OUT / f"h{args.hours}.pkl"
    now = tables(args.hours)
    if args.what == "save":
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(now))
        print({k: len(v) for k, v in now.items()})
        return
    before = pickle.loads(path.read_bytes())
    for k, v in before.items():
        pd.testing.assert_frame_equal(v, now[k])
        print(f"{k}: {len(v)} rows identical")


if __name__ == "__main__":
    main()
