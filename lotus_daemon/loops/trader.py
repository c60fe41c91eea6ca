"""The paper Trader as a daemon loop: DM_DECISION from tr_inbox, market events from a
source, the `lotus_core.trader` engine in between, everything it does persisted.

Each engine step that produced something (a fill, an order or position change, a report)
commits in one transaction: orders, fills, positions, tr_strand rows, signed EXEC_REPORT
envelopes (to dm and sig; trigger evaluations to dm), the engine snapshot with the source
position, and the inbox row it consumed. So after a kill -9 the loop restarts from the
last commit: open orders and positions come back, a consumed decision is never executed
again, and no fill is applied twice. Quiet steps are checkpointed every `checkpoint_events`.

Market data: `source(start_pos)` yields (pos, event) with event a Book, Trade, AssetCtx,
MicroTape row dict, or None (an idle tick). In the daemon with a feed, the source is the
market hub's `HubTraderSource` (the score loop's final events, the nightly replay's own
objects) and the clock is the market's (`market_clock`): an idle tick only polls the inbox,
time moves with market events as in the nightly replay. Without a feed the default source
ticks the wall clock; tests and replays inject a recorded day.
A decision is applied when the market clock has passed its asof time, which is how the
nightly replay orders them too (decisions after the market events of their millisecond).
The tr priors are the newest version (`lotus_core.trader.priors.tr_priors`, the function the
nightly replay calls with its day), reloaded at every inbox poll, so a nightly compile or a
rollback steers the next decision; every report carries the version it used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from lotus_core.fabric.inbox import mark_consumed, mark_failed, read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.trader.config import TraderSettings, trader_settings
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.learning import load_exec_learning
from lotus_core.trader.plan import ts_ms
from lotus_core.trader.priors import tr_priors
from lotus_core.trader.replay import event_ts, feed_event
from lotus_core.trader.store import load_state, persist, save_state
from lotus_daemon.loops.base import Loop, LoopContext

Source = Callable[[int], Iterator[tuple[int, Any]]]


def idle_source(tick_sec: float = 0.2) -> Source:
    """No market data (no feed in the daemon): the wall clock ticks timers and expiries."""
    def gen(start: int) -> Iterator[tuple[int, Any]]:
        pos = start
        while True:
            pos += 1
            yield pos, None
            time.sleep(tick_sec)
    return gen


class TraderLoop(Loop):
    name = "trader"
    component = "tr"

    def __init__(self, settings: TraderSettings | None = None, source: Source | None = None,
                 poll_sec: float = 0.2, checkpoint_events: int = 5000,
                 market_clock: bool = False) -> None:
        self.settings = settings or trader_settings()
        self.source = source or idle_source()
        self.market_clock = market_clock  # idle ticks do not move time (the hub source)
        self.poll_sec = poll_sec
        self.checkpoint_events = checkpoint_events
        self.stats = {"events": 0, "decisions": 0, "fills": 0, "reports": 0, "restored": 0}

    def info(self) -> dict[str, Any]:
        return dict(self.stats)

    def run(self, ctx: LoopContext) -> None:
        key = Keyring(ctx.key_dir).private_key("tr")
        xcfg = load_exec_learning()[0]
        with ctx.open_opsdb() as fabric:
            with fabric.transaction() as tx:
                saved = load_state(tx)
            if saved is not None:
                snap, pos = saved
                engine = TraderEngine.restore(self.settings, snap)
                lifecycles = dict(snap.get("lifecycles", {}))
                self.stats["restored"] += 1
            else:
                engine, pos, lifecycles = TraderEngine(self.settings), 0, {}
            engine.set_priors(tr_priors(fabric, None, xcfg))
            pending: list[tuple[int, int, dict[str, Any]]] = []  # (asof_ms, seq, envelope)
            last_poll, quiet = 0.0, 0

            def commit(outs: list, at: int, inbox_seq: int | None = None) -> None:
                snap = engine.snapshot()
                snap["lifecycles"] = lifecycles
                with fabric.transaction() as tx:
                    if inbox_seq is not None and not mark_consumed(tx, "tr", inbox_seq):
                        raise RuntimeError(f"tr_inbox row {inbox_seq} was consumed elsewhere")
                    counts = persist(tx, outs, key, lifecycles)
                    save_state(tx, snap, at)
                self.stats["fills"] += counts.get("fill", 0)
                self.stats["reports"] += counts.get("exec_report", 0)

            def poll() -> None:
                engine.set_priors(tr_priors(fabric, None, xcfg))  # live: the newest version
                known = {seq for _, seq, _ in pending}
                with fabric.transaction() as tx:
                    rows = read_inbox(tx, "tr", limit=500)
                for row in rows:
                    env = row.envelope
                    if row.seq in known or env["intent"] != "DM_DECISION":
                        continue
                    try:
                        asof = ts_ms(env["payload"]["asof_ts"])
                    except (KeyError, ValueError) as exc:
                        with fabric.transaction() as tx:
                            mark_failed(tx, "tr", row.seq, f"bad DM_DECISION: {exc}")
                        continue
                    pending.append((asof, row.seq, env))
                pending.sort(key=lambda p: (p[0], p[1]))

            def decide(now: int, before_ts: int | None) -> None:
                while pending and (before_ts is None or pending[0][0] < before_ts):
                    asof, seq, env = pending.pop(0)
                    ticket = env["payload"]
                    lifecycles[str(ticket["decision_id"])] = env["lifecycle_id"]
                    outs = engine.on_decision(ticket, max(asof, engine.now_ms))
                    commit(outs, now, seq)
                    self.stats["decisions"] += 1

            for p, ev in self.source(pos):
                if ctx.stopping():
                    break
                wall = time.monotonic()
                if wall - last_poll >= self.poll_sec:
                    poll()
                    last_poll = wall
                if ev is None and self.market_clock:
                    continue
                ts = int(time.time() * 1000) if ev is None else event_ts(ev)
                decide(pos, ts)
                outs = engine.advance(ts) if ev is None else feed_event(engine, ev)
                self.stats["events"] += 1
                quiet += 1
                if outs or quiet >= self.checkpoint_events:
                    commit(outs, p)
                    quiet = 0
                pos = p
            else:  # the source ended (a replay): apply what is left, then checkpoint
                poll()
                decide(pos, None)
                commit([], pos)
