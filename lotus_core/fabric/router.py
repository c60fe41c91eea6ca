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

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lotus_core.fabric import dead_letter as dl
from lotus_core.fabric.codec import json_in, ts_in, utc_now
from lotus_core.fabric.defaults import ROUTER_BATCH_SIZE, ROUTER_NAME
from lotus_core.fabric.envelope import (
    EnvelopeError,
    expires_at,
    format_ts,
    signing_bytes,
    validate_envelope,
)
from lotus_core.fabric.heartbeats import beat
from lotus_core.fabric.keyring import Keyring, as_keyring
from lotus_core.fabric.manifests import ModelsMap, Routing, load_modules
from lotus_core.fabric.names import (
    FAILED,
    MODULES,
    PENDING,
    PROCESSED,
    ROUTER,
    inbox_table,
    outbox_table,
)
from lotus_core.fabric.queue import (
    ENVELOPE_COLUMNS,
    ROW_COLUMNS,
    BoxRow,
    to_box_row,
)
from lotus_core.fabric.signing import SIG_PREFIX
from lotus_core.store.connection import Tx
from lotus_core.store.fabric import Fabric

Clock = Callable[[], datetime]
Keys = Keyring | Mapping[str, Ed25519PublicKey]


def default_owner(name: str = ROUTER_NAME) -> str:
    """A lease owner id unique to this process: name, host, pid and a nonce."""
    return f"{name}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RouterConfig:
    """How a router runs. `routing` defaults to models.map.yaml's retry/backoff settings."""

    modules: tuple[str, ...] = MODULES
    batch_size: int = ROUTER_BATCH_SIZE
    lease_sec: float = 30.0  # SQLite: a claimed row is another router's again after this
    name: str = ROUTER_NAME  # heartbeat component; routers sharing a name share one row
    owner: str = field(default_factory=default_owner)
    idle_sleep_sec: float = 0.25  # between passes that found nothing
    heartbeat_sec: float = 1.0  # at most one heartbeat write per this many seconds
    sqlite_cache_mb: int = 64  # page cache of the router's SQLite connection (default 2 MB)
    routing: Routing | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 5000:
            raise ValueError(f"batch_size must be in [1, 5000], got {self.batch_size}")
        if self.lease_sec <= 0:
            raise ValueError(f"lease_sec must be > 0, got {self.lease_sec}")


