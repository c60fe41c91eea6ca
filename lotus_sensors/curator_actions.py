"""The Curator API's action log in the Dagster UI.

`curator_actions` is an observable source asset: the append-only log the Curator API writes
(curator_actions in the fabric; docs/curator_api.md). `curator_actions_sensor` records an
AssetObservation of it when the log has grown (its cursor is the last seq seen): totals per
action and role, pending candidates, open alarms, and the newest actions as a table, so
the asset's page plots the counts and shows who did what. The summary is
lotus_core.curator_api.summary.log_summary; this module only wraps it.
"""

from typing import Any

import dagster as dg

from lotus_core.curator_api.summary import log_summary
from lotus_resources.opsdb import OpsDbResource

WATCH_INTERVAL_SEC = 60


def observation_metadata(summary: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "actions": summary["total"], "last_seq": summary["last_seq"],
        "pending_candidates": summary["pending_candidates"],
        "open_alarms": summary["open_alarms"],
        "newest": dg.MetadataValue.md(summary["table"]),
    }
    meta.update({f"action_{k}": v for k, v in summary["by_action"].items()})
    meta.update({f"role_{k}": v for k, v in summary["by_role"].items()})
    return meta


def _observe(fabric: OpsDbResource) -> dict[str, Any]:
    with fabric.open() as db, db.transaction() as tx:
        return log_summary(tx)


@dg.observable_source_asset(name="curator_actions", group_name="curators",
                            description="Signed curator actions (sign-offs, vetoes, nudges, "
                            "alarm handling) logged by the Curator API (`lotus curator serve`).")
def curator_actions(fabric: OpsDbResource) -> dg.ObserveResult:
    return dg.ObserveResult(metadata=observation_metadata(_observe(fabric)))


@dg.sensor(name="curator_actions_sensor", minimum_interval_seconds=WATCH_INTERVAL_SEC,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Observe curator_actions when the Curator API's log has grown.")
def curator_actions_sensor(context: dg.SensorEvaluationContext,
                           fabric: OpsDbResource) -> dg.SensorResult | dg.SkipReason:
    summary = _observe(fabric)
    seen = int(context.cursor or 0)
    if summary["last_seq"] <= seen and context.cursor is not None:
        return dg.SkipReason(f"no new curator action since seq {seen}")
    return dg.SensorResult(
        asset_events=[dg.AssetObservation(dg.AssetKey("curator_actions"),
                                          metadata=observation_metadata(summary))],
        cursor=str(summary["last_seq"]))


CURATOR_ASSETS = [curator_actions]
CURATOR_SENSORS = [curator_actions_sensor]
