"""The researcher's surface: partitions that follow the feed directory, one feed
location for the nightly schedule, and the live daemon in the UI: `daemon_health_sensor`
observing a real daemon on `daemon_status`, and the daemon_start / daemon_stop jobs."""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from pathlib import Path

import dagster as dg
import yaml

from lotus_assets.partitions import daily_partitions_def
from lotus_core.config import load_settings
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_location.definitions import build_definitions
from lotus_resources.daemon import DaemonResource
from lotus_resources.router import default_key_dir
from lotus_sensors.daemon import DAEMON_STATUS, daemon_health_sensor

REPO = Path(__file__).resolve().parents[2]
DAYS = ["2026-02-02", "2026-02-03", "2026-02-05"]


def _feed(root: Path, frozen: bool) -> Path:
    feed = root / "feed"
    feed.mkdir(parents=True)
    for day in DAYS:
        (feed / f"{day}.jsonl.gz").write_bytes(b"")
    if frozen:
        (feed / "manifest.json").write_text('{"files": {}}')
    return feed


def test_a_frozen_set_bounds_the_partitions_and_a_live_directory_does_not(tmp_path):
    frozen = _feed(tmp_path / "frozen", frozen=True)
    keys = daily_partitions_def({"LOTUS_FEED_DIR": str(frozen)}).get_partition_keys()
    assert keys == ["2026-02-02", "2026-02-03", "2026-02-04", "2026-02-05"]
    live = _feed(tmp_path / "live", frozen=False)
    keys = daily_partitions_def({"LOTUS_FEED_DIR": str(live)}).get_partition_keys()
    assert keys[0] == DAYS[0] and keys[-1] >= dt.date.today().isoformat()  # up to today
    # an explicit start (the suite's 2025-01-01) keeps its open range on a frozen set
    explicit = daily_partitions_def({"LOTUS_FEED_DIR": str(frozen),
                                     "LOTUS_PARTITIONS_START": "2025-01-01"})
    assert explicit.get_partition_keys()[-1] >= dt.date.today().isoformat()
    ended = daily_partitions_def({"LOTUS_FEED_DIR": str(live),
                                  "LOTUS_PARTITIONS_START": "2026-01-30",
                                  "LOTUS_PARTITIONS_END": "2026-02-03"})
    assert ended.get_partition_keys() == ["2026-01-30", "2026-01-31", "2026-02-01",
                                          "2026-02-02", "2026-02-03"]


def _nightly_feed_dir(settings) -> str:
    defs = build_definitions(settings)
    ctx = dg.build_schedule_context(
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=dt.datetime(2026, 2, 6, 0, 30, tzinfo=dt.UTC))
    (req,) = defs.resolve_schedule_def("lotus_nightly").evaluate_tick(ctx).run_requests
    assert req.partition_key == "2026-02-05"
    assert dg.validate_run_config(defs.resolve_job_def("lotus_backfill"), req.run_config)
    return req.run_config["ops"]["backfill_days"]["config"]["feed_dir"]


def test_the_nightly_reads_the_feed_resources_directory_unless_it_is_frozen(tmp_path):
    live = _feed(tmp_path / "live", frozen=False)
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(live)}, env={})
    assert _nightly_feed_dir(settings) == str(live.resolve())  # what the UI re-runs read
    frozen = _feed(tmp_path / "frozen", frozen=True)
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(frozen)}, env={})
    # nothing records into a frozen set: the night that was lived is the daemon's recording
    assert _nightly_feed_dir(settings) == str((tmp_path / "home" / "feed").resolve())


def test_the_code_location_is_named_lotus():
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["location_name"] == "lotus"
    dg_conf = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dg"]
    assert dg_conf["project"]["code_location_name"] == "lotus"  # `dg dev` (make dev)


def _latest(instance: dg.DagsterInstance) -> dict:
    """The newest observation of daemon_status in the instance (what the asset page shows)."""
    (record,) = instance.fetch_observations(DAEMON_STATUS, limit=1).records
    obs = record.event_log_entry.asset_observation
    return {k: v.value for k, v in obs.metadata.items()}


def _status_meta(instance: dg.DagsterInstance, daemon: DaemonResource) -> dict:
    ctx = dg.build_sensor_context(instance=instance, resources={"daemon": daemon})
    result = daemon_health_sensor(ctx)
    (obs,) = result.asset_events
    assert obs.asset_key == DAEMON_STATUS
    instance.report_runless_asset_event(obs)  # as the sensor daemon does with it
    return {"skip": result.skip_reason.skip_message,
            **{k: v.value for k, v in obs.metadata.items()}}


def test_the_health_sensor_reports_a_running_daemon_and_a_clean_stop(tmp_path, caplog):
    home = tmp_path / "home"
    ensure_keys(MODULES, home / "keys")
    daemon = DaemonResource(home=str(home), fabric_url=f"sqlite:///{home / 'fabric.sqlite'}",
                            key_dir=str(home / "keys"))
    assert daemon_health_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.DagsterInstance.ephemeral() as instance:
        before = _status_meta(instance, daemon)
        assert before["health"] == "unknown" and before["running"] is False
        info = daemon.launch()
        try:
            meta = _status_meta(instance, daemon)
            assert meta["health"] == "ok" and meta["running"] is True
            assert meta["pid"] == info["pid"] and meta["last_beat_age_s"] < 30
            assert "| router | running |" in meta["loops"]  # the loops table
            assert meta["skip"].startswith(f"daemon ok: pid {info['pid']}")
        finally:
            daemon.stop()
        with caplog.at_level(logging.WARNING):
            after = _status_meta(instance, daemon)
        assert after["health"] == "stopped" and after["running"] is False
        assert "| router | stopped |" in after["loops"]
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
        assert _latest(instance)["health"] == "stopped"


def test_the_daemon_jobs_start_and_stop_a_real_daemon(tmp_path):
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    ensure_keys(MODULES, default_key_dir(settings.home))
    defs = build_definitions(settings)
    daemon = DaemonResource(home=str(settings.home.resolve()), fabric_url=settings.fabric)
    with dg.DagsterInstance.ephemeral() as instance:
        start = defs.resolve_job_def("daemon_start").execute_in_process(
            instance=instance, run_config={"ops": {"start_daemon": {"config": {
                "loops": "router"}}}})
        try:
            assert start.success and daemon.state()["running"]
            assert _latest(instance)["running"] is True
            again = defs.resolve_job_def("daemon_start").execute_in_process(
                instance=instance, raise_on_error=False)
            assert not again.success  # one daemon per LOTUS_HOME
        finally:
            stop = defs.resolve_job_def("daemon_stop").execute_in_process(instance=instance)
        assert stop.success
        state = daemon.state()
        assert not state["running"] and state["health"] == "stopped"
        assert _latest(instance)["health"] == "stopped"


def test_live_feed_is_raw_feeds_upstream_in_the_lineage(tmp_path):
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    graph = build_definitions(settings).resolve_asset_graph()
    assert dg.AssetKey("live_feed") in graph.get(dg.AssetKey("raw_feed")).parent_keys
    assert graph.get(DAEMON_STATUS).group_name == "live"
