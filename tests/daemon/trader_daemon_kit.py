"""A recorded day, decisions for it, and a replay source for the trader loop (tests and the
kill -9 child process share them)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.inbox import deliver_to_inbox
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.signing import sign
from lotus_core.feed.parse import parse_recording
from lotus_core.feed.tables import FeedDay
from lotus_core.synth.generator import generate_day
from lotus_core.synth.spec import default_spec
from lotus_core.trader.config import TraderSettings, trader_settings
from lotus_core.trader.replay import Decision, market_events
from lotus_core.trader.reports import iso

DAY = date(2026, 1, 3)
COINS = ["BTC", "ETH"]


def make_day(out: Path) -> Path:
    return generate_day(out, DAY, COINS, 7, default_spec(), hours=(12, 13))[0]


SECTION = {"max_slippage_bps": 20.0, "stop_loss_bps": 30.0, "take_profit_bps": 60.0,
           "limit_cancel_after_ms": 30_000}  # the `trader:` settings of these tests


def settings() -> TraderSettings:
    return trader_settings(dict(SECTION))


def decisions(day: FeedDay, n: int = 12) -> list[Decision]:
    t0 = int(day.books.meta["recv_ts_ms"].min()) + 30_000
    span = int(day.books.meta["recv_ts_ms"].max()) - t0 - 60_000
    out = []
    for k in range(n):
        ts = t0 + k * span // n
        coin = COINS[k % 2]
        w = (0.15, -0.1, 0.0)[k % 3]
        t: dict[str, Any] = {
            "schema_ver": "dm-decision-1.0", "decision_id": f"dec{k:02d}", "asof_ts": iso(ts),
            "portfolio_id": "default", "target_type": "weights", "targets": {coin: w},
            "horizon": "10m", "confidence": 0.5, "valid_until": iso(ts + 120_000),
            "rationale": {"top_alphas": ["det:test"]},
        }
        if k % 4 == 1:
            t["audit_refs"] = {"tr.execution_strategy": "limit"}
        if k % 4 == 3:
            t["audit_refs"] = {"tr.execution_strategy": "twap"}
        out.append(Decision(ts, t))
    return out


def deliver(fabric: Any, decs: list[Decision], key: Any) -> None:
    with fabric.transaction() as tx:
        for d in decs:
            env = build_envelope(sender="dm", to=["tr"], intent="DM_DECISION",
                                 payload=d.ticket, lifecycle_id=f"life-{d.ticket['decision_id']}")
            deliver_to_inbox(tx, "tr", sign(env, key), models_map=load_modules().map)


def replay_source(day: FeedDay, pace_every: int = 0, pace_sec: float = 0.0):  # noqa: ANN201
    events = list(market_events(day))

    def gen(start: int) -> Iterator[tuple[int, Any]]:
        for i in range(start, len(events)):
            if pace_every and i % pace_every == 0:
                time.sleep(pace_sec)
            yield i + 1, events[i]
    return gen


def run_child(feed: str, fabric_url: str, key_dir: str, home: str) -> None:
    """The kill -9 subject: a daemon hosting only the trader loop on a paced replay."""
    import logging
    import signal

    from lotus_daemon.host import Daemon
    from lotus_daemon.loops.trader import TraderLoop

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    day = parse_recording(Path(feed))
    loop = TraderLoop(settings(), source=replay_source(day, pace_every=200, pace_sec=0.02),
                      checkpoint_events=500)
    d = Daemon(fabric_url, Path(key_dir), Path(home), [loop], heartbeat_sec=0.5)
    signal.signal(signal.SIGTERM, lambda *_: d.request_stop())
    d.serve()


if __name__ == "__main__":
    run_child(*sys.argv[1:5])
    print(json.dumps({"done": True}))
