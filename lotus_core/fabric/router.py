"""The Herald router: moves envelopes from every outbox into the inboxes they name.

    stats = route_once(fabric, Keyring(key_dir))            # one batch per outbox
    total = run_router(fabric, keys, stop=event.is_set)     # the loop (CLI, Dagster job)

Per outbox row, in this order (the first failing check names the dead-letter reason):
schema and payload (`invalid_envelope`, `invalid_payload`), hash (`bad_hash`), ed25519
signature by the sender's key (`bad_signature`), `from` and every `to` allowed by
models.map.yaml (`forbidden_route`), TTL (`expired`). A good row is inserted into each
target inbox and marked processed, in ONE transaction with its dead letters, so a crash
at any point leaves either nothing or everything; inserts skip an event_id or dedupe_key
the inbox already holds, so delivery is at-least-once and the inbox keeps exactly one.
A database error on a row (a trigger, a constraint) is retried with exponential backoff
(models.map.yaml `routing`) and becomes `poison` after max_attempts.

Two routers at once: on PostgreSQL each claims its batch with SELECT ... FOR UPDATE SKIP
LOCKED and holds the row locks while it checks and delivers; on SQLite (one write lock,
no row locks) each claims rows with a lease in `router_lease`, checks them OUTSIDE the
write lock (the CPU-heavy part, so routers overlap) and delivers only the rows whose lease
it still holds. Inbox inserts take a per-inbox lock (`tx.lock`) so that inbox seqs become
visible in order on PostgreSQL and a sensor's cursor never skips a row.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lotus_core.fabric import dead_letter as dl
from lotus_core.fabric.codec import ts_in, utc_now
from lotus_core.fabric.heartbeats import beat
from lotus_core.fabric.keyring import Keyring, as_keyring
from lotus_core.fabric.manifests import ModelsMap, Routing, load_modules
from lotus_core.fabric.names import (
    MODULES,
    PENDING,
    ROUTER,
    outbox_table,
)
from lotus_core.fabric.queue import (
    BoxRow,
    to_box_row,
)
from lotus_core.fabric.router_check import Verdict, check_envelope, check_rows
from lotus_core.fabric.router_config import RouterConfig, RouteStats, default_owner
from lotus_core.fabric.router_sql import _apply, _claim_sql, _marks
from lotus_core.store.connection import Tx
from lotus_core.store.dialect import ErrorKind, classify_error, sql_dialect
from lotus_core.store.opsdb import OpsDb

Clock = Callable[[], datetime]
Keys = Keyring | Mapping[str, Ed25519PublicKey]

# The split by concern: checking (router_check), settings and counters (router_config), SQL
# (router_sql); this module batches and loops. Re-exported for callers of the old module.
__all__ = ["RouteStats", "RouterConfig", "Verdict", "check_envelope", "check_rows",
           "default_owner", "pending_due", "route_once", "run_router"]


# --- errors -----------------------------------------------------------------------------


def _is_conflict(exc: BaseException) -> bool:
    """A lock conflict: the transaction rolled back whole; try the batch again later."""
    return classify_error(exc) is ErrorKind.CONFLICT


def _is_row_error(exc: BaseException) -> bool:
    """A problem some row's data caused (a constraint, a trigger): find it row by row."""
    return classify_error(exc) is ErrorKind.ROW


# --- one batch per outbox ---------------------------------------------------------------


