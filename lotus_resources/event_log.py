"""Dagster's SQLite event log with its connections kept open.

Dagster's `SqliteEventLogStorage` creates an SQLAlchemy engine, opens the run's SQLite file,
and disposes of both for every event it stores or reads. A Lotus day is a few hundred events
per run, so that handshake was about a tenth of a small day's CPU in process. This storage is
the same class with the same files (one database per run under `history/runs/`, an index
shard beside them, so the webserver, the daemon and `dagster` commands read it unchanged),
except that a process keeps an engine open for the few shards it used last. SQLite's own
locking serialises writers across processes as before; the busy timeout is Dagster's.

Dagster puts each shard in WAL mode; its connections keep SQLite's default `synchronous=FULL`,
an fsync of the log at every commit (a few hundred a run, most of a small run's waiting on a
busy disk). These connections say `synchronous=NORMAL`, SQLite's recommended setting for WAL:
a killed process loses nothing it committed and a shard is never corrupted; only a power cut
can drop the last commits before the next checkpoint.

Used by the embedded default (`dagster.yaml`: `event_log_storage`)."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

OPEN_SHARDS = 8
"""Engines kept per process: a run's own shard and the index, with room for the reads of a
few recent runs; the least recently used is disposed of beyond it."""


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    """Every new SQLite connection of a pooled engine: no fsync per commit (module docstring)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def runs_dir(dagster_home: str) -> str:
    """Where Dagster's default SQLite storage keeps the run shards of an instance."""
    return os.path.join(dagster_home, "history", "runs")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` keeping up to OPEN_SHARDS engines open per process.

    Config: `home` (the instance's directory, `{env: DAGSTER_HOME}`); the shards live in
    `<home>/history/runs/`, where Dagster's default puts them."""

    def __init__(self, home: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._home = home
        super().__init__(runs_dir(home), inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        from dagster import StringSource

        return {"home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: dict[str, Any]) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(self.conn_string_for_shard(shard),
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            event.listen(engine, "connect", _synchronous_normal)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
        self._engines[shard] = engine  # the most recently used last
        while len(self._engines) > OPEN_SHARDS:
            _, old = self._engines.popitem(last=False)
            old.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _close_all(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._close_all()  # its files are unlinked: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        self._close_all()
        super().dispose()


def instance_overrides(home: str | os.PathLike[str]) -> dict[str, Any]:
    """Instance config that puts an instance at `home` on this event log (what the embedded
    default's dagster.yaml says, with the path written out): for `dg.instance_for_test`'s
    `overrides` or a dagster.yaml of a home that has none."""
    return {"event_log_storage": {"module": __name__, "class": "PooledSqliteEventLogStorage",
                                  "config": {"home": str(home)}}}


def write_instance_yaml(home: str | os.PathLike[str]) -> None:
    """A dagster.yaml at `home` with only this event log (Dagster's defaults otherwise)."""
    import yaml

    path = os.path.join(home, "dagster.yaml")
    os.makedirs(home, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"telemetry": {"enabled": False}, **instance_overrides(home)}, f)
