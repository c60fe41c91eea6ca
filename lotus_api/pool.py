"""A small pool of fabric connections: an `OpsDb` serialises its one connection, so the
API's worker threads take one each instead of queueing on a single connection."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager

from lotus_core.curator_api.store import role_session
from lotus_core.store.connection import Tx
from lotus_core.store.opsdb import OpsDb


class FabricPool:
    """`size` connections to `url`, opened (and migrated) once; `session(role)` lends one."""

    def __init__(self, url: str, size: int = 4) -> None:
        if size < 1:
            raise ValueError(f"pool size must be >= 1, got {size}")
        self._all = [OpsDb.open(url) for _ in range(size)]
        self._free: queue.Queue[OpsDb] = queue.Queue()
        for fabric in self._all:
            self._free.put(fabric)

    @property
    def dialect(self) -> str:
        return self._all[0].dialect

    @property
    def url(self) -> str:
        return self._all[0].url

    def owner(self) -> OpsDb:
        """The first connection, for start-up work as the connecting user."""
        return self._all[0]

    @contextmanager
    def session(self, role: str | None) -> Iterator[Tx]:
        """A transaction on a free connection, under `role`'s database role on PostgreSQL."""
        fabric = self._free.get()
        try:
            with role_session(fabric, role) as tx:
                yield tx
        finally:
            self._free.put(fabric)

    @contextmanager
    def lend(self) -> Iterator[OpsDb]:
        """A free connection itself, for work that opens its own transactions
        (`lotus_core.vis.intake.accept_chart` commits before it answers)."""
        fabric = self._free.get()
        try:
            yield fabric
        finally:
            self._free.put(fabric)

    def close(self) -> None:
        for fabric in self._all:
            fabric.close()
