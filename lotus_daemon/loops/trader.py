"""The paper Trader as a daemon loop: DM_DECISION from tr_inbox, market events from a
source, the `lotus_core.trader` engine in between, everything it does persisted.

Each engine step that produced something (a fill, an order or position change, a report)
commits in one transaction: orders, fills, positions, tr_strand rows, signed EXEC_REPORT
envelopes (to dm and sig; trigger evaluations to dm), the engine snapshot with the source
position, and the inbox row it consumed. So after a kill -9 the loop restarts from the
last commit: open orders and positions come back, a consumed decision is never executed
again, and no fill is applied twice. Quiet steps are checkpointed every `checkpoint_events`.
A lock-step replay on a scratch fabric (`lotus_daemon.lockstep`, `commit_steps=False`)
holds the steps' writes until the next `Sync`, checkpoint or the end and commits them
together: nothing reads the fabric in between, and a restart would replay the same steps.

The stepping is the one driver's (`lotus_core.trader.driver.drive`, the nightly replay's):
this loop supplies its source and clock (`_Steps`) and commits what each step produced.
Market data: `source(start_pos)` yields (pos, event) with event a Book, Trade, AssetCtx,
MicroTape row dict, or None (an idle tick). In the daemon with a feed, the source is the
market hub's `HubTraderSource` (the score loop's final events, the nightly replay's own
objects) and the clock is the market's (`market_clock`): an idle tick only polls the inbox,
time moves with market events as in the nightly replay. Without a feed the default source
ticks the wall clock; tests and replays inject a recorded day.
A decision is applied when the market clock has passed its asof time, which is how the
nightly replay orders them too (decisions after the market events of their millisecond).
The tr priors are the newest version (`lotus_core.trader.priors.tr_priors`, the function the
nightly replay calls with its day), its number checked at every inbox poll and the version
reloaded when it changed (`NewestTrPriors`), so a nightly compile or a rollback steers the
next decision; every report carries the version it used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lotus_core.fabric.inbox import mark_consumed, mark_failed, read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.trader.config import TraderSettings, trader_settings
from lotus_core.trader.driver import DECISION, TICK, Decision, DecisionClock, LiveColumns, drive
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.learning import load_exec_learning
from lotus_core.trader.plan import ts_ms
from lotus_core.trader.priors import NewestTrPriors
from lotus_core.trader.store import StateText, load_state, persist, save_state
from lotus_daemon.loops.base import Loop, LoopContext

Source = Callable[[int], Iterator[tuple[int, Any]]]


@dataclass(frozen=True)
class Sync:
    """A point a source may yield (in place of an event) to hand the turn to a caller that
    steps the loop in lock-step with another (`lotus_daemon.lockstep`: the dm loop): the
    loop commits its state as it stands after every event so far (what `trader_context`
    reads), calls `turn()`, re-reads its inbox, and applies the decisions whose asof time
    is at or before `ts_ms` (the replay's slot: after the market events of their
    millisecond). The daemon's sources never yield one."""

    ts_ms: int
    turn: Callable[[], None]


def idle_source(tick_sec: float = 0.2) -> Source:
    """No market data (no feed in the daemon): the wall clock ticks timers and expiries."""
    def gen(start: int) -> Iterator[tuple[int, Any]]:
        pos = start
        while True:
            pos += 1
            yield pos, None
            time.sleep(tick_sec)
    return gen


def _wall_ms() -> int:
    return int(time.time() * 1000)


class TraderLoop(Loop):
    name = "trader"
    component = "tr"

    def __init__(self, settings: TraderSettings | None = None, source: Source | None = None,
                 poll_sec: float = 0.2, checkpoint_events: int = 5000,
                 market_clock: bool = False, wall_ms: Callable[[], int] | None = None,
                 commit_steps: bool = True) -> None:
        self.settings = settings or trader_settings()
        self.source = source or idle_source()
        self.market_clock = market_clock  # idle ticks do not move time (the hub source)
        self.wall_ms = wall_ms or _wall_ms  # what an idle tick says without a market clock
        self.poll_sec = poll_sec
        self.checkpoint_events = checkpoint_events
        self.commit_steps = commit_steps  # False: a step's writes wait for the next commit
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
            newest = NewestTrPriors(xcfg)
            engine.set_priors(newest.get(fabric))
            step = _Steps(self, ctx, fabric, engine, key, lifecycles, newest, pos)
            # the one driver; every event handed over at once (the engine is checkpointed
            # mid-run, so no snapshot may wait in the driver)
            drive(engine, step.cols, step.events(), step.at_slot, step.emit, hold=False)
            step.finish()


