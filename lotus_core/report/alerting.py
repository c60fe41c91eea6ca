"""A failed health check becomes a signed WATCHDOG_ALERT on sig's outbox, routed to the
curator queue like the learning watchdog's (lotus_core.learning.alerts). Idempotent: the
dedupe key is `check:<check>:<day>`, so re-running a day's checks alerts nobody twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from lotus_core.fabric.codec import utc_now
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.envelope import build_envelope, validate_envelope
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import ModelsMap
from lotus_core.fabric.outbox import post_to_outbox
from lotus_core.fabric.signing import sign

SENDER = "sig"
INTENT = "WATCHDOG_ALERT"


@dataclass(frozen=True)
class CheckAlert:
    check: str  # snake_case check name
    day: str
    detail: str
    subject_kind: str = "module"  # or "detector", "lesson", "patch"
    subject_id: str = "sig"
    metrics: Mapping[str, float] = field(default_factory=dict)
    coin: str | None = None  # a day x coin check: one alert per coin of the day

    @property
    def alert_id(self) -> str:
        return f"check:{self.check}:{self.day}" + (f":{self.coin}" if self.coin else "")

    def payload(self) -> dict[str, object]:
        return {"alert_id": self.alert_id, "severity": "warning",
                "subject": {"kind": self.subject_kind, "id": self.subject_id},
                "reason": self.check, "detail": self.detail[:4000],
                "metrics": {k: float(v) for k, v in self.metrics.items() if v == v},
                "action": "none"}


def post_check_alert(fabric: Db, alert: CheckAlert, keys: Keyring, *, models_map: ModelsMap,
                     now: datetime | None = None) -> bool:
    """Post one signed alert unless its dedupe key was posted before; True when new.
    `models_map`: the entry point's (`load_modules().map`): the alert's targets and routes."""
    payload = alert.payload()
    env = build_envelope(sender=SENDER, to=list(models_map.targets(SENDER, INTENT)),
                         intent=INTENT, payload=payload, lifecycle_id=alert.alert_id,
                         dedupe_key=alert.alert_id, now=now or utc_now(),
                         tags=[f"check:{alert.check}"])
    validate_envelope(env)
    signed = sign(env, keys.private_key(SENDER))
    with in_tx(fabric) as tx:
        if tx.scalar("SELECT 1 FROM sig_outbox WHERE dedupe_key = ?", (alert.alert_id,)):
            return False
        post_to_outbox(tx, SENDER, signed, models_map=models_map)
    return True
