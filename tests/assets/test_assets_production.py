"""The production profile for real on loopback servers, on two small generated days
(1 coin x 1 hour each; the chain is the whole nightly chain; two days, so the second reads
the first's history and priors):

1. LOTUS_PROFILE=production brought up on PostgreSQL: the fabric migrated with module roles
   and row-level security, the Dagster instance on dagster-postgres behind a queued run
   coordinator; the days materialised in process; the inbox sensors tick and their handler
   runs; the databases are dropped WITHOUT force at the end (nothing left connected).
2. The same two days as a backfill through dagster-celery: RabbitMQ on
   127.0.0.1:5672, two `celery` worker processes on a queue of this test run's own, every
   lake partition of those days byte-identical to the in-process run (a day's partitions
   depend only on the days up to it), both workers used, workers stopped.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from lotus_cli.instance import dagster_home
from lotus_cli.materialize import DayOutcome, materialize_days
from lotus_core.config import Settings, load_settings
from lotus_core.deploy.up import prepare_opsdb
from lotus_core.fabric.examples import example_envelope
from lotus_core.fabric.inbox import deliver_to_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys, sign
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_location.definitions import build_definitions
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import default_key_dir
from lotus_sensors.daily_run import run_day_out_of_process
from tests.deploy_helpers import (
    SMALL_DAYS,
    dagster_url,
    generate_small_days,
    throwaway_databases,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("production")]


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def lake_bytes(lake: Lake, days: tuple[str, ...] | None = None
               ) -> dict[tuple[str, str], bytes]:
    """Each asset-day's bytes (a day x coin asset's: its coins' files, in coin order)."""
    return {(a, d): b"".join(p.read_bytes() for p in lake.files(a, d))
            for a in lake.assets() for d in lake.days(a) if days is None or d in days}


DAYS = SMALL_DAYS[:2]  # two days: the second reads the first's history and priors


@dataclass
class ProductionRun:
    settings: Settings
    env: dict[str, str]
    databases: dict[str, str]
    instance: dg.DagsterInstance
    outcomes: list[DayOutcome]
    root: Path


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> Iterator[ProductionRun]:
    root = tmp_path_factory.mktemp("production")
    feed = generate_small_days(root / "feed", days=len(DAYS))
    with throwaway_databases("dagster", "fabric", "fabric_celery") as db:
        env = {"LOTUS_PROFILE": "production", "LOTUS_HOME": str(root / "home"),
               "LOTUS_FEED_DIR": str(feed), "LOTUS_FABRIC_URL": db["fabric"],
               "DAGSTER_HOME": str(root / "dagster"), "DAGSTER_PG_URL": dagster_url(db["dagster"])}
        with environment(env):
            settings = load_settings(env=env)
            prepare_opsdb(settings.fabric, registry=load_modules())
            dagster_home(settings)
            instance = dg.DagsterInstance.get()
            try:
                outcomes = materialize_days(settings, list(DAYS), instance)
                yield ProductionRun(settings, env, db, instance, outcomes, root)
            finally:
                instance.dispose()
    # leaving `throwaway_databases` dropped every database without FORCE: none in use


