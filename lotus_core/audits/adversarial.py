"""Adversarial: a detector worth publishing survives what real tapes do to it — quote
jitter, lost frames, a wider spread. Each perturbation re-scores each coin's tape (its
random draws seeded per coin); the detector's det_sigma mass over its original windows
(unmatched windows count 0), summed over the coins, may not fall more than
`max_sigma_drop`."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lotus_core.audits.result import AuditConfig, AuditResult
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.features import coin_blocks
from lotus_core.signals.pipeline import score_columns
from lotus_core.signals.quality import HistoryQuality
from lotus_core.signals.spec import DetectorSpec

PERTURBATIONS = ("noise", "drop", "spread")
PRICE_COLUMNS = ("bid_px", "ask_px", "mid_px", "micro_px", "vwap_px")
KEEPS_WINDOWS = frozenset({"spread"})
"""The perturbations that change no row and no column `run_detectors` reads (ts_ms, coin,
SLICE_COLUMNS; the spread is not one): the tape's windows stand, the scores do not."""


def perturb(frames: pd.DataFrame, kind: str, cfg: AuditConfig,
            rng: np.random.Generator) -> pd.DataFrame:
    """One perturbed copy of the tape. Price noise lands on quote updates only (a frame that
    repeats the last quote keeps repeating it), sd = noise_frac x the coin's median half
    spread; drops keep each coin's first frame; the spread widens around the mid."""
    out = frames.copy()
    coins = frames["coin"].to_numpy(dtype=object)
    mid = frames["mid_px"].to_numpy(np.float64)
    if kind == "noise":
        factor = np.ones(len(frames))
        for _, a, b in coin_blocks(coins):
            m = mid[a:b]
            upd = np.r_[True, m[1:] != m[:-1]]
            sd = cfg.noise_frac * float(np.median(frames["spread_bps"].to_numpy()[a:b])) / 2
            eps = rng.normal(0.0, sd, int(upd.sum()))[np.cumsum(upd) - 1]
            factor[a:b] = 1.0 + eps / 1e4
        for c in PRICE_COLUMNS:
            if c in out:
                out[c] = out[c].to_numpy(np.float64) * factor
    elif kind == "drop":
        keep = rng.random(len(frames)) >= cfg.drop_frac
        for _, a, _b in coin_blocks(coins):
            keep[a] = True
        out = out[keep].reset_index(drop=True)
    elif kind == "spread":
        spread = frames["spread_bps"].to_numpy(np.float64) * cfg.spread_mult
        out["spread_bps"] = spread
        out["bid_px"] = mid * (1 - spread / 2e4)
        out["ask_px"] = mid * (1 + spread / 2e4)
    else:
        raise ValueError(f"unknown perturbation {kind!r}; known: {PERTURBATIONS}")
    return out


def perturb_rng(cfg: AuditConfig, coin: str, kind: str) -> np.random.Generator:
    """Seeded per (config seed, coin, perturbation): a coin's perturbed tape is the same
    whichever other coins the day holds, and the day can be perturbed one coin at a time."""
    return np.random.default_rng([cfg.seed, 3, zlib.crc32(f"{coin}/{kind}".encode())])


