"""The DM on the fabric: consume ALPHA_PROPOSED / ALPHA_WITHDRAWN / CHART_ALPHA from
dm_inbox, decide with the same `DmEngine` as the nightly replay, post signed DM_DECISION
envelopes (to tr and sig, as models.map.yaml allows) and a `decision` row of dm_strand per ticket.

Exactly-once effects over at-least-once delivery:
- one transaction per inbox row: the envelopes, the strand rows and mark_consumed commit
  together or not at all;
- an envelope's dedupe_key is its decision_id; a decision_id already in dm_outbox is not
  posted again;
- on start, `restore` replays the already-consumed ALPHA_PROPOSED and CHART_ALPHA rows
  through the engine without posting, so a restarted loop holds the same book and never posts twice.

Two kinds of alpha: a published signal (ALPHA_PROPOSED from sig, `alpha.from_sigbus`) and a
recorded chart (CHART_ALPHA from vis): its `vis_strands` row's fields, made the
AlphaEvent by `vis_source.chart_alpha`, i.e. `vis_alphas` of the one-row frame, the nightly
`dm_decisions`' own function (docs/dm.md, "Sources").
A payload the DM cannot read fails its row with a handler_error dead letter naming why.
The stepping (rows up to an alpha's time, then the alpha) is the one driver's
(`lotus_core.dm.driver.DmDriver`, the nightly replays'); this class supplies the clock
(inbox rows in arrival order), the Trader's positions and the fabric's effects.
Market rows come from a `RowSource` (`until(ts_ms)` yields MicroTape rows up to a time):
the live engineer's market hub, or a day's MicroTape in tests and replays.

Positions: with `positions="trader"` (the daemon's default) every decision starts from
what the paper Trader holds, read from its persisted snapshot in the fabric
(`trader_state`, `trader_context`) just before deciding — the nightly joint replay's
`lotus_core.dm.context` definition. While no Trader state exists yet the DM uses its own
targets. After a restart the paced turnover ledger is rebuilt from the tickets the DM
posted (their w0 and target), not from re-deciding against today's positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lotus_core.dm.alpha import AlphaError, AlphaEvent, from_sigbus
from lotus_core.dm.context import PortfolioContext, from_snapshot
from lotus_core.dm.driver import DmDriver, RowSource
from lotus_core.dm.engine import Decision, DmEngine
from lotus_core.dm.vis_source import chart_alpha
from lotus_core.fabric import dead_letter as dl
from lotus_core.fabric.codec import utc_now
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.envelope import build_envelope, parse_ts
from lotus_core.fabric.inbox import mark_consumed, mark_failed, read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import ModelsMap
from lotus_core.fabric.names import PROCESSED
from lotus_core.fabric.outbox import post_to_outbox, read_outbox
from lotus_core.fabric.signing import sign
from lotus_core.fabric.strands import write_strand
from lotus_core.store.connection import Tx
from lotus_core.trader.store import load_state

MODULE = "dm"
INTENT = "DM_DECISION"
CONSUMES = ("ALPHA_PROPOSED", "ALPHA_WITHDRAWN", "CHART_ALPHA")


@dataclass
class LiveStats:
    consumed: int = 0
    posted: int = 0
    duplicates: int = 0
    failed: int = 0
    restored: int = 0


def trader_context(db: Db, at_ms: int | None = None) -> PortfolioContext | None:
    """What the paper Trader holds now (its last committed snapshot), or None; `at_ms` the
    decision's time (the passive record of its day)."""
    with in_tx(db) as tx:
        saved = load_state(tx, positions_only=True)
    return from_snapshot(saved[0], at_ms) if saved is not None else None


