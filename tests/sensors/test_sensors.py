"""The inbox sensors and their handler jobs, with a real Dagster instance and a real fabric:
one run per handled row (run_key = event_id), the cursor, rows that commit below the
cursor (PostgreSQL), handlers marking rows consumed in the same transaction as their
work, retries and dead letters, the herald jobs, and start-up validation."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from lotus_core.config import load_settings
from lotus_core.fabric import dead_letter as dl
from lotus_core.fabric.examples import example_envelope, example_payload
from lotus_core.fabric.handlers import handle_row, handler_table
from lotus_core.fabric.heartbeats import beat, read_heartbeats
from lotus_core.fabric.inbox import deliver_to_inbox, read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import ManifestError, Routing, default_root, load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import post_many_to_outbox, read_outbox
from lotus_core.fabric.publish import publish_alpha
from lotus_core.fabric.queue import ENVELOPE_COLUMNS, envelope_params
from lotus_core.fabric.signing import ensure_keys, sign, verify
from lotus_core.fabric.strands import read_strand
from lotus_core.fabric.watch import InboxCursor, scan_inbox
from lotus_core.learning.priors_store import current_priors
from lotus_core.store.opsdb import OpsDb
from lotus_location.definitions import build_definitions
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource, HeraldRouterResource
from lotus_sensors.herald import herald_route_job, herald_watch_sensor
from lotus_sensors.inbox import INBOX_JOBS, INBOX_SENSORS


@pytest.fixture
def keys(tmp_path: Path) -> Keyring:
    ensure_keys(MODULES, tmp_path / "keys")
    return Keyring(tmp_path / "keys")


def url_of(fabric: OpsDb) -> str:
    target = fabric._url.target  # type: ignore[attr-defined]  # unmasked
    return target if fabric.dialect == "postgres" else f"sqlite:///{target}"


def deliver(fabric: OpsDb, keys: Keyring, target: str, sender: str, intent: str, i: int = 0,
            **kw) -> dict:
    """An envelope as the router would have put it into `target`'s inbox."""
    kw.setdefault("ttl_sec", 3600)
    env = sign(example_envelope(sender, intent, i, **kw), keys.private_key(sender))
    with fabric.transaction() as tx:
        tx.lock(f"{target}_inbox")
        assert deliver_to_inbox(tx, target, env, models_map=load_modules().map)
    return env


def tick(instance: dg.DagsterInstance, module: str, fabric: OpsDb, cursor: str | None):
    resources = {"fabric": OpsDbResource(url=url_of(fabric))}
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return INBOX_SENSORS[module].evaluate_tick(ctx)


