"""WATCHDOG_ALERT envelopes: a lesson the watchdog sunset (its patch reverted) goes to sig's
own inbox, whose handler queues it for the curator (lotus_core.fabric.handlers).

Idempotent like publish_alpha: the dedupe_key is `watchdog:<lesson_id>:<day>`, and a key
already in sig_outbox is skipped, so re-materialising a night alerts nobody twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lotus_core.fabric.codec import utc_now
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.envelope import build_envelope, validate_envelope
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import ModelsMap
from lotus_core.fabric.outbox import post_to_outbox
from lotus_core.fabric.signing import sign

SENDER = "sig"
INTENT = "WATCHDOG_ALERT"


def alert_payload(alert: Mapping[str, Any], day: str) -> dict[str, Any]:
    """The watchdog-alert-1.0 payload of one alert row (lesson_id, detector_id, rule,
    reason, uplift_oos, p05_oos, support_oos)."""
    metrics = {k: float(alert[k]) for k in ("uplift_oos", "p05_oos", "support_oos")
               if alert.get(k) is not None and alert[k] == alert[k]}
    return {
        "alert_id": f"watchdog:{alert['lesson_id']}:{day}",
        "severity": "warning",
        "subject": {"kind": "lesson", "id": str(alert["lesson_id"])},
        "reason": str(alert["reason"]),
        "detail": (f"{alert['detector_id']} rule {alert['rule']}: sunset on {day}, its patch "
                   "reverted from the next priors version"),
        "metrics": metrics,
        "action": "reverted",
    }


def publish_watchdog_alerts(fabric: Db, alerts: Sequence[Mapping[str, Any]], day: str,
                            keys: Keyring, *, models_map: ModelsMap,
                            now: datetime | None = None) -> int:
    """Post one signed WATCHDOG_ALERT per alert row; returns how many were new.
    `models_map`: the entry point's (`load_modules().map`): the alerts' targets and routes."""
    key = keys.private_key(SENDER)
    when = now or utc_now()
    targets = list(models_map.targets(SENDER, INTENT))
    prepared = []
    for a in alerts:
        payload = alert_payload(a, day)
        env = build_envelope(sender=SENDER, to=targets, intent=INTENT, payload=payload,
                             lifecycle_id=str(a["lesson_id"]), dedupe_key=payload["alert_id"],
                             now=when, tags=[f"detector:{a['detector_id']}"])
        validate_envelope(env)
        prepared.append(sign(env, key))
    new = 0
    with in_tx(fabric) as tx:
        for env in prepared:
            if tx.scalar("SELECT 1 FROM sig_outbox WHERE dedupe_key = ?", (env["dedupe_key"],)):
                continue
            post_to_outbox(tx, SENDER, env, models_map=models_map)
            new += 1
    return new
