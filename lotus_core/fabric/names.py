"""The fixed vocabulary of the module fabric: modules, intents, roles and table names.

Table names are built from these constants only, never from caller strings, so SQL that
interpolates a table name cannot be steered by data.
"""

from __future__ import annotations

from typing import Literal, get_args

Module = Literal["sig", "dm", "tr", "vis"]
Intent = Literal[
    "ALPHA_PROPOSED",
    "ALPHA_WITHDRAWN",
    "DM_DECISION",
    "EXEC_REPORT",
    "PRIOR_PATCH",
    "PRIOR_PATCH_APPLIED",
    "LESSON_PUBLISHED",
    "WATCHDOG_ALERT",
    "CHART_ALPHA",
]
Box = Literal["inbox", "outbox"]

MODULES: tuple[Module, ...] = get_args(Module)
INTENTS: tuple[Intent, ...] = get_args(Intent)
ROUTER = "router"  # the Herald router speaks for no module; heartbeats name it like one
ROUTER_ROLE = "lotus_router"

# Delivery state of an inbox or outbox row; the ledger adds `recorded` for strands.
PENDING, PROCESSED, FAILED = "pending", "processed", "failed"
QUEUE_STATUSES = (PENDING, PROCESSED, FAILED)


def check_module(module: str) -> Module:
    """`module` if it is one of the four; a clear error otherwise (and no SQL built from it)."""
    if module not in MODULES:
        raise ValueError(f"unknown module {module!r}; expected one of {list(MODULES)}")
    # ignore: the membership test above narrows str to Module; mypy cannot follow `in`.
    return module  # type: ignore[return-value]


def check_intent(intent: str) -> Intent:
    if intent not in INTENTS:
        raise ValueError(f"unknown intent {intent!r}; expected one of {list(INTENTS)}")
    # ignore: the membership test above narrows str to Intent; mypy cannot follow `in`.
    return intent  # type: ignore[return-value]


def strand_table(module: str) -> str:
    return f"{check_module(module)}_strand"


def box_table(module: str, box: Box) -> str:
    if box not in ("inbox", "outbox"):
        raise ValueError(f"box must be 'inbox' or 'outbox', got {box!r}")
    return f"{check_module(module)}_{box}"


def inbox_table(module: str) -> str:
    return box_table(module, "inbox")


def outbox_table(module: str) -> str:
    return box_table(module, "outbox")


def priors_table(module: str) -> str:
    return f"{check_module(module)}_priors"


def module_role(module: str) -> str:
    """The PostgreSQL login role a module's processes connect as."""
    return f"lotus_{check_module(module)}"


def module_tables(module: str) -> tuple[str, str, str, str]:
    """The four tables a module owns: strand, inbox, outbox, priors."""
    return (strand_table(module), inbox_table(module), outbox_table(module), priors_table(module))


SHARED_TABLES = ("lotus_ledger", "dead_letter", "heartbeats", "curator_queue")
