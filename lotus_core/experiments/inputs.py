"""The stored inputs of one scored day, read back from the lake as the nightly assets read
them, with a content hash per partition (what an experiment row pins).

    microtape_frames  the day (scored), the `dsi_history_days` before it (the DSI refit,
                      only when an alternative touches the DSI) and the next day (outcomes
                      whose horizon crosses midnight; skipped when absent)
    dsi_annotations   the day
    detector_windows  the `history_days` before the day (sq_* history), with `date`
    detector_audit_status  up to AUDIT_STATUS_LOOKBACK_DAYS before (status_in_force)
    signal_events     the day: what was published, and the data fingerprint it carried

and, from the caller (the fabric is not the lake), the Curator API's standing detector
actions as the nightly chain read them (`read_detector_actions`), kept as of the day
(`actions_as_of`): the council applies each per window from its signed time on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from lotus_core.audits.run import AUDIT_STATUS_LOOKBACK_DAYS, status_in_force
from lotus_core.time import day_bounds_ms, shift_day

ACTIONS_KEY = "curator_actions@{day}"
"""The `inputs` key of the standing actions a replay applied (present only when some did)."""
_ACTION_FIELDS = ("seq", "action_id", "curator_id", "role", "action", "target_kind",
                  "target_id", "value", "signed_ts_ms")


class LakeReader(Protocol):
    """What replay needs of a lake (`Lake` and `ObjectLake` both have it)."""

    def exists(self, asset: str, day: str) -> bool: ...

    def read(self, asset: str, day: str, columns: list[str] | None = None) -> pd.DataFrame: ...


class InputsError(RuntimeError):
    """A stored input the replay needs is not in the lake; the message names it."""


@dataclass(frozen=True)
class DayInputs:
    day: str
    frames: pd.DataFrame
    dsi: pd.DataFrame | None
    dsi_history: pd.DataFrame | None  # None: not loaded (the alternative keeps the DSI)
    history: pd.DataFrame | None
    audit: pd.DataFrame | None
    next_frames: pd.DataFrame | None
    events: pd.DataFrame
    fingerprint: str | None
    hashes: dict[str, str]  # "asset@day" -> content sha256 (16 hex)
    actions: tuple[Mapping[str, Any], ...] = ()  # standing actions as of the day (seq order)


def frame_hash(df: pd.DataFrame) -> str:
    """sha256 (16 hex) of a frame's columns, dtypes and values (independent of the lake's
    file encoding, so a local and an object-store lake hash alike)."""
    h = hashlib.sha256()
    h.update("|".join(f"{c}:{t}" for c, t in zip(df.columns, df.dtypes, strict=True)).encode())
    if len(df):
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _window(lake: LakeReader, asset: str, day: str, first: int, last: int,
            hashes: dict[str, str]) -> pd.DataFrame | None:
    """Partitions day+first .. day+last that exist, with `date`, in day order (the lake IO
    manager's history read); None when none exists."""
    parts = []
    for k in range(first, last + 1):
        d = shift_day(day, k)
        if lake.exists(asset, d):
            df = lake.read(asset, d)
            hashes[f"{asset}@{d}"] = frame_hash(df)
            parts.append(df.assign(date=d))
    return pd.concat(parts, ignore_index=True) if parts else None


def _one(lake: LakeReader, asset: str, day: str, hashes: dict[str, str],
         required: bool) -> pd.DataFrame | None:
    if not lake.exists(asset, day):
        if required:
            raise InputsError(f"no {asset} partition for {day} in the lake: only a day the "
                              f"chain has scored can be replayed (materialise {day} first)")
        return None
    df = lake.read(asset, day)
    hashes[f"{asset}@{day}"] = frame_hash(df)
    return df


def _fingerprint(lake: LakeReader, day: str, events: pd.DataFrame,
                 hashes: dict[str, str]) -> str | None:
    """The data fingerprint the day was scored with: signal_events carry it on every row;
    a day without windows falls back to raw_feed's single sha256."""
    if len(events):
        return str(events["data_fingerprint"].iloc[0]) or None
    raw = _one(lake, "raw_feed", day, hashes, required=False)
    shas = sorted(set(raw["sha256"].astype(str))) if raw is not None and "sha256" in raw else []
    return shas[0] if len(shas) == 1 else None


def actions_as_of(actions: Sequence[Mapping[str, Any]], day: str
                  ) -> tuple[Mapping[str, Any], ...]:
    """The detector actions a replay of `day` applies, in seq order: those signed before the
    day ended. The nightly `score_signals` hands the whole log to the council, which applies
    an action to a window at ts only from signed_ts_ms + settle_ms <= ts on
    (`lotus_core.curators.standing`); one signed after the day cannot stand for any of its
    windows, so leaving it out changes no window and keeps a replay's inputs (and their
    hash) fixed as the log grows."""
    end = day_bounds_ms(day)[1]
    kept = [a for a in actions if int(a["signed_ts_ms"]) < end]
    return tuple(sorted(kept, key=lambda a: int(a["seq"])))


def actions_hash(actions: Sequence[Mapping[str, Any]]) -> str:
    """sha256 (16 hex) of the actions' identity and content (not their recorded_at)."""
    rows = [{k: a.get(k) for k in _ACTION_FIELDS} for a in actions]
    text = json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_day(lake: LakeReader, day: str, *, history_days: int, dsi_history_days: int,
             with_dsi_history: bool, actions: Sequence[Mapping[str, Any]] = ()) -> DayInputs:
    """Everything `day` was scored from, as the nightly assets read it; `actions`: the
    Curator API's detector actions the caller read from the fabric (`read_detector_actions`,
    as `score_signals` does), kept as of the day (`actions_as_of`)."""
    hashes: dict[str, str] = {}
    standing = actions_as_of(actions, day)
    if standing:  # a day without actions keeps the inputs (and inputs_hash) it always had
        hashes[ACTIONS_KEY.format(day=day)] = actions_hash(standing)
    frames = _one(lake, "microtape_frames", day, hashes, required=True)
    events = _one(lake, "signal_events", day, hashes, required=True)
    assert frames is not None and events is not None
    dsi = _one(lake, "dsi_annotations", day, hashes, required=False)
    history = _window(lake, "detector_windows", day, -history_days, -1, hashes)
    audit = _window(lake, "detector_audit_status", day, -AUDIT_STATUS_LOOKBACK_DAYS, -1, hashes)
    dsi_history = (_window(lake, "microtape_frames", day, -dsi_history_days, -1, hashes)
                   if with_dsi_history else None)
    if with_dsi_history and dsi_history is None:
        dsi_history = pd.DataFrame()  # fit_dsi's documented fallback: priors only
    nxt = _one(lake, "microtape_frames", shift_day(day, 1), hashes, required=False)
    return DayInputs(day=day, frames=frames, dsi=dsi, dsi_history=dsi_history,
                     history=history, audit=status_in_force(audit, day), next_frames=nxt,
                     events=events, fingerprint=_fingerprint(lake, day, events, hashes),
                     hashes=dict(sorted(hashes.items())), actions=standing)


def inputs_hash(hashes: dict[str, str]) -> str:
    """One sha256 (16 hex) over every input partition's hash."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def outcome_tape(inputs: DayInputs) -> pd.DataFrame:
    """What realised outcomes are measured on: the day's MicroTape and the next day's."""
    cols = ["coin", "ts_ms", "mid_px", "spread_bps", *(["gap"] if "gap" in inputs.frames else [])]
    parts = [inputs.frames[cols]]
    if inputs.next_frames is not None:
        parts.append(inputs.next_frames[[c for c in cols if c in inputs.next_frames]])
    return pd.concat(parts, ignore_index=True)
