"""sigbus-1.0.0 payloads for published windows, validated against the project's one schema.

The schema lives with the module fabric (lotus_core/fabric/schemas/sigbus-1.0.0.json) and is
imported from there, not duplicated: the fabric routes these payloads inside ALPHA_PROPOSED
envelopes, so both sides must read the same contract.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.fabric.contracts import first_error

SIGBUS_ID = "urn:lotus:schema:sigbus-1.0.0"
SCHEMA_VER = "sigbus-1.0.0"
GATES = ("kr_hbar", "kr_theta", "kr_delta_phi", "ms_kairos", "ms_entrain_r", "ms_asym_score",
         "mx_evidence", "mx_confirm", "propensity", "paper")
CARD_DIR = "detector_cards"
# canonical JSON text: json.dumps(..., sort_keys=True, separators=(",", ":")), built once
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


class SigbusError(ValueError):
    """A payload does not validate against sigbus-1.0.0; the message names the path."""


def validate_sigbus(payload: dict[str, Any]) -> None:
    error = first_error(SIGBUS_ID, payload, "sigbus")
    if error is not None:
        raise SigbusError(error)


def iso_ms(ts_ms: np.ndarray) -> np.ndarray:
    """RFC 3339 UTC with milliseconds: 2026-01-02T12:00:05.000Z."""
    t = pd.to_datetime(np.asarray(ts_ms, dtype=np.int64), unit="ms", utc=True)
    return np.asarray(t.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z", dtype=object)


def card_ref(detector_id: str) -> str:
    return f"{CARD_DIR}/{detector_id}.md"


def iso_ms_one(ts_ms: int) -> str:
    """`iso_ms` of one time (the live stream's scalar form)."""
    seconds, ms = divmod(int(ts_ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def sigbus_payload(row: Mapping[str, Any], asof_ts: str, history_window: str,
                   fingerprint: str) -> str:
    """The validated sigbus payload of one published signal_events row, as canonical JSON."""
    payload = {
        "schema_ver": SCHEMA_VER,
        "asof_ts": asof_ts,
        "detector_id": row["detector_id"],
        "symbol": row["coin"],
        "horizon": f"{int(row['horizon_s'])}s",
        "signal": float(row["signal"]),
        "det_sigma": float(row["det_sigma"]),
        "curated_sigma": float(row["curated_sigma"]),
        "eligibility": {"publish": True, "vetoes": json.loads(row["vetoes"]),
                        "gates": {g: float(row[g]) for g in GATES}},
        "provenance": {"window": history_window, "recipe_hash": row["recipe_hash"],
                       "data_fingerprint": fingerprint},
        "card_ref": card_ref(row["detector_id"]),
    }
    validate_sigbus(payload)
    return _CANONICAL.encode(payload)


def bus_rows(events: pd.DataFrame, history_window: str, fingerprint: str) -> pd.DataFrame:
    """One row per published window: window_id, ts_ms, coin, detector_id, paper, propensity
    and its validated sigbus payload (canonical JSON text)."""
    pub = events[events["published"]].reset_index(drop=True)
    asof = iso_ms(pub["ts_ms"].to_numpy())
    payloads = [sigbus_payload(row, asof[i], history_window, fingerprint)
                for i, row in enumerate(pub.to_dict(orient="records"))]
    return pd.DataFrame({
        "window_id": pub["window_id"].astype(str),
        "ts_ms": pub["ts_ms"].astype(np.int64),
        "coin": pub["coin"].astype(str),
        "detector_id": pub["detector_id"].astype(str),
        "paper": pub["paper"].astype(bool),
        "propensity": pub["propensity"].astype(np.float64),
        "payload": pd.Series(payloads, dtype="str"),
    })
