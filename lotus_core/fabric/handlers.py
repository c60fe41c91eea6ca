"""Inbox handlers: what a module does with each envelope it listens to.

A handler is one function `(ctx: HandlerContext) -> dict` named by a manifest line:

    # lotus_core/fabric/modules/sig/module.yaml
    listens:
      - {intent: PRIOR_PATCH, doc: ..., handler: lotus_core.fabric.handlers.apply_prior_patch}

`handle_row` runs it in ONE transaction with `mark_consumed`, so the work's result and the
row's consumption commit together or not at all (a second run of the same row finds it
consumed and does nothing). A handler that raises is retried with the models.map.yaml
backoff (`retry_inbox_later`; the sensor asks for a new run once it is due) and after
max_attempts the row fails with a `handler_error` dead letter.

Handlers now: PRIOR_PATCH (apply within caps, answer PRIOR_PATCH_APPLIED), WATCHDOG_ALERT
(curator_queue), EXEC_REPORT to sig (an `outcome` strand row linked to its signal window
by lifecycle_id). Intents without a handler stay pending for a later issue's handler.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal

from lotus_core.fabric import dead_letter as dl
from lotus_core.fabric.codec import json_in, utc_now
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.inbox import mark_consumed, mark_failed, retry_inbox_later
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import (
    ManifestError,
    ModelsMap,
    ModuleRegistry,
    Routing,
    load_modules,
)
from lotus_core.fabric.names import PENDING, check_module, inbox_table
from lotus_core.fabric.outbox import post_to_outbox
from lotus_core.fabric.queue import ROW_COLUMNS, BoxRow, to_box_row
from lotus_core.fabric.signing import sign
from lotus_core.fabric.strands import read_strand, update_strand, write_strand
from lotus_core.store.connection import Tx
from lotus_core.store.dialect import is_infrastructure_error, sql_dialect
from lotus_core.store.opsdb import OpsDb


@dataclass(frozen=True)
class HandlerContext:
    """What a handler gets: the open transaction, the row, the module's keys, the time and
    the models map its answers are routed by (the entry point's, through `handle_row`)."""

    tx: Tx
    module: str
    row: BoxRow
    keys: Keyring
    now: datetime
    models_map: ModelsMap

    @property
    def envelope(self) -> dict[str, Any]:
        return self.row.envelope

    def reply(self, intent: str, payload: Mapping[str, Any], *, to: list[str] | None = None,
              **kwargs: Any) -> str:
        """Send a signed answer through this module's outbox (same transaction); returns
        its event_id. Goes to the row's sender, in the row's lifecycle, with the row as
        parent, unless told otherwise."""
        env = self.envelope
        kwargs.setdefault("lifecycle_id", env["lifecycle_id"])
        kwargs.setdefault("parent_id", env["event_id"])
        out = build_envelope(sender=self.module, to=to or [env["from"]], intent=intent,
                             payload=payload, now=self.now, **kwargs)
        out = sign(out, self.keys.private_key(self.module))
        post_to_outbox(self.tx, self.module, out, models_map=self.models_map)
        return out["event_id"]


Handler = Callable[[HandlerContext], dict[str, Any]]


# --- the handlers -----------------------------------------------------------------------


def apply_prior_patch(ctx: HandlerContext) -> dict[str, Any]:
    """PRIOR_PATCH: each change applied within THIS module's caps (`set_prior` clamps to
    min, max and max_step); unknown knobs are rejected, not fatal. Answers
    PRIOR_PATCH_APPLIED to the sender with what was really done."""
    # the priors store imports the scoring stack (pandas, scipy): only this handler needs it
    from lotus_core.learning.priors_store import priors_version, set_prior

    env = ctx.envelope
    knobs = load_modules().modules[ctx.module].priors
    applied, rejected = [], []
    for change in env["payload"]["changes"]:
        key = change["key"]
        if key not in knobs:
            rejected.append({"key": key[:100], "reason": "unknown_knob"})
            continue
        c = set_prior(ctx.tx, ctx.module, key, change["op"], change["value"],
                      source_event_id=env["event_id"], now=ctx.now)
        applied.append({"key": c.key, "before": c.before, "after": c.after,
                        "clamped": c.clamped, "version": c.version})
    ver = priors_version(ctx.tx, ctx.module)
    payload = {"patch_id": env["payload"]["patch_id"], "patch_event_id": env["event_id"],
               "applied": applied, "rejected": rejected, "priors_ver": ver}
    reply = ctx.reply("PRIOR_PATCH_APPLIED", payload, priors_ver=ver,
                      dedupe_key=f"applied:{env['event_id']}")
    return {"applied": len(applied), "rejected": len(rejected), "priors_ver": ver,
            "reply_event_id": reply}


def queue_watchdog_alert(ctx: HandlerContext) -> dict[str, Any]:
    """WATCHDOG_ALERT: one curator_queue row (idempotent per event_id and module)."""
    env, p = ctx.envelope, ctx.envelope["payload"]
    n = ctx.tx.execute(
        "INSERT INTO curator_queue (event_id, module, from_module, severity, subject_kind,"
        " subject_id, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (event_id, module) DO NOTHING",
        (env["event_id"], ctx.module, env["from"], p["severity"], p["subject"]["kind"],
         p["subject"]["id"], p["reason"], json_in(p)),
    )
    return {"queued": n == 1, "severity": p["severity"], "reason": p["reason"]}


OUTCOME_KEYS = ("status", "side", "venue", "executed_price", "executed_quantity",
                "slippage_bps", "latency_ms", "adherence_score", "pnl_impact")


def link_exec_report(ctx: HandlerContext) -> dict[str, Any]:
    """EXEC_REPORT to sig: the live outcome label of a signal window.

    Writes a sig_strand row of kind `outcome` (id = the report's event_id, lifecycle_id as
    the report's, parent_id = the window's signal strand when there is one) and copies the
    label onto that signal row's `outcomes`. The strand id is the signal_events window id in
    the lake, so this row is the fabric's side of the link; a report that arrives before
    its window is kept unlinked (parent_id NULL) and found again by lifecycle_id.
    """
    if ctx.module != "sig":
        raise ValueError(f"link_exec_report is sig's handler, not {ctx.module}'s")
    env, p = ctx.envelope, ctx.envelope["payload"]
    found = ctx.tx.query(
        "SELECT id FROM sig_strand WHERE lifecycle_id = ? AND kind = 'signal'"
        " ORDER BY created_at, id LIMIT 1", (env["lifecycle_id"],))
    window = found[0]["id"] if found else None
    label = {k: p[k] for k in OUTCOME_KEYS if k in p}
    label.update({"execution_id": p["execution_id"], "decision_id": p["decision_id"],
                  "execution_time": p["execution_time"],
                  "exec_event_id": env["event_id"]})
    write_strand(ctx.tx, "sig", "outcome", id=env["event_id"], lifecycle_id=env["lifecycle_id"],
                 parent_id=window, symbol=p["symbol"], fields={"outcomes": label},
                 now=ctx.now)
    if window is not None:
        before = (read_strand(ctx.tx, "sig", window) or {}).get("outcomes") or {}
        merged = {**label, "n_reports": int(before.get("n_reports", 0)) + 1}
        update_strand(ctx.tx, "sig", window, fields={"outcomes": merged}, now=ctx.now)
    return {"window": window, "linked": window is not None, "status": p["status"]}


# --- the registry: manifest lines -> functions ------------------------------------------


def resolve(path: str) -> Handler:
    """The function a manifest's `handler:` names (ImportError/TypeError when it cannot)."""
    module_name, _, attr = path.rpartition(".")
    fn = getattr(importlib.import_module(module_name), attr, None)
    if fn is None:
        raise ImportError(f"{module_name} has no {attr!r}")
    if not callable(fn):
        raise TypeError(f"{path} is not callable")
    # ignore: getattr gives Any; it was checked callable above (a handler's contract).
    return fn  # type: ignore[no-any-return]


def handler_table(registry: ModuleRegistry | None = None) -> dict[str, dict[str, Handler]]:
    """module -> intent -> handler, from the manifests; ManifestError (file and key) when a
    `handler:` line names nothing importable. Call it at start-up."""
    if registry is None:
        return _default_table()
    return _build_table(registry)


@cache
def _default_table() -> dict[str, dict[str, Handler]]:
    return _build_table(load_modules())


def _build_table(registry: ModuleRegistry) -> dict[str, dict[str, Handler]]:
    out: dict[str, dict[str, Handler]] = {}
    for m, manifest in registry.modules.items():
        out[m] = {}
        for i, use in enumerate(manifest.listens.values()):
            if use.handler is None:
                continue
            try:
                out[m][use.intent] = resolve(use.handler)
            except (ImportError, TypeError, ValueError) as exc:
                raise ManifestError(
                    f"{manifest.path}: intents.listens[{i}].handler: cannot use "
                    f"{use.handler!r} ({exc})"
                ) from exc
    return out


def handled_intents(module: str) -> tuple[str, ...]:
    """The intents `module` has a handler for (the sensor launches runs only for these)."""
    return tuple(sorted(handler_table()[check_module(module)]))


# --- running one inbox row --------------------------------------------------------------

Status = Literal["consumed", "skipped", "retry", "failed"]


@dataclass(frozen=True)
class HandleOutcome:
    """What `handle_row` did. consumed: done and committed. skipped: not pending any more
    (another run did it) or no handler. retry: the handler failed, next try scheduled.
    failed: the handler failed max_attempts times (dead letter handler_error)."""

    status: Status
    module: str
    seq: int
    event_id: str | None = None
    intent: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    retry_in_sec: float | None = None


class _AlreadyDone(Exception):
    """mark_consumed found the row no longer pending: roll the handler's work back."""


def _pending_row(tx: Tx, module: str, seq: int) -> BoxRow | None:
    sql = (f"SELECT {', '.join(ROW_COLUMNS)} FROM {inbox_table(module)}"
           " WHERE seq = ? AND status = ?")
    sql += sql_dialect(tx.dialect).for_update  # a second run of the row waits, then skips
    rows = tx.query(sql, (int(seq), PENDING))
    return to_box_row(module, "inbox", rows[0]) if rows else None


def _infra_error(exc: BaseException) -> bool:
    """The database itself is unreachable: not the row's fault, do not count an attempt."""
    return is_infrastructure_error(exc)


def handle_row(
    fabric: OpsDb,
    module: str,
    seq: int,
    keys: Keyring,
    *,
    event_id: str | None = None,
    clock: Callable[[], datetime] = utc_now,
    models_map: ModelsMap,
) -> HandleOutcome:
    """Handle inbox row `seq` of `module`: its handler and mark_consumed in one transaction.

    With `event_id` (what the sensor saw), a row at `seq` holding another event is skipped.
    `models_map`: the caller's entry point's (one load per run): the routes a handler's
    answers are checked against and the retry rules of a failed handler (its `routing`).
    """
    check_module(module)
    now = clock()
    row: BoxRow | None = None
    try:
        with fabric.transaction() as tx:
            row = _pending_row(tx, module, seq)
            if row is None:
                return HandleOutcome("skipped", module, seq, event_id, error="not pending")
            if event_id is not None and row.event_id != event_id:
                return HandleOutcome("skipped", module, seq, row.event_id, row.intent,
                                     error=f"seq {seq} holds {row.event_id}, not {event_id}")
            fn = handler_table()[module].get(row.intent)
            if fn is None:
                return HandleOutcome("skipped", module, seq, row.event_id, row.intent,
                                     error=f"{module} has no handler for {row.intent}")
            summary = fn(HandlerContext(tx, module, row, keys, now, models_map))
            if not mark_consumed(tx, module, seq, now=now):
                raise _AlreadyDone
        return HandleOutcome("consumed", module, seq, row.event_id, row.intent, summary,
                             attempts=row.attempts + 1)
    except _AlreadyDone:
        return HandleOutcome("skipped", module, seq, row.event_id if row else None,
                             error="consumed by another run")
    except Exception as exc:
        if row is None or _infra_error(exc):
            raise
        return _record_failure(fabric, module, row, f"{type(exc).__name__}: {exc}", now,
                               models_map.routing)


def _record_failure(fabric: OpsDb, module: str, row: BoxRow, error: str, now: datetime,
                    routing: Routing) -> HandleOutcome:
    attempts = row.attempts + 1
    error = error[:2000]
    with fabric.transaction() as tx:
        if attempts >= routing.max_attempts:
            if mark_failed(tx, module, row.seq, error, now=now):
                detail = f"gave up after {attempts} attempts: {error}"
                dl.record_dead_letter(tx, module=module, reason=dl.HANDLER_ERROR,
                                      envelope=row.envelope, detail=detail)
            return HandleOutcome("failed", module, row.seq, row.event_id, row.intent,
                                 error=error, attempts=attempts)
        delay = routing.backoff_sec(attempts)
        retry_inbox_later(tx, module, row.seq, error, now + timedelta(seconds=delay))
    return HandleOutcome("retry", module, row.seq, row.event_id, row.intent, error=error,
                         attempts=attempts, retry_in_sec=delay)

