"""The stored inputs of one scored day, read back from the lake as the nightly assets read
them, with a content hash per partition (what an experiment row pins).

    microtape_frames  the day (scored), the `dsi_history_days` before it (the DSI refit,
                      only when an alternative touches the DSI) and the next day (outcomes
                      whose horizon crosses midnight; skipped when absent)
    dsi_annotations   the day
    detector_windows  the `history_days` before the day (sq_* history), with `date`
    detector_audit_status  up to AUDIT_STATUS_LOOKBACK_DAYS before (status_in_force)
    signal_events     the day: what was published, and the data fingerprint it carried
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from lotus_core.audits.run import AUDIT_STATUS_LOOKBACK_DAYS, status_in_force
from lotus_core.time import shift_day


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


def load_day(lake: LakeReader, day: str, *, history_days: int, dsi_history_days: int,
             with_dsi_history: bool) -> DayInputs:
    """Everything `day` was scored from, as the nightly assets read it."""
    hashes: dict[str, str] = {}
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
                     hashes=dict(sorted(hashes.items())))


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
