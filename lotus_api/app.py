"""The Curator API as a Starlette app. Every route but /health needs a signed request
(lotus_core.curator_api.auth); every action is checked against the actor's role
(rules.check_action), then runs in one transaction under that role's database role
(store.role_session: row-level security on PostgreSQL) that applies it and appends it,
signature and all, to curator_actions. Errors are JSON `{"error": code, "reason": text}`:
400 malformed, 401 unsigned / bad signature / stale / replayed, 403 not this role's lever
(or refused by the database), 404 no such item, 409 already decided, 413 too large,
422 beyond kappa. `POST /charts` (routes_vis.py) takes a chart image as the raw body.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import anyio.to_thread
import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lotus_api.config import ApiConfig, log
from lotus_core.curator_api.auth import (
    HEADERS,
    Signed,
    verify_request,
)
from lotus_core.curator_api.kpis import lake_kpis
from lotus_core.curator_api.rules import (
    ALARM_STATUSES,
    CANDIDATE_KINDS,
    CANDIDATE_STATUSES,
    Action,
    ActionName,
    Refused,
    TargetKind,
    check_action,
)
from lotus_core.curator_api.standing import standing
from lotus_core.curator_api.store import (
    LoggedAction,
    action_counts,
    decide_candidate,
    list_alarms,
    list_candidates,
    read_actions,
    record_action,
    set_alarm,
)
from lotus_core.store.lake import LakeError

Work = Callable[[ApiConfig, Signed, Mapping[str, str], dict[str, Any]], Any]


def _error(refused: Refused) -> JSONResponse:
    return JSONResponse(refused.as_json(), status_code=refused.status)


MAX_BODY = 64 * 1024  # a reason and a value; anything larger is not a curator action


def _body(raw: bytes, headers: Mapping[str, str]) -> Any:
    if not raw:
        return None
    if len(raw) > MAX_BODY:
        raise Refused(413, "body_too_large", f"request body of {len(raw)} bytes; at most "
                      f"{MAX_BODY}")
    try:
        body = json.loads(raw)
    except ValueError:
        if any(not headers.get(h) for h in HEADERS):
            return None  # unsigned and malformed: say unsigned (verify_request does)
        raise Refused(400, "bad_json", "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, "bad_json", "the request body must be a JSON object")
    return body


def signed(cfg: ApiConfig, work: Work, status: int = 200
           ) -> Callable[[Request], Awaitable[JSONResponse]]:
    """A route: verify the request, then run `work` in a worker thread (it may block on
    the fabric) and answer its result as JSON, or the refusal."""

    async def endpoint(request: Request) -> JSONResponse:
        try:
            body = _body(await request.body(), request.headers)
            who = verify_request(
                cfg.curators, cfg.nonces, headers=request.headers, method=request.method,
                path=request.scope["path"], query=list(request.query_params.multi_items()),
                body=body, now_ms=cfg.clock(), skew_ms=cfg.skew_ms)
            result = await anyio.to_thread.run_sync(
                partial(work, cfg, who, request.path_params, body or {}))
        except psycopg.errors.InsufficientPrivilege as exc:
            # a read (or write) the curator role's grants or policies refuse: the database
            # is the guard behind the app's own checks, so it is the caller's 403
            refused = Refused(403, "refused_by_database",
                              f"the database refused the request: {str(exc).splitlines()[0]}")
            log.info("refused %s %s by the database (%s)", request.method,
                     request.scope["path"], request.headers.get("x-lotus-curator"))
            return _error(refused)
        except Refused as refused:
            log.info("refused %s %s: %s %s (%s)", request.method, request.scope["path"],
                     refused.status, refused.code, request.headers.get("x-lotus-curator"))
            return _error(refused)
        return JSONResponse(result, status_code=status)

    return endpoint


# --- reads ---------------------------------------------------------------------------------

def _query(who: Signed, name: str, default: str | None = None) -> str | None:
    for k, v in who.message["query"]:
        if k == name:
            return str(v)
    return default


def _int(who: Signed, name: str, default: int, lo: int, hi: int) -> int:
    text = _query(who, name)
    try:
        value = default if text is None else int(text)
    except ValueError:
        raise Refused(400, "bad_query", f"{name} must be an integer, got {text!r}") from None
    if not lo <= value <= hi:
        raise Refused(400, "bad_query", f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def _choice(who: Signed, name: str, default: str | None, allowed: tuple[str, ...]
            ) -> str | None:
    value = _query(who, name, default)
    if value == "all":
        return None
    if value is not None and value not in allowed:
        raise Refused(400, "bad_query", f"{name} must be one of {[*allowed, 'all']}, "
                      f"got {value!r}")
    return value


def get_candidates(cfg: ApiConfig, who: Signed, _p: Mapping[str, str], _b: dict[str, Any]
                   ) -> dict[str, Any]:
    status = _choice(who, "status", "pending", CANDIDATE_STATUSES)
    kind = _choice(who, "kind", None, CANDIDATE_KINDS)
    limit = _int(who, "limit", 200, 1, 5000)
    with cfg.pool.session(who.role) as tx:
        rows = list_candidates(tx, status=status, kind=kind, limit=limit)
    return {"candidates": rows, "n": len(rows)}


def get_alarms(cfg: ApiConfig, who: Signed, _p: Mapping[str, str], _b: dict[str, Any]
               ) -> dict[str, Any]:
    status = _choice(who, "status", "open", ALARM_STATUSES)
    limit = _int(who, "limit", 200, 1, 5000)
    with cfg.pool.session(who.role) as tx:
        rows = list_alarms(tx, status=status, limit=limit)
    return {"alarms": rows, "n": len(rows)}


def get_actions(cfg: ApiConfig, who: Signed, _p: Mapping[str, str], _b: dict[str, Any]
                ) -> dict[str, Any]:
    after = _int(who, "after", 0, 0, 2**62)
    limit = _int(who, "limit", 500, 1, 5000)
    with cfg.pool.session(who.role) as tx:
        rows = read_actions(tx, after_seq=after, limit=limit)
    return {"actions": rows, "n": len(rows),
            "next_after": rows[-1]["seq"] if rows else after}


def get_standing(cfg: ApiConfig, who: Signed, _p: Mapping[str, str], _b: dict[str, Any]
                 ) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with cfg.pool.session(who.role) as tx:
        while batch := read_actions(tx, after_seq=rows[-1]["seq"] if rows else 0, limit=5000):
            rows.extend(batch)
    return {"detectors": standing(rows)}


def get_kpis(cfg: ApiConfig, who: Signed, _p: Mapping[str, str], _b: dict[str, Any]
             ) -> dict[str, Any]:
    try:
        day, rows = lake_kpis(cfg.lake_root, _query(who, "date"))
    except LakeError as exc:
        raise Refused(404, "no_kpis", str(exc)) from None
    with cfg.pool.session(who.role) as tx:
        counts = action_counts(tx)
    return {"date": day, "council": rows,
            "actions": [{"role": c["role"], "action": c["action"], "n": int(c["n"])}
                        for c in counts]}


# --- actions -------------------------------------------------------------------------------

def _reason(body: dict[str, Any]) -> str:
    reason = body.get("reason")
    if not isinstance(reason, str):
        raise Refused(400, "bad_reason", "the body needs a 'reason' string")
    return reason


def _is_replay(exc: Exception) -> bool:
    text = str(exc)
    return "nonce" in text and ("UNIQUE" in text or "unique" in text or "duplicate" in text)


def act(action: ActionName, target_kind: TargetKind, param: str) -> Work:
    """The route work for one action on one kind of target."""

    def work(cfg: ApiConfig, who: Signed, params: Mapping[str, str], body: dict[str, Any]
             ) -> dict[str, Any]:
        value = body.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise Refused(400, "bad_value", f"'value' must be a number, got {value!r}")
        request = Action(action, target_kind, params[param], _reason(body),
                         None if value is None else float(value))
        check_action(cfg.council, who.role, request)
        entry = LoggedAction(who.curator_id, who.role, request, who.nonce, who.ts_ms,
                             who.message, who.sig, who.curator.fingerprint)
        try:
            with cfg.pool.session(who.role) as tx:
                _apply(tx, request, who)
                action_id, seq = record_action(tx, entry)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise Refused(403, "refused_by_database", f"row-level security refused the "
                          f"{who.role} curator: {str(exc).splitlines()[0]}") from None
        except (sqlite3.IntegrityError, psycopg.errors.UniqueViolation) as exc:
            if _is_replay(exc):
                raise Refused(401, "replayed_nonce", f"nonce {who.nonce!r} of "
                              f"{who.curator_id} is already in the action log") from None
            raise
        log.info("action %s seq %d: %s/%s %s %s %s", action_id, seq, who.curator_id, who.role,
                 action, target_kind, request.target_id)
        return {"action_id": action_id, "seq": seq, "curator_id": who.curator_id,
                "role": who.role, "action": action, "target_kind": target_kind,
                "target_id": request.target_id, "value": request.value}

    return work


def _apply(tx: Any, request: Action, who: Signed) -> None:
    """The action's effect on its target (the log row is written after it, same tx)."""
    if request.target_kind == "candidate":
        outcome = decide_candidate(tx, request.target_id, request.action,
                                   f"{who.curator_id}/{who.role}")
        if outcome == "missing":
            raise Refused(404, "no_such_candidate", f"no candidate {request.target_id!r}")
        if outcome != "ok":
            raise Refused(409, "already_decided", f"candidate {request.target_id!r} is "
                          f"already {outcome}")
    elif request.target_kind == "alarm":
        try:
            alarm_id = int(request.target_id)
        except ValueError:
            raise Refused(404, "no_such_alarm", f"alarm ids are integers, got "
                          f"{request.target_id!r}") from None
        outcome = set_alarm(tx, alarm_id, request.action)
        if outcome == "missing":
            raise Refused(404, "no_such_alarm", f"no alarm {alarm_id}")
        if outcome != "ok":
            raise Refused(409, "already_resolved", f"alarm {alarm_id} is already {outcome}")
    # detector vetoes and nudges are standing opinions: the log row is the whole effect


