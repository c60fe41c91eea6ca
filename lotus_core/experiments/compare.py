"""What was published against what the alternative would have published, on realised
outcomes, paired by window.

Every window of either run (by window_id) is measured once, at its detector's horizon, by
`lotus_core.evaluation.evaluate_windows` (signal_eval's definition: net of fee and half the
entry spread; the next day's tape closes horizons that cross midnight). Per window

    d_w = (published_alt_w - published_base_w) * net_ret_bps_w      (done rows only)

so the realised difference of the two published sets is sum_w d_w. Windows that overlap in
time share a market move, so its interval is a block bootstrap: `block_s` blocks of the
day are resampled with replacement (`n_boot` draws, seeded), percentile interval. Identical
sets give d = 0 everywhere and the interval [0, 0].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.evaluation import DEFAULT_FEE_BPS, evaluate_windows

KEEP = ["window_id", "ts_ms", "coin", "detector_id", "horizon_s", "direction", "published",
        "paper", "propensity", "det_sigma", "curated_sigma"]


@dataclass(frozen=True)
class Comparison:
    windows: pd.DataFrame  # one row per window of either run: flags, outcome, d_w
    metrics: dict[str, Any]


def _side(events: pd.DataFrame, tag: str) -> pd.DataFrame:
    e = events[KEEP].copy()
    e["window_id"] = e["window_id"].astype(str)
    return e.set_index("window_id").add_suffix(f"_{tag}")


def _union(base: pd.DataFrame, alt: pd.DataFrame) -> pd.DataFrame:
    both = _side(base, "base").join(_side(alt, "alt"), how="outer")
    out = pd.DataFrame(index=both.index)
    for c in ("ts_ms", "coin", "detector_id", "horizon_s", "direction"):
        out[c] = both[f"{c}_base"].combine_first(both[f"{c}_alt"])
    for tag in ("base", "alt"):
        out[f"in_{tag}"] = both[f"published_{tag}"].notna().to_numpy()
        for c in ("published", "paper"):
            out[f"{c}_{tag}"] = both[f"{c}_{tag}"].fillna(False).astype(bool)
        out[f"curated_sigma_{tag}"] = both[f"curated_sigma_{tag}"].astype(np.float64)
    out = out.reset_index().rename(columns={"index": "window_id"})
    out["ts_ms"] = out["ts_ms"].astype(np.int64)
    out["horizon_s"] = out["horizon_s"].astype(np.int64)
    out["direction"] = out["direction"].astype(np.int8)
    return out.sort_values(["ts_ms", "coin", "detector_id"], kind="stable").reset_index(drop=True)


def realised(windows: pd.DataFrame, tape: pd.DataFrame, fee_bps: float) -> pd.DataFrame:
    """net_ret_bps and status of each window at its own horizon (evaluate_windows)."""
    if len(windows) == 0:
        return pd.DataFrame({"net_ret_bps": np.zeros(0), "status": np.zeros(0, dtype=object)})
    w = windows.assign(published=False, propensity=0.0)
    out = evaluate_windows(w, tape, sorted(set(windows["horizon_s"].tolist())), fee_bps)
    key = pd.MultiIndex.from_arrays([out["window_id"].astype(str),
                                     out["horizon_s"].astype(np.int64)])
    pos = key.get_indexer(pd.MultiIndex.from_arrays([windows["window_id"].astype(str),
                                                     windows["horizon_s"].astype(np.int64)]))
    return pd.DataFrame({"net_ret_bps": out["net_ret_bps"].to_numpy(dtype=np.float64)[pos],
                         "status": out["status"].astype(str).to_numpy()[pos]})


def block_interval(diff: np.ndarray, ts_ms: np.ndarray, block_s: int, n_boot: int, seed: int,
                   level: float = 0.95) -> tuple[float, float, float, int]:
    """(sum of diff, lo, hi, blocks): a percentile block bootstrap of the sum over time
    blocks of `block_s` seconds, `n_boot` draws from a seeded generator."""
    total = float(diff.sum())
    if len(diff) == 0:
        return 0.0, 0.0, 0.0, 0
    _, block = np.unique(ts_ms // (block_s * 1000), return_inverse=True)
    sums = np.bincount(block, weights=diff)
    k = len(sums)
    rng = np.random.default_rng(seed)
    draws = sums[rng.integers(0, k, size=(n_boot, k))].sum(axis=1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(draws, [a, 1.0 - a])
    return total, float(lo), float(hi), k


def _side_metrics(w: pd.DataFrame, tag: str, done: np.ndarray) -> dict[str, Any]:
    pub = w[f"published_{tag}"].to_numpy()
    live = pub & ~w[f"paper_{tag}"].to_numpy()
    r = w["net_ret_bps"].to_numpy()
    got = pub & done
    return {
        f"windows_{tag}": int(w[f"in_{tag}"].sum()),
        f"published_{tag}": int(pub.sum()),
        f"live_{tag}": int(live.sum()),
        f"published_done_{tag}": int(got.sum()),
        f"net_bps_{tag}": float(r[got].sum()),
        f"mean_net_bps_{tag}": float(r[got].mean()) if got.any() else None,
        f"hit_rate_{tag}": float((r[got] > 0).mean()) if got.any() else None,
    }


def compare(base: pd.DataFrame, alt: pd.DataFrame, tape: pd.DataFrame, *,
            fee_bps: float = DEFAULT_FEE_BPS, block_s: int = 300, n_boot: int = 2000,
            seed: int = 0) -> Comparison:
    """Paired comparison of two signal_events frames of one day on `tape` (the day's
    MicroTape, plus the next day's when present)."""
    w = _union(base, alt)
    out = realised(w, tape, fee_bps)
    w["net_ret_bps"] = out["net_ret_bps"].to_numpy()
    w["status"] = out["status"].to_numpy()
    done = (w["status"] == "done").to_numpy()
    pb, pa = w["published_base"].to_numpy(), w["published_alt"].to_numpy()
    d = np.where(done, (pa.astype(np.float64) - pb.astype(np.float64))
                 * np.nan_to_num(w["net_ret_bps"].to_numpy()), 0.0)
    w["diff_bps"] = d
    total, lo, hi, blocks = block_interval(d, w["ts_ms"].to_numpy(), block_s, n_boot, seed)
    changed = pb != pa
    metrics: dict[str, Any] = {
        **_side_metrics(w, "base", done), **_side_metrics(w, "alt", done),
        "added": int((pa & ~pb).sum()), "removed": int((pb & ~pa).sum()),
        "kept": int((pa & pb).sum()), "same_published": bool(not changed.any()),
        "changed_pending": int((changed & ~done).sum()),
        "delta_net_bps": total, "delta_ci_lo": lo, "delta_ci_hi": hi, "blocks": blocks,
        "block_s": block_s, "n_boot": n_boot, "seed": seed, "fee_bps": fee_bps,
    }
    return Comparison(windows=w, metrics=metrics)
