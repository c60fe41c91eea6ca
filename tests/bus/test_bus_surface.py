"""The bus from the command line and in Dagster: `lotus bus add-subscriber / status`, the
BusResource launching a real `lotus bus serve` process and stopping it, and the
bus_health_sensor observing its subscribers and last seq."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import dagster as dg
from click.testing import CliRunner

from lotus_bus.client import connect_bus
from lotus_bus.resource import BusResource
from lotus_bus.sensor import BUS_STATUS, bus_health_sensor
from lotus_cli.main import cli
from lotus_core.fabric.keyring import Keyring
from lotus_core.store.opsdb import OpsDb
from lotus_core.store.url import sqlite_url
from tests.bus.conftest import Publisher


def _observe(instance: dg.DagsterInstance, bus: BusResource) -> dict:
    ctx = dg.build_sensor_context(instance=instance, resources={"bus": bus})
    result = bus_health_sensor(ctx)
    (obs,) = result.asset_events
    assert obs.asset_key == BUS_STATUS
    return {k: v.value for k, v in obs.metadata.items()}


def test_the_cli_serves_and_dagster_launches_observes_and_stops_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    keys = home / "keys"
    url = sqlite_url(home / "fabric.sqlite")
    env = {"LOTUS_HOME": str(home), "LOTUS_FABRIC_URL": url}
    runner = CliRunner()
    added = runner.invoke(cli, ["bus", "add-subscriber", "acme"], env=env)
    assert added.exit_code == 0, added.output
    token = added.output.strip()
    again = runner.invoke(cli, ["bus", "add-subscriber", "acme"], env=env)
    assert again.exit_code != 0 and "exists" in again.output
    listed = runner.invoke(cli, ["bus", "subscribers", "--json"], env=env)
    assert [s["name"] for s in json.loads(listed.output)] == ["acme"]
    assert token.split(".", 1)[1] not in listed.output
    with OpsDb.open(url) as fabric:
        seqs = Publisher(fabric, Keyring(keys)).publish(3)

    bus = BusResource(home=str(home), fabric_url=url, key_dir=str(keys), port=0,
                      heartbeat_s=0.1)
    assert bus.stop() == {"was_running": False, "pid": None}
    info = bus.launch(timeout_sec=60)
    try:
        async def subscribe() -> tuple[list[int], dict]:
            async with connect_bus(info["url"], token, since=0) as (conn, _):
                frames = [json.loads(await conn.recv()) for _ in range(3)]
                deadline = time.monotonic() + 10
                while bus.state()["subscribers"] != 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)  # the next heartbeat counts us
                with dg.DagsterInstance.ephemeral() as instance:
                    meta = _observe(instance, bus)
            return [f["seq"] for f in frames], meta

        got, meta = asyncio.run(subscribe())
        assert got == seqs
        assert meta["health"] == "ok" and meta["running"] is True
        assert meta["subscribers"] == 1 and meta["last_seq"] == seqs[-1]
        assert meta["frames_sent"] == 3 and meta["url"] == info["url"]
        assert meta["subscriber_names"] == "acme"
    finally:
        stopped = bus.stop(timeout_sec=30)
    assert stopped["was_running"] is True and stopped["pid"] == info["pid"]
    status = runner.invoke(cli, ["bus", "status", "--json"], env=env)
    state = json.loads(status.output)
    assert state["running"] is False and state["health"] == "stopped"
    assert state["last_seq"] == seqs[-1]
