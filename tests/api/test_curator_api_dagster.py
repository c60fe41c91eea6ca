"""The action log in the Dagster UI: curator_actions_sensor observes the curator_actions
source asset from the real fabric when the log grows, and skips while it does not."""

from __future__ import annotations

import dagster as dg

from lotus_api.pool import FabricPool
from lotus_core.curator_api.rules import Action
from lotus_core.curator_api.store import LoggedAction, record_action
from lotus_resources.opsdb import OpsDbResource
from lotus_sensors.curator_actions import curator_actions, curator_actions_sensor
from tests.kits.curator_api_kit import queue_alarm, queue_cards


def _log(pool: FabricPool, n: int, start: int = 0) -> None:
    with pool.session(None) as tx:
        for i in range(start, start + n):
            act = Action("nudge", "detector", f"det_{i}", "calm | steady", 0.01 * (i % 3))
            record_action(tx, LoggedAction("bob", "regime", act, f"nonce-{i:012d}", 1, {},
                                           "ed25519:x", "sha256:x"))


def test_the_sensor_observes_the_log(fabric_sqlite_url: str) -> None:
    pool = FabricPool(fabric_sqlite_url, size=1)
    try:
        with pool.session(None) as tx:
            queue_cards(tx, 2)
            queue_alarm(tx, "01JALARM000000000000000003")
        _log(pool, 3)
        resources = {"fabric": OpsDbResource(url=fabric_sqlite_url)}
        defs = dg.Definitions(assets=[curator_actions], sensors=[curator_actions_sensor],
                              resources=resources)
        assert defs.resolve_all_asset_keys() == [dg.AssetKey("curator_actions")]
        sensor = curator_actions_sensor
        ctx = dg.build_sensor_context(resources=resources)
        result = sensor(ctx)
        (event,) = result.asset_events
        meta = {k: v.value for k, v in event.metadata.items()}
        assert event.asset_key == dg.AssetKey("curator_actions")
        assert (meta["actions"], meta["last_seq"], meta["action_nudge"], meta["role_regime"],
                meta["pending_candidates"], meta["open_alarms"]) == (3, 3, 3, 3, 2, 1)
        newest = meta["newest"].splitlines()[2]
        assert newest.startswith("| 3 | bob | regime | nudge | detector:det_2")
        assert "calm / steady" in meta["newest"]  # a pipe cannot break the table
        again = sensor(dg.build_sensor_context(resources=resources,
                                               cursor=result.cursor))
        assert isinstance(again, dg.SkipReason)
        _log(pool, 1, start=3)
        grown = sensor(dg.build_sensor_context(resources=resources,
                                               cursor=result.cursor))
        assert grown.cursor == "4"
    finally:
        pool.close()