class _Steps:
    """The daemon's source and clock for the driver, and its commits: market events from
    `loop.source` (wall-clock ticks without a feed), DM_DECISIONs from tr_inbox on the live
    `DecisionClock`, and one transaction per step that produced something (with the inbox
    row it consumed), quiet steps checkpointed every `checkpoint_events`."""

    def __init__(self, loop: TraderLoop, ctx: LoopContext, fabric: Any, engine: TraderEngine,
                 key: Any, lifecycles: dict[str, Any], priors: NewestTrPriors,
                 pos: int) -> None:
        self.loop, self.ctx, self.fabric, self.engine = loop, ctx, fabric, engine
        self.key, self.lifecycles, self.priors = key, lifecycles, priors
        self.models_map = ctx.models_map()  # the EXEC_REPORTs' routes
        self.pos = pos  # the source position of the last market event applied
        self.cols = LiveColumns()
        self.clock = DecisionClock()
        self.slot: tuple[int, int, dict[str, Any]] | None = None  # the decision in hand
        self.at: int | None = None  # the market event in hand (its position)
        self.committed = False
        self.quiet = 0
        self.ended = False
        self.state_text = StateText()  # a commit re-encodes only what changed of the state
        self.held: list = []  # outputs of steps not committed yet (commit_steps False)
        self.held_seqs: list[int] = []  # the inbox rows those steps consumed

    def commit(self, outs: list, at: int, inbox_seq: int | None = None) -> None:
        """One transaction: the held steps' writes, then these, and the state at `at`."""
        outs, seqs = self.held + outs, self.held_seqs + ([] if inbox_seq is None
                                                         else [inbox_seq])
        self.held, self.held_seqs = [], []
        # the engine's snapshot with the loop's lifecycles, as text (see StateText)
        text = self.state_text.text(self.engine.snapshot_but_seen(), self.engine.seen,
                                    self.lifecycles)
        with self.fabric.transaction() as tx:
            for seq in seqs:
                if not mark_consumed(tx, "tr", seq):
                    raise RuntimeError(f"tr_inbox row {seq} was consumed elsewhere")
            counts = persist(tx, outs, self.key, self.lifecycles, models_map=self.models_map)
            save_state(tx, text, at)
        self.loop.stats["fills"] += counts.get("fill", 0)
        self.loop.stats["reports"] += counts.get("exec_report", 0)

    def step_done(self, outs: list, at: int, inbox_seq: int | None = None) -> None:
        """A step's writes: committed at once, or held for the next commit (lock-step)."""
        if self.loop.commit_steps:
            self.commit(outs, at, inbox_seq)
            return
        self.held += outs
        if inbox_seq is not None:
            self.held_seqs.append(inbox_seq)

    def poll(self) -> None:
        self.engine.set_priors(self.priors.get(self.fabric))  # the newest version
        known = self.clock.known().union(self.held_seqs)  # held: taken, not yet marked
        with self.fabric.transaction() as tx:
            rows = read_inbox(tx, "tr", limit=500)
        for row in rows:
            env = row.envelope
            if row.seq in known or env["intent"] != "DM_DECISION":
                continue
            try:
                asof = ts_ms(env["payload"]["asof_ts"])
            except (KeyError, ValueError) as exc:
                with self.fabric.transaction() as tx:
                    mark_failed(tx, "tr", row.seq, f"bad DM_DECISION: {exc}")
                continue
            self.clock.add(asof, row.seq, env)

    def emit(self, outs: list) -> None:
        """A step produced something: commit it (with the decision's inbox row), or hold
        it for the next commit (`commit_steps` False)."""
        if self.slot is not None:
            self.step_done(outs, self.pos, self.slot[1])
        else:
            assert self.at is not None
            self.step_done(outs, self.at)
        self.committed = True

    def at_slot(self, i: int, ts: int) -> list[Decision]:
        assert self.slot is not None
        asof, _, env = self.slot
        ticket = env["payload"]
        self.lifecycles[str(ticket["decision_id"])] = env["lifecycle_id"]
        return [Decision(DecisionClock.at(asof, self.engine), ticket)]

    def _done(self) -> None:
        """The driver has applied what was handed over last: settle it."""
        if self.slot is not None:
            if not self.committed:
                self.step_done([], self.pos, self.slot[1])
            self.loop.stats["decisions"] += 1
            self.slot = None
        elif self.at is not None:
            self.pos = self.at
            self.quiet = 0 if self.committed else self.quiet + 1
            if self.quiet >= self.loop.checkpoint_events:
                self.commit([], self.pos)
                self.quiet = 0
            self.at = None
        self.committed = False

    def _decisions(self, before: int | None) -> Iterator[tuple[int, int, int]]:
        for slot in self.clock.due(before):
            self.slot = slot
            yield DECISION, 0, slot[0]
            self._done()

    def events(self) -> Iterator[tuple[int, int, int]]:
        loop, last_poll = self.loop, 0.0
        for p, ev in loop.source(self.pos):
            if self.ctx.stopping():
                return
            if isinstance(ev, Sync):  # a lock-step caller's turn
                self.commit([], self.pos)
                ev.turn()
                self.poll()
                last_poll = time.monotonic()
                yield from self._decisions(ev.ts_ms + 1)
                continue
            wall = time.monotonic()
            if wall - last_poll >= loop.poll_sec:
                self.poll()
                last_poll = wall
            if ev is None and loop.market_clock:
                continue
            item = (TICK, 0, loop.wall_ms()) if ev is None else self.cols.put(ev)
            yield from self._decisions(item[2])
            self.at = p
            loop.stats["events"] += 1
            yield item
            self._done()
        # the source ended (a replay): apply what is left, then checkpoint
        self.poll()
        yield from self._decisions(None)
        self.ended = True

    def finish(self) -> None:
        """The end of a replay, or a stop with steps held: commit at the last position."""
        if self.ended or self.held or self.held_seqs:
            self.commit([], self.pos)
