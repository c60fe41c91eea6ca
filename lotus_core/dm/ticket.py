"""dm-decision-1.0 tickets: build, validate, serialise (canonical JSON).

The proof pack lives in the schema's own fields: `rationale.top_alphas` and
`rationale.blend_weights` (every alpha used and its final weight), `rationale.risk_binding`
(constraints binding at the optimum, from the dual values), and `audit_refs` (strings):
expected cost (bps of equity), turnover, solver status, solve time, objective, the
calibration window. `audit_refs.solve_ms` is wall-clock and the only field that differs
between two runs on the same inputs; `ticket_digest` hashes the ticket without it.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from lotus_core.fabric.contracts import first_error
from lotus_core.fabric.envelope import canonical_json

SCHEMA_ID = "urn:lotus:schema:dm-decision-1.0"
SCHEMA_VER = "dm-decision-1.0"
WALL_CLOCK_KEYS = ("solve_ms",)


class TicketError(ValueError):
    """A ticket does not validate against dm-decision-1.0; the message names the path."""


def validate_ticket(ticket: dict[str, Any]) -> None:
    error = first_error(SCHEMA_ID, ticket, "ticket")
    if error is not None:
        raise TicketError(error)


def ticket_json(ticket: dict[str, Any]) -> str:
    """Canonical JSON text (sorted keys, no spaces), validated first."""
    validate_ticket(ticket)
    return canonical_json(ticket).decode("utf-8")


@lru_cache(maxsize=1024)
def lake_ticket_json(text: str) -> str:
    """The ticket as the lake keeps it: without its wall-clock fields (solve time goes to the
    run's metadata), so re-running a day gives byte-identical partitions. Memoised: the
    DM digests each ticket in this form, the joint replay hands it to the Trader in it and
    writes it a batch later (`JointTables`), the same text each time."""
    return canonical_json(without_wall_clock(text)).decode("utf-8")


def text_digest(text: str) -> str:
    """`ticket_digest` of the ticket whose canonical JSON is `text`: the lake form is the
    canonical JSON of the same body (JSON text parsed and written again is the same
    text), so its hash, made once with the lake form the replay needs anyway."""
    return "sha256:" + hashlib.sha256(lake_ticket_json(text).encode("utf-8")).hexdigest()


def ticket_digest(ticket: dict[str, Any]) -> str:
    """sha256 of the ticket without its wall-clock fields: equal iff the decision is."""
    refs = {k: v for k, v in ticket.get("audit_refs", {}).items() if k not in WALL_CLOCK_KEYS}
    body = {**ticket, "audit_refs": refs}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def without_wall_clock(ticket_text: str) -> dict[str, Any]:
    """A parsed ticket minus its wall-clock fields (what parity tests compare)."""
    t = json.loads(ticket_text)
    t["audit_refs"] = {k: v for k, v in t.get("audit_refs", {}).items()
                       if k not in WALL_CLOCK_KEYS}
    return t