@dataclass
class RouteStats:
    """What one pass (or a whole run) did. `read` = outbox rows claimed."""

    batches: int = 0
    read: int = 0
    routed: int = 0  # outbox rows marked processed
    delivered: int = 0  # inbox rows inserted
    duplicates: int = 0  # target deliveries skipped: event_id or dedupe_key already there
    dead: dict[str, int] = field(default_factory=dict)  # reason -> outbox rows dead-lettered
    retried: int = 0  # rows scheduled for another attempt (backoff)
    lost: int = 0  # rows another router finished or took over before we committed
    conflicts: int = 0  # batches rolled back on a lock conflict and left for the next pass
    seconds: float = 0.0
    check_cpu_s: float = 0.0  # CPU seconds in the envelope checks (the rest is I/O and SQL)

    @property
    def dead_total(self) -> int:
        return sum(self.dead.values())

    def add(self, other: RouteStats) -> None:
        for name in ("batches", "read", "routed", "delivered", "duplicates", "retried",
                     "lost", "conflicts", "seconds", "check_cpu_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.dead.items():
            self.dead[reason] = self.dead.get(reason, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "read": self.read, "routed": self.routed,
                "delivered": self.delivered, "duplicates": self.duplicates,
                "dead": dict(sorted(self.dead.items())), "retried": self.retried,
                "lost": self.lost, "conflicts": self.conflicts,
                "seconds": round(self.seconds, 3),
                "check_cpu_s": round(self.check_cpu_s, 3)}


@dataclass(frozen=True)
class Verdict:
    """The router's decision on one outbox row: deliver to `targets`, or dead-letter."""

    row: BoxRow
    targets: tuple[str, ...] = ()
    reason: str | None = None
    detail: str | None = None


# --- checking one envelope (pure) ------------------------------------------------------


def _signature_problem(env: Mapping[str, Any], body: bytes,
                       public_keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    sig = env.get("sig")
    if not isinstance(sig, str) or not sig.startswith(SIG_PREFIX):
        return "envelope.sig: not signed (expected 'ed25519:<base64>')"
    key = public_keys.get(env["from"])
    if key is None:
        return f"envelope.sig: no public key for sender {env['from']!r} in keys.pub.yaml"
    try:
        raw = base64.b64decode(sig[len(SIG_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return "envelope.sig: not base64"
    try:
        key.verify(raw, body)
    except InvalidSignature:
        return f"envelope.sig: does not verify with {env['from']}'s public key"
    return None


def check_envelope(
    module: str,
    env: Mapping[str, Any],
    public_keys: Mapping[str, Ed25519PublicKey],
    models_map: ModelsMap,
    now: datetime,
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(reason, detail, targets) for an envelope found in `module`'s outbox; reason None
    means deliver to `targets`. Never raises on bad input."""
    try:
        validate_envelope(env, check_hash=False)
    except EnvelopeError as exc:
        return exc.reason, str(exc), ()
    try:
        body = signing_bytes(env)  # hashed once, verified once: the same bytes
    except (TypeError, ValueError) as exc:
        return dl.INVALID_ENVELOPE, f"envelope: not hashable JSON: {exc}", ()
    expected = "sha256:" + hashlib.sha256(body).hexdigest()
    if env["hash"] != expected:
        return (dl.BAD_HASH, f"envelope.hash: {env['hash']} does not match the content "
                f"({expected})", ())
    problem = _signature_problem(env, body, public_keys)
    if problem is not None:
        return dl.BAD_SIGNATURE, problem, ()
    sender = env["from"]
    if sender != module:
        return dl.FORBIDDEN_ROUTE, f"envelope.from: {sender!r} found in {module}_outbox", ()
    targets = tuple(dict.fromkeys(env["to"]))
    denied = [t for t in targets if not models_map.allowed(sender, t, env["intent"])]
    if denied:
        return (dl.FORBIDDEN_ROUTE, f"envelope.to: {sender} may not send {env['intent']} to "
                f"{denied} (models.map.yaml)", ())
    end = expires_at(env)
    if now >= end:
        return (dl.EXPIRED, f"envelope.ttl_sec: expired at {format_ts(end)} (ts + ttl_sec), "
                f"routed at {format_ts(now)}", ())
    return None, None, targets


def check_rows(module: str, rows: Sequence[BoxRow], keys: Keyring, models_map: ModelsMap,
               now: datetime) -> list[Verdict]:
    """Verdicts for a batch. A sender without a known key makes the key file be re-read
    once (a module's key may have been published after the router started)."""
    public = keys.public_keys()
    if any(r.envelope.get("from") not in public for r in rows):
        public = keys.public_keys(reload=True)
    out = []
    for row in rows:
        reason, detail, targets = check_envelope(module, row.envelope, public, models_map, now)
        out.append(Verdict(row, targets, reason, detail))
    return out


# --- SQL --------------------------------------------------------------------------------


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


JSON_COLUMNS = ("to_modules", "tags", "payload")


def _claim_sql(module: str, dialect: str) -> str:
    cols = ", ".join(f"o.{c}" for c in ROW_COLUMNS)
    if dialect == "postgres":  # JSONB as text: json_out parses it with orjson, ~4x faster
        cols = ", ".join(f"o.{c}::text AS {c}" if c in JSON_COLUMNS else f"o.{c}"
                         for c in ROW_COLUMNS)
    due = "o.status = ? AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?)"
    if dialect == "postgres":
        return (f"SELECT {cols} FROM {outbox_table(module)} o WHERE {due}"
                " ORDER BY o.seq LIMIT ? FOR UPDATE SKIP LOCKED")
    return (
        f"SELECT {cols} FROM {outbox_table(module)} o WHERE {due} AND NOT EXISTS"
        " (SELECT 1 FROM router_lease l WHERE l.module = ? AND l.seq = o.seq"
        " AND l.expires_at > ? AND l.owner <> ?) ORDER BY o.seq LIMIT ?"
    )


def _seq_filter(dialect: str, seqs: Sequence[int]) -> tuple[str, tuple[Any, ...]]:
    """`seq IN (...)`: one array parameter on PostgreSQL, one mark per seq on SQLite."""
    if dialect == "postgres":
        return "o.seq = ANY(?)", (list(seqs),)
    return f"o.seq IN ({_marks(len(seqs))})", tuple(seqs)


def _insert_inbox(tx: Tx, module: str, target: str, seqs: Sequence[int]) -> int:
    """Copy outbox rows `seqs` of `module` into `target`'s inbox in ONE set-based statement
    (the envelope columns as stored: nothing is re-encoded or re-sent), in seq order,
    skipping any row that repeats an event_id or a dedupe_key already there (target-less
    ON CONFLICT covers both unique indexes)."""
    if not seqs:
        return 0
    cols = ", ".join(ENVELOPE_COLUMNS)
    src = ", ".join(f"o.{c}" for c in ENVELOPE_COLUMNS)
    n = 0
    for i in range(0, len(seqs), 2000):  # SQLite: stay far below its bound-parameter limit
        where, params = _seq_filter(tx.dialect, seqs[i : i + 2000])
        n += tx.execute(
            f"INSERT INTO {inbox_table(target)} ({cols}) SELECT {src} FROM"
            f" {outbox_table(module)} o WHERE {where} ORDER BY o.seq ON CONFLICT DO NOTHING",
            params,
        )
    return max(n, 0)


def _apply(tx: Tx, module: str, verdicts: Sequence[Verdict], now: datetime) -> RouteStats:
    """Write the outcome of `verdicts` (rows this router holds) in the caller's transaction;
    returns what it did (count it only once the transaction commits).

    Rows move pending -> processed/failed first (RETURNING tells which really were still
    pending); only those are delivered or dead-lettered, so a row someone else finished
    is never delivered twice or both delivered and dead-lettered.
    """
    stats = RouteStats()
    outbox = outbox_table(module)
    when = ts_in(tx.dialect, now)
    good = [v for v in verdicts if v.reason is None]
    if good:
        seqs = [v.row.seq for v in good]
        where, params = _seq_filter(tx.dialect, seqs)
        moved = {int(r["seq"]) for r in tx.query(
            f"UPDATE {outbox} AS o SET status = ?, consumed_at = ?, last_error = NULL"
            f" WHERE o.status = ? AND {where} RETURNING seq",
            (PROCESSED, when, PENDING, *params))}
        stats.routed += len(moved)
        stats.lost += len(good) - len(moved)
        by_target: dict[str, list[int]] = {}
        for v in good:
            if v.row.seq in moved:
                for t in v.targets:
                    by_target.setdefault(t, []).append(v.row.seq)
        for target in sorted(by_target):  # one order for every router: no lock cycles
            tx.lock(inbox_table(target))
        for target in sorted(by_target):
            seqs = by_target[target]
            n = _insert_inbox(tx, module, target, seqs)
            stats.delivered += n
            stats.duplicates += len(seqs) - n
    dead_rows = []
    for v in verdicts:
        if v.reason is None:
            continue
        moved_rows = tx.query(
            f"UPDATE {outbox} SET status = ?, consumed_at = ?, last_error = ?"
            " WHERE seq = ? AND status = ? RETURNING seq",
            (FAILED, when, f"{v.reason}: {v.detail}", v.row.seq, PENDING),
        )
        if not moved_rows:
            stats.lost += 1
            continue
        stats.dead[v.reason] = stats.dead.get(v.reason, 0) + 1
        env = v.row.envelope
        dead_rows.append((env["event_id"], module, env["intent"], v.reason, v.detail,
                          json_in(env)))
    if dead_rows:
        tx.executemany(
            "INSERT INTO dead_letter (event_id, module, intent, reason, detail, envelope)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, module, reason) DO NOTHING",
            dead_rows,
        )
    return stats


# --- errors -----------------------------------------------------------------------------


def _is_conflict(exc: BaseException) -> bool:
    """A lock conflict: the transaction rolled back whole; try the batch again later."""
    if isinstance(exc, (psycopg.errors.TransactionRollback, psycopg.errors.LockNotAvailable)):
        return True
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


def _is_row_error(exc: BaseException) -> bool:
    """A problem some row's data caused (a constraint, a trigger): find it row by row."""
    return isinstance(exc, (psycopg.errors.IntegrityError, psycopg.errors.DataError,
                            psycopg.errors.InternalError, psycopg.errors.RaiseException,
                            psycopg.errors.InsufficientPrivilege, sqlite3.IntegrityError,
                            sqlite3.DataError))


# --- one batch per outbox ---------------------------------------------------------------


class _Batch:
    """Claim, check and deliver one batch of one outbox, on either backend."""

    def __init__(self, fabric: Fabric, module: str, keys: Keyring, models_map: ModelsMap,
                 cfg: RouterConfig, routing: Routing, clock: Clock) -> None:
        self.fabric, self.module, self.keys, self.models_map = fabric, module, keys, models_map
        self.cfg, self.routing, self.clock = cfg, routing, clock
        self.sqlite = fabric.dialect == "sqlite"

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
    fabric: Fabric,
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


def pending_due(fabric: Fabric, modules: Iterable[str] = MODULES,
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
    fabric: Fabric,
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
    if fabric.dialect == "sqlite":
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