class _Batch:
    """Claim, check and deliver one batch of one outbox, on either backend."""

    def __init__(self, fabric: OpsDb, module: str, keys: Keyring, models_map: ModelsMap,
                 cfg: RouterConfig, routing: Routing, clock: Clock) -> None:
        self.fabric, self.module, self.keys, self.models_map = fabric, module, keys, models_map
        self.cfg, self.routing, self.clock = cfg, routing, clock
        self.sqlite = not sql_dialect(fabric.dialect).row_locks  # leases instead of row locks

    def run(self, stats: RouteStats) -> int:
        """Route one batch; returns the number of rows claimed (0: nothing due here)."""
        now = self.clock()
        try:
            if self.sqlite:
                return self._run_sqlite(now, stats)
            return self._run_postgres(now, stats)
        except Exception as exc:
            if _is_conflict(exc):
                stats.conflicts += 1
                return 0
            raise

    def _check(self, rows: Sequence[BoxRow], now: datetime, stats: RouteStats) -> list[Verdict]:
        t0 = time.process_time()
        verdicts = check_rows(self.module, rows, self.keys, self.models_map, now)
        stats.check_cpu_s += time.process_time() - t0
        return verdicts

    def _claim_rows(self, tx: Tx, now: datetime) -> list[dict[str, Any]]:
        n = self.cfg.batch_size
        due = ts_in(tx.dialect, now)
        if not self.sqlite:
            return tx.query(_claim_sql(self.module, "postgres"), (PENDING, due, n))
        return tx.query(_claim_sql(self.module, "sqlite"),
                        (PENDING, due, self.module, due, self.cfg.owner, n))

    def _run_postgres(self, now: datetime, stats: RouteStats) -> int:
        rows: list[BoxRow] = []
        try:
            with self.fabric.transaction() as tx:
                rows = [to_box_row(self.module, "outbox", r) for r in self._claim_rows(tx, now)]
                if rows:
                    verdicts = self._check(rows, now, stats)
                    done = _apply(tx, self.module, verdicts, now)
            if rows:
                stats.add(done)
        except Exception as exc:
            if not rows or not _is_row_error(exc):
                raise
            self._one_by_one(rows, now, stats)
        if rows:
            stats.batches += 1
            stats.read += len(rows)
        return len(rows)

    def _run_sqlite(self, now: datetime, stats: RouteStats) -> int:
        until = ts_in("sqlite", now + timedelta(seconds=self.cfg.lease_sec))
        with self.fabric.transaction() as tx:
            raw = self._claim_rows(tx, now)
            if raw:
                tx.executemany(
                    "INSERT INTO router_lease (module, seq, owner, expires_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (module, seq) DO UPDATE SET owner = excluded.owner,"
                    " expires_at = excluded.expires_at",
                    [(self.module, int(r["seq"]), self.cfg.owner, until) for r in raw],
                )
        if not raw:
            return 0
        rows = [to_box_row(self.module, "outbox", r) for r in raw]
        verdicts = self._check(rows, now, stats)  # no lock held
        stats.batches += 1
        stats.read += len(rows)
        try:
            with self.fabric.transaction() as tx:
                held = self._release(tx, [v.row.seq for v in verdicts])
                done = _apply(tx, self.module, [v for v in verdicts if v.row.seq in held], now)
                done.lost += len(verdicts) - len(held)
            stats.add(done)
        except Exception as exc:
            if not _is_row_error(exc):
                raise
            self._one_by_one(rows, now, stats)
        return len(rows)

    def _release(self, tx: Tx, seqs: Sequence[int]) -> set[int]:
        """Drop our leases on `seqs`; returns those we still held (not taken over)."""
        if not seqs:
            return set()
        rows = tx.query(
            f"DELETE FROM router_lease WHERE module = ? AND owner = ? AND seq IN"
            f" ({_marks(len(seqs))}) RETURNING seq", (self.module, self.cfg.owner, *seqs))
        return {int(r["seq"]) for r in rows}

    def _hold_one(self, tx: Tx, seq: int) -> bool:
        if self.sqlite:
            return bool(self._release(tx, [seq]))
        return bool(tx.query(
            f"SELECT seq FROM {outbox_table(self.module)} WHERE seq = ? AND status = ?"
            " FOR UPDATE SKIP LOCKED", (seq, PENDING)))

    def _one_by_one(self, rows: Sequence[BoxRow], now: datetime, stats: RouteStats) -> None:
        """After a batch failed on some row's data: each row in its own transaction; the
        rows that still fail are retried later with backoff, or become poison."""
        for row in rows:
            try:
                with self.fabric.transaction() as tx:
                    if not self._hold_one(tx, row.seq):
                        stats.lost += 1
                        continue
                    verdicts = check_rows(self.module, [row], self.keys, self.models_map, now)
                    done = _apply(tx, self.module, verdicts, now)
                stats.add(done)
            except Exception as exc:
                if not _is_row_error(exc):
                    raise
                self._failed(row, f"{type(exc).__name__}: {exc}".strip(), now, stats)

    def _failed(self, row: BoxRow, error: str, now: datetime, stats: RouteStats) -> None:
        attempts = row.attempts + 1
        with self.fabric.transaction() as tx:
            if not self._hold_one(tx, row.seq):  # another router has it now
                stats.lost += 1
                return
            if attempts >= self.routing.max_attempts:
                detail = f"gave up after {attempts} attempts; last error: {error}"
                poison = Verdict(row, (), dl.POISON, detail[:2000])
                done = _apply(tx, self.module, [poison], now)
            else:
                next_at = now + timedelta(seconds=self.routing.backoff_sec(attempts))
                n = tx.execute(
                    f"UPDATE {outbox_table(self.module)} SET attempts = attempts + 1,"
                    " last_error = ?, next_attempt_at = ? WHERE seq = ? AND status = ?",
                    (error[:2000], ts_in(tx.dialect, next_at), row.seq, PENDING),
                )
                done = RouteStats(retried=n)
        stats.add(done)