class DmLive:
    """The engine bound to the fabric: `restore` once, then `step` repeatedly.
    `models_map`: the entry point's (`load_modules().map`): where the decisions go and the
    routes they are checked against."""

    def __init__(self, engine: DmEngine, keys: Keyring, rows: RowSource | None = None,
                 ttl_sec: int = 600, positions: str = "trader", *,
                 models_map: ModelsMap) -> None:
        if positions not in ("trader", "own"):
            raise ValueError(f"positions must be 'trader' or 'own', got {positions!r}")
        self.positions = positions
        self.engine = engine
        self.driver = DmDriver(engine, rows)  # the one driver (the nightly replays' too)
        self.keys = keys
        self.ttl_sec = ttl_sec
        self.cursor = 0
        self.by_event: dict[str, str] = {}  # ALPHA_PROPOSED event_id -> alpha (strand) id
        self.last_alpha: AlphaEvent | None = None  # the alpha last decided on (status, tests)
        self.stats = LiveStats()
        self.models_map = models_map
        self.targets = list(models_map.targets(MODULE, INTENT))

    def restore(self, db: Db, batch: int = 500) -> int:
        """Replay consumed ALPHA_PROPOSED and CHART_ALPHA rows without posting (after a restart)."""
        after = 0
        while True:
            rows = [r for r in _read(db, after, batch, pending_only=False)]
            if not rows:
                if self.positions == "trader" and self.stats.restored:
                    self._restore_ledger(db)
                return self.stats.restored
            for r in rows:
                after = r.seq
                if r.status != PROCESSED or r.intent not in CONSUMES:
                    continue
                self._apply(r.envelope)
                self.stats.restored += 1
                self.cursor = max(self.cursor, r.seq)

    def _restore_ledger(self, db: Db) -> None:
        """The turnover ledger from the posted tickets: a round moved Σ|target − w0| of its
        tickets (a coin that did not move has no ticket or a zero move)."""
        rounds: dict[tuple[int, str], float] = {}
        for r in read_outbox(db, MODULE, limit=1_000_000, pending_only=False):
            t = r.envelope["payload"]
            if r.envelope["intent"] != INTENT:
                continue
            refs = t.get("audit_refs") or {}
            key = (int(parse_ts(t["asof_ts"]).timestamp() * 1000), str(refs.get("alpha_ref")))
            moved = sum(abs(float(w) - float(refs.get("w0", w))) for w in t["targets"].values())
            rounds[key] = rounds.get(key, 0.0) + moved
        self.engine.restore_ledger(sorted((ts, v) for (ts, _), v in rounds.items() if v > 0))

    def _apply(self, env: Mapping[str, Any], db: Db | None = None) -> list[Decision]:
        if env["intent"] == "ALPHA_WITHDRAWN":
            taken = str(env["payload"]["withdrawn_event_id"])
            self.driver.withdrawal(self.by_event.get(taken, str(env["lifecycle_id"])))
            return []
        alpha = alpha_of(env)
        self.last_alpha = alpha
        self.by_event[str(env["event_id"])] = alpha.alpha_id
        ctx = (trader_context(db, alpha.ts_ms) if db is not None and self.positions == "trader"
               else None)
        return self.driver.alpha(alpha, ctx)

    def step(self, db: Db, limit: int = 100, now: datetime | None = None) -> int:
        """Handle up to `limit` pending rows after the cursor; returns how many."""
        rows = _read(db, self.cursor, limit, pending_only=True)
        done = 0
        for r in rows:
            self.cursor = r.seq
            if r.intent not in CONSUMES:
                continue  # PRIOR_PATCH, WATCHDOG_ALERT, ...: the inbox sensors' handlers
            try:
                decisions = self._apply(r.envelope, db)
            except (AlphaError, KeyError, TypeError, ValueError) as e:
                self._fail(db, r.seq, r.envelope, f"{type(e).__name__}: {e}"[:500], now)
                continue
            with in_tx(db) as tx:
                for d in decisions:
                    self._post(tx, d, r.envelope, now)
                if not mark_consumed(tx, MODULE, r.seq, now=now):
                    raise RuntimeError(f"dm_inbox row {r.seq} was consumed by someone else")
            self.stats.consumed += 1
            done += 1
        return done

    def _post(self, tx: Tx, d: Decision, alpha_env: Mapping[str, Any],
              now: datetime | None) -> None:
        if tx.scalar("SELECT 1 FROM dm_outbox WHERE dedupe_key = ?", (d.decision_id,)):
            self.stats.duplicates += 1
            return
        when = now or utc_now()
        env = build_envelope(
            sender=MODULE, to=self.targets, intent=INTENT, payload=d.ticket,
            lifecycle_id=alpha_env["lifecycle_id"], parent_id=alpha_env["event_id"],
            dedupe_key=d.decision_id, ttl_sec=self.ttl_sec, now=when,
            tags=[f"symbol:{d.coin}", f"action:{d.action}"],
        )
        post_to_outbox(tx, MODULE, sign(env, self.keys.private_key(MODULE)),
                       models_map=self.models_map)
        t = d.ticket
        write_strand(tx, MODULE, "decision", symbol=d.coin, now=when,
                     lifecycle_id=alpha_env["lifecycle_id"], fields={
                         "alpha_ref": d.alpha_id, "decision_id": d.decision_id,
                         "portfolio_id": t["portfolio_id"], "target_type": t["target_type"],
                         "targets": t["targets"], "confidence": t["confidence"],
                         "valid_until": parse_ts(t["valid_until"]),
                         "budget": t.get("multipliers"), "decision": t})
        self.stats.posted += 1

    def _fail(self, db: Db, seq: int, env: Mapping[str, Any], error: str,
              now: datetime | None) -> None:
        with in_tx(db) as tx:
            if mark_failed(tx, MODULE, seq, error, now=now):
                dl.record_dead_letter(tx, module=MODULE, reason=dl.HANDLER_ERROR,
                                      detail=error, envelope=env)
        self.stats.failed += 1


def alpha_of(env: Mapping[str, Any]) -> AlphaEvent:
    """An alpha envelope's AlphaEvent: a CHART_ALPHA's by `chart_alpha`, an
    ALPHA_PROPOSED's (a published signal) by `from_sigbus`."""
    if env["intent"] == "CHART_ALPHA":
        return chart_alpha(env["payload"])
    return from_sigbus(env["payload"])


def _read(db: Db, after: int, limit: int, *, pending_only: bool) -> list[Any]:
    return read_inbox(db, MODULE, after_seq=after, limit=limit, pending_only=pending_only)