def run_row(instance: dg.DagsterInstance, fabric: OpsDb, keys: Keyring, module: str,
            request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    return INBOX_JOBS[module].execute_in_process(
        run_config=request.run_config, instance=instance, tags=request.tags,
        raise_on_error=False,
        resources={"fabric": OpsDbResource(url=url_of(fabric)),
                   "fabric_keys": FabricKeysResource(key_dir=str(keys.key_dir))},
    )


# --- the sensor -------------------------------------------------------------------------


def test_sensor_requests_one_run_per_handled_row_and_moves_its_cursor(
    fabric: OpsDb, keys: Keyring, dagster_instance: dg.DagsterInstance
) -> None:
    patch = deliver(fabric, keys, "sig", "sig", "PRIOR_PATCH", 1)
    alert = deliver(fabric, keys, "sig", "sig", "WATCHDOG_ALERT", 2)
    deliver(fabric, keys, "sig", "dm", "DM_DECISION", 3)  # no handler yet: no run
    report = deliver(fabric, keys, "sig", "tr", "EXEC_REPORT", 4, to=["sig"])
    data = tick(dagster_instance, "sig", fabric, None)
    keys_ = [r.run_key for r in data.run_requests]
    assert keys_ == [patch["event_id"], alert["event_id"], report["event_id"]]
    req = data.run_requests[0]
    assert req.run_config == {"ops": {"handle_sig_inbox": {"config": {
        "seq": 1, "event_id": patch["event_id"]}}}}
    assert req.tags["lotus/intent"] == "PRIOR_PATCH" and req.tags["lotus/module"] == "sig"
    cursor = InboxCursor.parse(data.cursor)
    assert cursor.seq == 4 and cursor.gaps == []
    again = tick(dagster_instance, "sig", fabric, data.cursor)  # nothing new: no run twice
    assert again.run_requests == [] and again.skip_message
    late = deliver(fabric, keys, "sig", "sig", "WATCHDOG_ALERT", 5)
    third = tick(dagster_instance, "sig", fabric, again.cursor)
    assert [r.run_key for r in third.run_requests] == [late["event_id"]]
    beats = {b.component: b for b in read_heartbeats(fabric)}
    assert beats["sensor:inbox_sig"].module == "sig" and beats["sensor:inbox_sig"].detail[
        "cursor"] == 5


@pytest.mark.postgres
def test_a_row_committing_below_the_cursor_is_still_requested(
    fabric_postgres: OpsDb, keys: Keyring, dagster_instance: dg.DagsterInstance
) -> None:
    fabric = fabric_postgres
    slow = sign(example_envelope("sig", "WATCHDOG_ALERT", 1), keys.private_key("sig"))
    cols = ", ".join(ENVELOPE_COLUMNS)
    marks = ", ".join("%s" for _ in ENVELOPE_COLUMNS)
    with psycopg.connect(url_of(fabric)) as writer:  # a writer that skips the inbox lock
        writer.execute(f"INSERT INTO sig_inbox ({cols}) VALUES ({marks})",
                       envelope_params("postgres", slow))  # seq 1, not committed yet
        fast = deliver(fabric, keys, "sig", "sig", "WATCHDOG_ALERT", 2)  # seq 2, committed
        first = tick(dagster_instance, "sig", fabric, None)
        assert [r.run_key for r in first.run_requests] == [fast["event_id"]]
        cursor = InboxCursor.parse(first.cursor)
        assert cursor.seq == 2 and [g[:2] for g in cursor.gaps] == [[1, 1]]
        writer.commit()
    second = tick(dagster_instance, "sig", fabric, first.cursor)
    assert [r.run_key for r in second.run_requests] == [slow["event_id"]]
    assert InboxCursor.parse(second.cursor).gaps == []
    assert tick(dagster_instance, "sig", fabric, second.cursor).run_requests == []


def test_gaps_expire_and_are_bounded(fabric: OpsDb, keys: Keyring) -> None:
    for i in range(3):
        deliver(fabric, keys, "dm", "dm", "WATCHDOG_ALERT", i)
    old = InboxCursor(0, [[100, 105, 0.0]] + [[200 + k, 200 + k, 1e9] for k in range(100)])
    scan = scan_inbox(fabric, "dm", old, intents=["WATCHDOG_ALERT"], now=1e9 + 10,
                      gap_ttl_sec=300, max_gaps=64)
    assert len(scan.requests) == 3 and scan.cursor.seq == 3
    assert len(scan.cursor.gaps) == 64 and [100, 105, 0.0] not in scan.cursor.gaps
    assert InboxCursor.parse(scan.cursor.dumps()) == scan.cursor
    assert InboxCursor.parse("17") == InboxCursor(17)


# --- the handlers, run as the sensor's jobs ---------------------------------------------


def test_handler_jobs_do_the_work_and_consume_in_one_transaction(
    fabric: OpsDb, keys: Keyring, dagster_instance: dg.DagsterInstance
) -> None:
    sigbus = example_payload("ALPHA_PROPOSED", 7)["sigbus"]
    assert publish_alpha(fabric, [sigbus], keys, models_map=load_modules().map) == 1
    (alpha,) = [r.envelope for r in read_outbox(fabric, "sig")]
    window = alpha["payload"]["strand_id"]
    patch = deliver(fabric, keys, "sig", "sig", "PRIOR_PATCH", 1)
    patch_big = sign(example_envelope("dm", "PRIOR_PATCH", 2, to=["tr"], ttl_sec=3600),
                     keys.private_key("dm"))
    patch_big["payload"]["changes"] = [{"key": "exec.max_slippage_bps", "op": "set",
                                        "value": 45.0}, {"key": "no.such_knob", "op": "set",
                                                         "value": 1}]
    patch_big = sign(patch_big, keys.private_key("dm"))
    with fabric.transaction() as tx:
        deliver_to_inbox(tx, "tr", patch_big, models_map=load_modules().map)
    alert = deliver(fabric, keys, "sig", "sig", "WATCHDOG_ALERT", 3)
    report = deliver(fabric, keys, "sig", "tr", "EXEC_REPORT", 4, to=["sig"],
                     lifecycle_id=alpha["lifecycle_id"])

    sig_data = tick(dagster_instance, "sig", fabric, None)
    tr_data = tick(dagster_instance, "tr", fabric, None)
    assert len(sig_data.run_requests) == 3 and len(tr_data.run_requests) == 1
    for module, data in (("sig", sig_data), ("tr", tr_data)):
        for req in data.run_requests:
            assert run_row(dagster_instance, fabric, keys, module, req).success
    assert read_inbox(fabric, "sig") == [] and read_inbox(fabric, "tr") == []

    # PRIOR_PATCH: applied within sig's caps, answered with a signed PRIOR_PATCH_APPLIED.
    assert current_priors(fabric, "sig")["kr.theta_min"].value == pytest.approx(0.06)
    tr_knob = current_priors(fabric, "tr")["exec.max_slippage_bps"]
    assert tr_knob.value == pytest.approx(12.0) and tr_knob.source_event_id == patch_big[
        "event_id"]  # max_step 2 from 10
    answers = {r.envelope["parent_id"]: r.envelope for m in ("sig", "tr")
               for r in read_outbox(fabric, m) if r.intent == "PRIOR_PATCH_APPLIED"}
    to_dm = answers[patch_big["event_id"]]
    assert to_dm["to"] == ["dm"] and verify(to_dm, keys.public_keys())
    assert to_dm["payload"]["applied"][0]["clamped"] is True
    assert to_dm["payload"]["rejected"] == [{"key": "no.such_knob", "reason": "unknown_knob"}]
    assert answers[patch["event_id"]]["to"] == ["sig"]
    # WATCHDOG_ALERT: queued for the curator.
    with fabric.transaction() as tx:
        queued = tx.query("SELECT event_id, module, severity, status FROM curator_queue")
    assert queued == [{"event_id": alert["event_id"], "module": "sig", "severity": "warning",
                       "status": "open"}]
    # EXEC_REPORT: an outcome strand linked to the published window, label on the window.
    outcome = read_strand(fabric, "sig", report["event_id"])
    assert outcome["kind"] == "outcome" and outcome["parent_id"] == window
    assert outcome["lifecycle_id"] == alpha["lifecycle_id"]
    assert read_strand(fabric, "sig", window)["outcomes"]["n_reports"] == 1

    # The same request again (a replayed run): the row is consumed, nothing happens twice.
    replay = run_row(dagster_instance, fabric, keys, "sig", sig_data.run_requests[0])
    assert replay.success
    assert current_priors(fabric, "sig")["kr.theta_min"].version == 1
    beats = {b.component: b for b in read_heartbeats(fabric)}
    assert beats["handler:sig"].detail["outcome"] == "skipped"


def test_a_failing_handler_is_retried_by_the_sensor_then_dead_lettered(
    fabric: OpsDb, keys: Keyring, dagster_instance: dg.DagsterInstance
) -> None:
    with fabric.transaction() as tx:  # a real fault: the curator queue refuses inserts
        if fabric.dialect == "sqlite":
            tx.execute("CREATE TRIGGER no_queue BEFORE INSERT ON curator_queue"
                       " BEGIN SELECT RAISE(ABORT, 'queue offline'); END")
        else:
            tx.execute("CREATE FUNCTION no_queue() RETURNS trigger LANGUAGE plpgsql AS"
                       " $$ BEGIN RAISE EXCEPTION 'queue offline'; END $$")
            tx.execute("CREATE TRIGGER no_queue BEFORE INSERT ON curator_queue"
                       " FOR EACH ROW EXECUTE FUNCTION no_queue()")
    alert = deliver(fabric, keys, "vis", "vis", "WATCHDOG_ALERT", 1)
    first = tick(dagster_instance, "vis", fabric, None)
    result = run_row(dagster_instance, fabric, keys, "vis", first.run_requests[0])
    assert not result.success  # the run fails visibly; the row backs off
    (row,) = read_inbox(fabric, "vis")
    assert row.attempts == 1 and "queue offline" in row.last_error
    due = row.next_attempt_at.timestamp()
    cursor = InboxCursor.parse(first.cursor)
    intents = ["WATCHDOG_ALERT"]
    assert scan_inbox(fabric, "vis", cursor, intents=intents, now=due - 0.5).requests == []
    (retry,) = scan_inbox(fabric, "vis", cursor, intents=intents, now=due).requests
    assert retry.run_key == f"{alert['event_id']}#1"
    routing = Routing("at-least-once", max_attempts=3, backoff_base_sec=1, backoff_max_sec=2)
    models_map = dataclasses.replace(load_modules().map, routing=routing)
    now = datetime.now(UTC)
    outcomes = [handle_row(fabric, "vis", row.seq, keys, models_map=models_map,
                           clock=lambda k=k: now + timedelta(seconds=10 * k)).status
                for k in range(2)]
    assert outcomes == ["retry", "failed"]
    assert read_inbox(fabric, "vis") == []
    (dead,) = dl.read_dead_letters(fabric, module="vis")
    assert dead["reason"] == dl.HANDLER_ERROR and "gave up after 3 attempts" in dead["detail"]


# --- the router as a job, and its watch sensor ------------------------------------------


def test_herald_job_drains_and_the_watch_sensor_starts_it_only_when_needed(
    fabric: OpsDb, keys: Keyring, dagster_instance: dg.DagsterInstance
) -> None:
    envs = [sign(example_envelope("sig", "ALPHA_PROPOSED", i, ttl_sec=3600),
                 keys.private_key("sig")) for i in range(40)]
    post_many_to_outbox(fabric, "sig", envs, models_map=load_modules().map)
    url = url_of(fabric)
    herald = HeraldRouterResource(fabric_url=url, key_dir=str(keys.key_dir))
    resources = {"fabric": OpsDbResource(url=url), "herald": herald}
    ctx = dg.build_sensor_context(instance=dagster_instance, resources=resources)
    (req,) = herald_watch_sensor.evaluate_tick(ctx).run_requests
    beat(fabric, "herald", "router", "ok")  # a live router process: leave it to it
    ctx = dg.build_sensor_context(instance=dagster_instance, resources=resources)
    assert herald_watch_sensor.evaluate_tick(ctx).run_requests == []
    assert herald.health() == "ok"
    result = herald_route_job.execute_in_process(
        instance=dagster_instance, run_config={"ops": {"route_outboxes": {"config": {
            "batch_size": 16, "max_seconds": 30}}}},
        resources={"fabric": OpsDbResource(url=url),
                   "fabric_keys": FabricKeysResource(key_dir=str(keys.key_dir))},
    )
    assert result.success and read_outbox(fabric, "sig") == []
    assert len(read_inbox(fabric, "dm", limit=100)) == 40
    ctx = dg.build_sensor_context(instance=dagster_instance, resources=resources)
    assert herald_watch_sensor.evaluate_tick(ctx).skip_message == "outboxes are empty"


# --- start-up validation ----------------------------------------------------------------


def test_definitions_validate_handler_lines_naming_file_and_key(tmp_path: Path) -> None:
    defs = build_definitions(load_settings(env={"LOTUS_HOME": str(tmp_path)}))
    jobs = {j.name for j in defs.jobs or ()}
    assert jobs >= {"inbox_sig", "inbox_dm", "inbox_tr", "inbox_vis", "herald_route"}
    sensors = list(defs.sensors or ())
    assert {s.name for s in sensors} == {f"inbox_{m}_sensor" for m in MODULES} | {
        "herald_watch_sensor", "daemon_health_sensor", "live_feed_sensor",
        "daemon_relaunch_sensor", "bus_health_sensor",
        "curator_actions_sensor", "vis_inbox_sensor"}
    # every sensor that launches runs or processes is off until a user (or the production
    # profile) turns it on; only the observers run (the live feed's and the daemon's
    # health, which records the daemon_status observation), and they launch nothing
    running = {s.name for s in sensors if s.default_status == dg.DefaultSensorStatus.RUNNING}
    assert running == {"live_feed_sensor", "daemon_health_sensor", "bus_health_sensor",
                       "curator_actions_sensor"}
    assert set(defs.resources or {}) >= {"fabric_keys", "herald", "daemon"}
    root = tmp_path / "fabric"
    root.mkdir()
    src = default_root()
    for name in ("tables.yaml", "models.map.yaml"):
        shutil.copy(src / name, root / name)
    shutil.copytree(src / "modules", root / "modules")
    path = root / "modules" / "tr" / "module.yaml"
    text = path.read_text()
    path.write_text(text.replace("handlers.queue_watchdog_alert", "handlers.no_such_handler"))
    with pytest.raises(ManifestError, match=r"tr/module.yaml: intents.listens\[2\].handler"):
        handler_table(load_modules(root))
