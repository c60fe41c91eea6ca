"""The live feed observed in Dagster, and the (opt-in) relaunch of a dead daemon."""

from __future__ import annotations

import dagster as dg

from lotus_core.config import load_settings
from lotus_core.fabric.connect import open_opsdb
from lotus_core.fabric.heartbeats import beat
from lotus_core.fabric.names import MODULES, ROUTER
from lotus_core.fabric.signing import ensure_keys
from lotus_location.definitions import build_definitions
from lotus_resources.daemon import DaemonResource
from lotus_sensors.live import daemon_relaunch_sensor, live_feed_sensor


def test_live_feed_observations_from_the_daemon_heartbeat(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    settings = load_settings()
    with open_opsdb(settings.fabric, migrate=True) as fabric:
        beat(fabric, "daemon", ROUTER, "ok", {"loops": {
            "feed": {"url": "ws://127.0.0.1:8765", "msgs_per_s": 812.5, "lag_ms": 120,
                     "reconnects": 3, "stale_coins": ["ETH"], "last_frame_ms": 1767355200000,
                     "dead_letters": 4},
            "score": {"priors_ver": 7, "windows": 10, "posted": 2}}})
    daemon = DaemonResource(home=str(settings.home), fabric_url=settings.fabric)
    result = live_feed_sensor(dg.build_sensor_context(resources={"daemon": daemon}))
    (obs,) = result.asset_events
    meta = {k: v.value for k, v in obs.metadata.items()}
    assert obs.asset_key == dg.AssetKey("live_feed")
    assert meta["msgs_per_s"] == 812.5 and meta["reconnects"] == 3 and meta["lag_ms"] == 120
    assert meta["stale_coins"] == "ETH" and meta["priors_ver"] == 7
    assert meta["last_frame"].startswith("2026-01-02T12:00:00")
    defs = build_definitions(settings)
    assert {"live_feed_sensor", "daemon_relaunch_sensor"} <= {
        s.name for s in defs.get_repository_def().sensor_defs}
    assert daemon_relaunch_sensor.default_status == dg.DefaultSensorStatus.STOPPED


def test_relaunch_sensor_starts_a_dead_daemon(tmp_path):
    home = tmp_path / "home"
    ensure_keys(MODULES, home / "keys")
    url = f"sqlite:///{home / 'fabric.sqlite'}"
    daemon = DaemonResource(home=str(home), fabric_url=url, loops="router")
    try:
        skip = daemon_relaunch_sensor(dg.build_sensor_context(resources={"daemon": daemon}))
        assert "relaunched the daemon" in skip.skip_message
        assert daemon.status()["running"]
        again = daemon_relaunch_sensor(dg.build_sensor_context(resources={"daemon": daemon}))
        assert again.skip_message.startswith("daemon running")
    finally:
        daemon.stop()