def test_production_profile_up_materialise_and_inbox_sensors(production: ProductionRun):
    settings, instance, db = production.settings, production.instance, production.databases
    assert settings.deploy.executor == "celery"
    assert "daemon_relaunch_sensor" in settings.deploy.sensors_on
    assert [o.success for o in production.outcomes] == [True] * len(DAYS), \
        [o.error for o in production.outcomes]
    assert Lake(settings.lake_dir).days("active_priors") == list(DAYS)

    # the fabric: migrated, module roles, row-level security (re-applying converges)
    assert prepare_opsdb(settings.fabric, registry=load_modules()).security_statements > 100
    with psycopg.connect(db["fabric"], autocommit=True) as conn:
        rls = conn.execute("SELECT relname FROM pg_class WHERE relrowsecurity "
                           "AND relname IN ('sig_inbox', 'dm_outbox')").fetchall()
        assert sorted(r[0] for r in rls) == ["dm_outbox", "sig_inbox"]
        conn.execute("SET ROLE lotus_dm")  # a module may not read another module's strand
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM sig_strand")

    # the Dagster instance from the profile's dagster.yaml
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    queue = instance.run_coordinator.get_run_queue_config()
    assert queue.max_concurrent_runs == 4
    assert {t["key"] for t in queue.tag_concurrency_limits} >= {"dagster/backfill",
                                                               "lotus/module"}
    # each day its three phases (lotus_assets/day_plan.py): two daily runs, and a coin
    # phase of a run per coin (lotus_coins) between them
    assert instance.get_runs_count(dg.RunsFilter(job_name="lotus_daily")) == len(DAYS) * 2
    assert instance.get_runs_count(dg.RunsFilter(job_name="lotus_coins")) >= len(DAYS)

    # the code location under the profile: celery executor, its sensors switched on
    defs = build_definitions(settings)
    assert defs.executor.name == "celery"
    sensor = defs.resolve_sensor_def("inbox_sig_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_sensor_def("daemon_health_sensor").default_status == \
        dg.DefaultSensorStatus.RUNNING  # an observer: on in every profile

    # an inbox sensor tick on the production instance, and the handler run it asks for
    key_dir = default_key_dir(settings.home)
    ensure_keys(MODULES, key_dir)
    envelope = sign(example_envelope("sig", "WATCHDOG_ALERT", 1, ttl_sec=3600),
                    Keyring(key_dir).private_key("sig"))
    with OpsDb.open(settings.fabric) as fabric, fabric.transaction() as tx:
        tx.lock("sig_inbox")
        assert deliver_to_inbox(tx, "sig", envelope, models_map=load_modules().map)
    tick = sensor.evaluate_tick(dg.build_sensor_context(
        instance=instance, resources={"fabric": OpsDbResource(url=settings.fabric)}))
    assert [r.run_key for r in tick.run_requests] == [envelope["event_id"]]
    request = tick.run_requests[0]
    with production_env(production):
        handled = defs.resolve_job_def("inbox_sig").execute_in_process(
            run_config=request.run_config, tags=request.tags, instance=instance)
    assert handled.success
    with psycopg.connect(db["fabric"]) as conn:
        assert conn.execute("SELECT status FROM sig_inbox").fetchall() == [("processed",)]


@contextmanager
def production_env(production: ProductionRun) -> Iterator[None]:
    with environment(production.env):
        yield


def _start_worker(name: str, queue: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A worker on this run's queue. Its node name carries the queue too: Celery's remote
    control queue is named after the node, and two runs' `w1@host` would lock each other."""
    celery = Path(sys.executable).parent / "celery"
    return subprocess.Popen(
        [str(celery), "-A", "dagster_celery.app", "-b", "pyamqp://guest:guest@127.0.0.1:5672//",
         "worker", "-Q", queue, "-n", f"{name}-{queue}@%h", "--pool", "solo",
         "--prefetch-multiplier=1", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-l", "INFO"],
        env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)


def _stop(workers: list[subprocess.Popen]) -> list[bool]:
    """SIGTERM (Celery's warm shutdown), then wait; True for each worker that had to be
    killed."""
    killed = []
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)  # warm shutdown: finish the task in hand, then exit
    deadline = time.monotonic() + 60
    for w in workers:
        try:
            w.wait(timeout=max(1.0, deadline - time.monotonic()))
            killed.append(False)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
            killed.append(True)
    return killed


def test_celery_backfill_on_two_workers_is_byte_identical_to_in_process(
        production: ProductionRun):
    assert all(o.success for o in production.outcomes)
    reference = lake_bytes(Lake(production.settings.lake_dir), DAYS)
    queue = f"lotus_test_{secrets.token_hex(5)}"  # this run's own queue: parallel runs never meet
    config = production.root / "celery-lotus.yaml"
    config.write_text(f"deploy:\n  celery:\n    queue: {queue}\n")
    env = {**production.env, "LOTUS_HOME": str(production.root / "home_celery"),
           "LOTUS_FABRIC_URL": production.databases["fabric_celery"],
           "LOTUS_CONFIG": str(config)}
    settings = load_settings(env=env)
    assert settings.deploy.executor == "celery" and settings.deploy.celery.queue == queue
    prepare_opsdb(settings.fabric, registry=load_modules())
    logs = [production.root / f"worker{i}.log" for i in (1, 2)]
    workers = [_start_worker(f"w{i}", queue, env, log) for i, log in zip((1, 2), logs, strict=True)]
    killed = [True, True]
    try:
        with environment(env):
            results = [run_day_out_of_process(settings, day, production.instance)
                       for day in DAYS]
        assert all(w.poll() is None for w in workers), "a worker died"
    finally:
        killed = _stop(workers)
    failures = [e.message for r in results for e in r.all_events if e.is_step_failure]
    tails = [p.read_text()[-3000:] for p in logs]
    assert [r.success for r in results] == [True] * len(DAYS), (failures, tails)
    celery_lake = lake_bytes(Lake(settings.lake_dir))
    assert sorted(celery_lake) == sorted(reference)
    differing = [k for k in reference if celery_lake[k] != reference[k]]
    assert differing == [], f"partitions differ from the in-process run: {differing}"
    hosts = set()
    for run_id in (i for r in results for i in r.run_ids):
        for record in production.instance.all_logs(run_id, of_type=dg.DagsterEventType
                                                   .ENGINE_EVENT):
            data = record.dagster_event.engine_event_data
            if data and "Celery worker" in (data.metadata or {}):
                hosts.add(str(data.metadata["Celery worker"].value).split("@")[0])
    assert hosts == {f"w1-{queue}", f"w2-{queue}"}, f"steps ran on {hosts}"
    # stopped cleanly: each worker left on its own after the warm shutdown, none was killed
    assert killed == [False, False]
    assert all("Warm shutdown" in log.read_text() for log in logs)
