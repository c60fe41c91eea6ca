"""Shared by the production-profile and distributed-executor tests: throw-away PostgreSQL
databases (dropped WITHOUT force, so a leaked connection fails the test) and small generated
feed days (1 coin x 1 hour: a sixth of a fixture day, so the 2-core machine keeps up)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.conftest import DEFAULT_PG_DSN, _with_database

SMALL_DAYS = ("2026-01-02", "2026-01-03", "2026-01-04")


@contextmanager
def throwaway_databases(*purposes: str) -> Iterator[dict[str, str]]:
    """One fresh database per purpose; afterwards each is dropped without FORCE, which
    fails while any session (a pool someone forgot to dispose) is still connected."""
    server = os.environ.get("LOTUS_TEST_PG_DSN", DEFAULT_PG_DSN)
    names = {p: f"lotus_test_{p}_{secrets.token_hex(5)}" for p in purposes}
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield {p: _with_database(server, n) for p, n in names.items()}
            for name in names.values():
                admin.execute(f'DROP DATABASE "{name}"')  # clean teardown: nobody left
        finally:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def generate_small_days(out: Path, days: int = 3) -> Path:
    """`lotus fixtures generate` for BTC, 12:00-13:00, from 2026-01-02 (deterministic)."""
    if not (out / "manifest.json").is_file():
        lotus = Path(sys.executable).parent / "lotus"
        subprocess.run([str(lotus), "fixtures", "generate",
                        "--out", str(out), "--from", SMALL_DAYS[0], "--days", str(days),
                        "--coins", "BTC", "--hours", "12-13"], check=True,
                       capture_output=True)
    return out


def dagster_url(dsn: str) -> str:
    """dagster-postgres speaks psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3,
    whose server-side binding breaks dagster's `NOTIFY run_events, %(id)s`."""
    return dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