def _matched(base: pd.DataFrame, pert: pd.DataFrame, tol_ms: int) -> float:
    """Sum of perturbed det_sigma matched (same coin and direction, nearest ts within
    tol_ms) to the original windows.

    `pd.merge_asof(direction="nearest", tolerance=tol_ms)` of the windows in time order,
    done with two binary searches per (coin, direction): the last perturbed window at or
    before, the first at or after, the nearer within tol_ms (a tie: the one before), NaN
    where none; its sum in the same order (the merge cost ~4 ms a call, dozens a day)."""
    lts = base["ts_ms"].to_numpy(dtype=np.int64)
    order = np.argsort(lts, kind="stable")
    lts = lts[order]
    lkey = _match_keys(base)[order]
    rts = pert["ts_ms"].to_numpy(dtype=np.int64)
    rorder = np.argsort(rts, kind="stable")
    rts = rts[rorder]
    rkey = _match_keys(pert)[rorder]
    rsig = pert["det_sigma"].to_numpy(np.float64)[rorder]
    got = np.full(len(lts), np.nan)
    for key in np.unique(lkey):
        left = np.flatnonzero(lkey == key)
        right = np.flatnonzero(rkey == key)
        if len(right) == 0:
            continue
        t, r = lts[left], rts[right]
        back = np.searchsorted(r, t, side="right") - 1
        fwd = np.searchsorted(r, t, side="left")
        bdiff = t - r[np.maximum(back, 0)]
        fdiff = r[np.minimum(fwd, len(r) - 1)] - t
        b_ok = (back >= 0) & (bdiff <= tol_ms)
        f_ok = (fwd < len(r)) & (fdiff <= tol_ms)
        pick = np.where(b_ok & (~f_ok | (bdiff <= fdiff)), back, fwd)
        ok = b_ok | f_ok
        got[left[ok]] = rsig[right[pick[ok]]]
    return float(np.nan_to_num(got).sum())


def _match_keys(df: pd.DataFrame) -> np.ndarray:
    """(coin, direction) of each row as one text key."""
    return (df["coin"].astype(str).to_numpy(dtype=object) + "/"
            + df["direction"].to_numpy(dtype=np.int64).astype(str).astype(object))


@dataclass
class Retention:
    """One detector's adversarial audit summed over the coins: its windows, their det_sigma
    and, per perturbation, the perturbed det_sigma matched to them. Retention is matched
    over total (1 when there is no mass), so the day's is the coins' sums' ratio."""

    windows: int = 0
    total: float = 0.0
    matched: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PERTURBATIONS, 0.0))

    def result(self, cfg: AuditConfig) -> AuditResult:
        if self.windows == 0:
            return AuditResult("adversarial", True, 0.0, cfg.max_sigma_drop, "no windows")
        drops = {k: 1.0 - (m / self.total if self.total > 0 else 1.0)
                 for k, m in self.matched.items()}
        worst = max(drops.values())
        return AuditResult("adversarial", worst <= cfg.max_sigma_drop, worst,
                           cfg.max_sigma_drop, ", ".join(f"{k} {v:+.3f}"
                                                         for k, v in drops.items()))


def adversarial_coin(frames: pd.DataFrame, specs: Sequence[DetectorSpec],
                     tally: dict[str, Retention], *, cfg: AuditConfig,
                     scoring: ScoringConfig, hq: HistoryQuality,
                     found: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add one coin's tape (`frames`) to every detector's `tally`: scored as it is and under
    each perturbation (det_sigma through score_day's own code, without the council).
    Returns the unperturbed scores (`score_columns`: every window of the tape, in (ts_ms,
    detector_id) order; empty for an empty tape), which the future-touch audit compares
    its cuts with. `found`: the tape's `run_detectors` windows, when the caller holds them
    (the detectors run once for the tape and its wider spread, which they do not read)."""
    if len(frames) == 0:
        return pd.DataFrame()
    coin = str(frames["coin"].iloc[0])
    known = {coin: found} if found is not None else None

    def events(f: pd.DataFrame, kind: str | None = None) -> pd.DataFrame:
        same = kind is None or kind in KEEPS_WINDOWS
        return score_columns(f, specs, scoring=scoring, hq=hq, known=known if same else None)

    base = events(frames)
    by_spec = {k: g for k, g in base.groupby("detector_id", sort=False)}
    perturbed = {k: events(perturb(frames, k, cfg, perturb_rng(cfg, coin, k)), k)
                 for k in PERTURBATIONS}
    for spec in specs:
        b = by_spec.get(spec.id)
        if b is None or len(b) == 0:
            continue
        r = tally.setdefault(spec.id, Retention())
        r.windows += len(b)
        r.total += float(b["det_sigma"].sum())
        tol = max(2000, min(spec.cooldown_s, 5) * 1000)
        for k, p in perturbed.items():
            r.matched[k] += _matched(b, p[p["detector_id"] == spec.id], tol)
    return base
