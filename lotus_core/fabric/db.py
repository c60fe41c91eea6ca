"""`Db`: what the fabric API functions accept, an open `OpsDb` or a `Tx` already open.

Passing a `Tx` joins the caller's transaction, so a handler can write its result and mark
its inbox row consumed atomically; passing an `OpsDb` runs the call in its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias

from lotus_core.store.connection import Tx
from lotus_core.store.opsdb import OpsDb

Db: TypeAlias = OpsDb | Tx


@contextmanager
def in_tx(db: Db) -> Iterator[Tx]:
    """Yield `db` itself if it is a Tx, else a new transaction on the OpsDb."""
    if isinstance(db, Tx):
        yield db
    else:
        with db.transaction() as tx:
            yield tx
