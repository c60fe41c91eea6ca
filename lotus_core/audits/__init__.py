"""Leakage and adversarial audits of detectors, and detector cards. Pure pandas/numpy (no
dagster); docs/audits.md and docs/cards.md.

    future_touch(frames, spec, ...)        -> AuditResult   windows/scores on a cut tape
    label_shuffle(windows, ...)            -> AuditResult   permutation test of the edge
    rolling_origin_gap(windows, ...)       -> AuditResult   in-fold vs out-of-sample
    adversarial_coin(frames, specs, tally) -> a coin's noise, drops, wider spread
    audit_day(frames, day, specs, ...)     -> detector_audits rows
    audit_by_coin(tape, day, specs, ...)   -> the same, the tape read one coin at a time
    status_of(audits)                      -> the curators' audit status
    status_day(days, day)                  -> which earlier day's status curates `day`
    detector_card(spec, audit_row, events) -> (markdown, json dict)
"""

from lotus_core.audits.adversarial import adversarial_coin
from lotus_core.audits.cards import card_rows, detector_card
from lotus_core.audits.edge import label_shuffle, rolling_origin_gap
from lotus_core.audits.future_touch import future_touch
from lotus_core.audits.result import AuditConfig, AuditResult
from lotus_core.audits.run import (
    AUDIT_STATUS_LOOKBACK_DAYS,
    audit_by_coin,
    audit_day,
    failing_production,
    status_day,
    status_in_force,
    status_of,
)

__all__ = ["AUDIT_STATUS_LOOKBACK_DAYS", "AuditConfig", "AuditResult", "adversarial_coin",
           "audit_by_coin", "audit_day", "card_rows", "detector_card", "failing_production",
           "future_touch", "label_shuffle", "rolling_origin_gap", "status_day",
           "status_in_force", "status_of"]
