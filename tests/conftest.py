"""Shared fixtures. The fabric ones run every fabric test on SQLite and on PostgreSQL.

PostgreSQL tests never skip: each test session creates a throw-away database on the server
named by LOTUS_TEST_PG_DSN and drops it at the end; an unreachable server fails the tests.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from _pytest.nodeid import NodeId

from lotus_core.store.opsdb import OpsDb
from lotus_core.store.url import mask_dsn, sqlite_url

pytest_plugins = ["tests.timing_guard"]  # the suite prints its time and warns past its budget

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
# tests materialise the real 2025-01-26 recording: partitions must reach back to it
os.environ.setdefault("LOTUS_PARTITIONS_START", "2025-01-01")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _deselect_soak(config, items)
    _slow_modules_first(items)
    _group_for_loadgroup(config, items)


# The longest modules (seconds of one worker, as `make test --durations` reports them): they
# start first, longest first (the LPT rule), so no long one starts when the other worker is
# nearly done. A module not listed keeps its collection order after them.
LONGEST_MODULES: dict[str, float] = json.loads(
    (Path(__file__).with_name("module_durations.json")).read_text())["modules"]


def _slow_modules_first(items: list[pytest.Item]) -> None:
    """Modules holding a `slow` test run first, each kept whole (its module fixtures are
    built once), the longest known ones first: the long tests start at once on both xdist
    workers and the short ones fill in at the end, instead of a long test starting last.
    xdist hands the groups out in this order only with `--no-loadscope-reorder` (the
    Makefile's): by default it reorders them by their number of tests, which puts the
    one-test README `make run` group last, to run alone for the suite's last minutes."""
    slow = {item.nodeid.split("::")[0] for item in items if "slow" in item.keywords}

    def key(item: pytest.Item) -> tuple[bool, int]:
        module = item.nodeid.split("::")[0]
        return module not in slow, -LONGEST_MODULES.get(module, 0)

    items.sort(key=key)  # stable: collection order within a module and among the rest


def _deselect_soak(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`soak` tests (~80 min of CPU for the family) run only when a -m expression names them
    (`make test-soak`); `make test` and a bare `pytest` deselect them (counted as
    "deselected" in the summary), so nothing in the default run is skipped."""
    if "soak" in (config.getoption("markexpr") or ""):
        return
    soak = [item for item in items if "soak" in item.keywords]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if "soak" not in item.keywords]


# Modules whose tests are independent builds, each worth a worker of its own (no module
# fixture to share): their tests are spread over the workers like ungrouped tests.
SPLIT_MODULES = {"tests/assets/test_learning_loop.py"}


def _group_for_loadgroup(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--dist loadgroup` for pytest 9: pytest-xdist 3.8 marks a grouped test by appending
    `@<group>` to `item._nodeid`, which pytest 9 no longer reads (a node's id is `item._id`),
    so `xdist_group` tests were spread over workers and each worker rebuilt their module
    fixtures. The same suffix, set where pytest 9 reads it. A test with no `xdist_group` is
    grouped with its module (unless SPLIT_MODULES lists it): spread test by test, a module
    fixture is built once per worker (35 s of `test_checks_live_parity`'s two days, 24 s
    of `test_dsi`'s, 16 s of `test_lessons_truth`'s planted night, twice each)."""
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        module = item.nodeid.split("::")[0]
        if not names and module not in SPLIT_MODULES:
            names = [module.replace("/", ".").removesuffix(".py")]
        if names and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")  # type: ignore[attr-defined]


def _with_database(dsn: str, dbname: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{dbname}"))


@pytest.fixture(scope="session")
def fabric_pg_database() -> Iterator[str]:
    """DSN of a fresh database for this session (and xdist worker), dropped afterwards."""
    server = os.environ.get("LOTUS_TEST_PG_DSN", DEFAULT_PG_DSN)
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL test server unreachable at {mask_dsn(server)}: {exc}\n"
            "Start it (CI does) or point LOTUS_TEST_PG_DSN at one.",
            pytrace=False,
        )
    name = f"lotus_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(server, name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fabric_pg_dsn(fabric_pg_database: str) -> str:
    """The session database, emptied: each test starts from no tables at all."""
    with psycopg.connect(fabric_pg_database, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '5s'")  # a leaked transaction fails, never hangs
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return fabric_pg_database


@pytest.fixture
def fabric_sqlite_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "lotus_home" / "fabric.sqlite")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fabric_url(request: pytest.FixtureRequest) -> str:
    """An empty fabric's URL, once per backend."""
    name = "fabric_sqlite_url" if request.param == "sqlite" else "fabric_pg_dsn"
    return request.getfixturevalue(name)


@pytest.fixture
def fabric_sqlite(fabric_sqlite_url: str) -> Iterator[OpsDb]:
    with OpsDb.open(fabric_sqlite_url) as fabric:
        yield fabric


@pytest.fixture
def fabric_postgres(fabric_pg_dsn: str) -> Iterator[OpsDb]:
    with OpsDb.open(fabric_pg_dsn) as fabric:
        yield fabric


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fabric(request: pytest.FixtureRequest) -> OpsDb:
    """An open, fully migrated fabric, once per backend."""
    return request.getfixturevalue(f"fabric_{request.param}")


@pytest.fixture
def dagster_instance(tmp_path: Path):
    """A real Dagster instance (SQLite run/event storage) in a temporary DAGSTER_HOME."""
    from tests.helpers import dagster_instance_at

    with dagster_instance_at(tmp_path / "dagster_home") as instance:
        yield instance


@pytest.fixture(scope="session")
def first_fixture_day(tmp_path_factory: pytest.TempPathFactory):
    """The first committed fixture day through every asset, once a session, for the modules
    that start from it (tests/kits/first_fixture_day.py); a test takes a copy (`copy_to`)."""
    from tests.kits.first_fixture_day import build

    return build(tmp_path_factory.mktemp("first_fixture_day"))