# --- the public verbs -------------------------------------------------------------------


def route_once(
    fabric: OpsDb,
    keys: Keys,
    *,
    config: RouterConfig | None = None,
    clock: Clock = utc_now,
    max_batches: int | None = None,
) -> RouteStats:
    """One pass: at most one batch from each outbox (and `max_batches` in all)."""
    cfg = config or RouterConfig()
    registry = load_modules()
    routing = cfg.routing or registry.map.routing
    keyring = as_keyring(keys)
    stats = RouteStats()
    t0 = time.perf_counter()
    for module in cfg.modules:
        if max_batches is not None and stats.batches >= max_batches:
            break
        _Batch(fabric, module, keyring, registry.map, cfg, routing, clock).run(stats)
    stats.seconds = time.perf_counter() - t0
    return stats


def pending_due(fabric: OpsDb, modules: Iterable[str] = MODULES,
                now: datetime | None = None) -> int:
    """Outbox rows still to route now (leased ones included; rows backing off excluded)."""
    when = now or utc_now()
    total = 0
    with fabric.transaction() as tx:
        for m in modules:
            total += int(tx.scalar(
                f"SELECT COUNT(*) FROM {outbox_table(m)} WHERE status = ?"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)",
                (PENDING, ts_in(tx.dialect, when))))
    return total


def run_router(
    fabric: OpsDb,
    keys: Keys,
    *,
    max_batches: int | None = None,
    stop: Callable[[], bool] | None = None,
    until_idle: bool = False,
    max_seconds: float | None = None,
    config: RouterConfig | None = None,
    clock: Clock = utc_now,
    on_pass: Callable[[RouteStats], None] | None = None,
) -> RouteStats:
    """The router loop: pass after pass until `stop()` is true, `max_batches` batches were
    routed, `max_seconds` passed, or (with `until_idle`) no outbox row is due any more.

    Validates the manifests first (`load_modules`) and refuses to start without any public
    key (every envelope would be dead-lettered as bad_signature). Beats a heartbeat
    (component `config.name`, module "router") each pass, at most once per heartbeat_sec,
    and a final one with status "stopped" and the totals.
    """
    cfg = config or RouterConfig()
    load_modules()
    keyring = as_keyring(keys)
    if not keyring.public_keys():
        raise ValueError(f"no public keys in {keyring.key_dir}: the router cannot verify "
                         "any envelope (a module's first signing creates its key)")
    if sql_dialect(fabric.dialect).page_cache_pragma:
        # Inbox inserts hit random pages of the event_id and ledger indexes: with SQLite's
        # default 2 MB cache a growing fabric halves the router's insert rate.
        with fabric.transaction() as tx:
            tx.execute(f"PRAGMA cache_size = {-1024 * int(cfg.sqlite_cache_mb)}")
    total = RouteStats()
    started = time.monotonic()
    last_beat = 0.0

    def heartbeat(status: str) -> None:
        detail = {"owner": cfg.owner, **total.as_dict(),
                  "rate_per_s": round(total.routed / total.seconds, 1) if total.seconds else 0.0}
        beat(fabric, cfg.name, ROUTER, status, detail)

    heartbeat("starting")
    status = "stopped"
    try:
        while True:
            if stop is not None and stop():
                break
            if max_batches is not None and total.batches >= max_batches:
                break
            if max_seconds is not None and time.monotonic() - started >= max_seconds:
                break
            remaining = None if max_batches is None else max_batches - total.batches
            stats = route_once(fabric, keyring, config=cfg, clock=clock, max_batches=remaining)
            total.add(stats)
            if on_pass is not None:
                on_pass(stats)
            if time.monotonic() - last_beat >= cfg.heartbeat_sec:
                heartbeat("ok")
                last_beat = time.monotonic()
            if stats.read == 0:
                if until_idle and pending_due(fabric, cfg.modules, clock()) == 0:
                    break
                _sleep(cfg.idle_sleep_sec, stop, started, max_seconds)
    except BaseException:
        status = "error"
        raise
    finally:
        with contextlib.suppress(Exception):  # the database may be what failed: keep that
            heartbeat(status)
    return total


def _sleep(seconds: float, stop: Callable[[], bool] | None, started: float,
           max_seconds: float | None) -> None:
    end = time.monotonic() + seconds
    if max_seconds is not None:
        end = min(end, started + max_seconds)
    while time.monotonic() < end:
        if stop is not None and stop():
            return
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))