async def health(request: Request) -> JSONResponse:
    cfg: ApiConfig = request.app.state.cfg
    return JSONResponse({"ok": True, "dialect": cfg.pool.dialect, "curators": len(cfg.curators)})


def build_app(cfg: ApiConfig) -> Starlette:
    from lotus_api.routes_vis import post_chart

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/candidates", signed(cfg, get_candidates), methods=["GET"]),
        Route("/alarms", signed(cfg, get_alarms), methods=["GET"]),
        Route("/actions", signed(cfg, get_actions), methods=["GET"]),
        Route("/standing", signed(cfg, get_standing), methods=["GET"]),
        Route("/kpis", signed(cfg, get_kpis), methods=["GET"]),
        Route("/candidates/{item_id}/sign-off",
              signed(cfg, act("sign_off", "candidate", "item_id"), 201), methods=["POST"]),
        Route("/candidates/{item_id}/veto",
              signed(cfg, act("veto", "candidate", "item_id"), 201), methods=["POST"]),
        Route("/detectors/{detector_id}/veto",
              signed(cfg, act("veto", "detector", "detector_id"), 201), methods=["POST"]),
        Route("/detectors/{detector_id}/nudge",
              signed(cfg, act("nudge", "detector", "detector_id"), 201), methods=["POST"]),
        Route("/alarms/{alarm_id}/acknowledge",
              signed(cfg, act("acknowledge", "alarm", "alarm_id"), 201), methods=["POST"]),
        Route("/alarms/{alarm_id}/resolve",
              signed(cfg, act("resolve", "alarm", "alarm_id"), 201), methods=["POST"]),
        Route("/charts", post_chart(cfg), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.cfg = cfg
    return app
