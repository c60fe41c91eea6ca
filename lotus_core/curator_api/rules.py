"""Which council role may do what, and the bounds a nudge must respect.

The roles are the council's eight curators (lotus_core/curators/config.py): a person acting
as the `regime` curator holds that curator's levers and no others. So the API cannot give a
human more power than the council gives the curator: a veto needs a curator that can veto,
a nudge needs one that can nudge and stays within its kappa (curators.yaml), and sign-off
of evidence (cards, bred detectors, lessons, patches) belongs to the curators whose mandate
is evidence: leakage, adversarial and explainability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from lotus_core.curators.config import (
    CURATORS,
    KAPPA_MAX,
    SOFT_CURATORS,
    VETO_CURATORS,
    CouncilConfig,
)

ActionName = Literal["sign_off", "veto", "nudge", "acknowledge", "resolve"]
TargetKind = Literal["candidate", "detector", "alarm"]
ACTIONS: tuple[ActionName, ...] = get_args(ActionName)
TARGET_KINDS: tuple[TargetKind, ...] = get_args(TargetKind)
CANDIDATE_KINDS = ("detector_card", "bred_detector", "lesson", "patch", "retirement")
CANDIDATE_STATUSES = ("pending", "signed_off", "vetoed", "withdrawn")
ALARM_STATUSES = ("open", "acknowledged", "resolved")

SIGNOFF_CURATORS = ("leakage", "adversarial", "explainability")
"""The evidence curators: they sign off cards and other candidates."""

TARGETS: dict[ActionName, tuple[TargetKind, ...]] = {
    "sign_off": ("candidate",),
    "veto": ("candidate", "detector"),
    "nudge": ("detector",),
    "acknowledge": ("alarm",),
    "resolve": ("alarm",),
}
# The candidate status an action leaves behind (the only two decisions on a candidate).
DECISION: dict[ActionName, str] = {"sign_off": "signed_off", "veto": "vetoed"}
ALARM_STATUS: dict[ActionName, str] = {"acknowledge": "acknowledged", "resolve": "resolved"}
MAX_REASON = 2000


class Refused(Exception):
    """A request the API refuses: `status` (HTTP), `code` (machine) and `reason` (human)."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(f"{status} {code}: {reason}")
        self.status = status
        self.code = code
        self.reason = reason

    def as_json(self) -> dict[str, str]:
        return {"error": self.code, "reason": self.reason}


@dataclass(frozen=True)
class Action:
    """One requested action, before it is checked against the actor's role."""

    action: ActionName
    target_kind: TargetKind
    target_id: str
    reason: str
    value: float | None = None  # the nudge c (log space); None for every other action


def check_role(role: str) -> str:
    if role not in CURATORS:
        raise Refused(403, "unknown_role", f"role {role!r} is not a council curator; "
                      f"expected one of {list(CURATORS)}")
    return role


def allowed_actions(role: str) -> frozenset[ActionName]:
    """Everything `role` may do (alarms are everyone's to acknowledge and resolve)."""
    check_role(role)
    out: set[ActionName] = {"acknowledge", "resolve"}
    if role in VETO_CURATORS:
        out.add("veto")
    if role in SOFT_CURATORS:
        out.add("nudge")
    if role in SIGNOFF_CURATORS:
        out.add("sign_off")
    return frozenset(out)


def nudge_bound(council: CouncilConfig, role: str) -> float:
    """The role's kappa from curators.yaml (0 for a curator that cannot nudge)."""
    return council.kappa(check_role(role)) if role in SOFT_CURATORS else 0.0


def check_action(council: CouncilConfig, role: str, act: Action) -> None:
    """Raise `Refused` unless `role` may take `act`: 400 malformed, 403 not this role's
    lever, 422 a nudge outside [-kappa, +kappa]."""
    if act.target_kind not in TARGETS.get(act.action, ()):
        raise Refused(400, "bad_target", f"{act.action} applies to "
                      f"{list(TARGETS.get(act.action, ()))}, not to a {act.target_kind}")
    if not act.target_id or len(act.target_id) > 200:
        raise Refused(400, "bad_target", "target id must be 1-200 characters")
    if not act.reason.strip() or len(act.reason) > MAX_REASON:
        raise Refused(400, "bad_reason", f"reason must be non-empty text of at most "
                      f"{MAX_REASON} characters")
    if act.action not in allowed_actions(role):
        raise Refused(403, "role_forbidden", f"the {role} curator may not {act.action}; it may "
                      f"{sorted(allowed_actions(role))}")
    if act.action == "nudge":
        if act.value is None or not isinstance(act.value, float | int) or act.value != act.value:
            raise Refused(400, "bad_value", "a nudge needs a numeric 'value' (log-space c)")
        kappa = nudge_bound(council, role)
        if abs(float(act.value)) > kappa:
            raise Refused(422, "beyond_kappa", f"nudge {act.value:+g} is outside the {role} "
                          f"curator's bounds [-{kappa:g}, +{kappa:g}] (curators.yaml kappa; "
                          f"every kappa <= {KAPPA_MAX:g})")
    elif act.value is not None:
        raise Refused(400, "bad_value", f"'value' is only for a nudge, not for {act.action}")
