"""The lake contracts of the signal layer: detector_windows, signal_events, meta_signals,
curator_log and curator_kpis. Strict, ordered, no coercion; docs/scoring.md and
docs/curators.md describe every column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from lotus_core.columns import STR, column
from lotus_core.curators.config import CURATORS, KAPPA_MAX
from lotus_core.microtape.context import SESSIONS
from lotus_core.microtape.regime import REGIMES

F64, I64, I8 = "float64", "int64", "int8"
_UNIT = pa.Check.in_range(0.0, 1.0)
_NONNEG = pa.Check.ge(0.0)
_SHA = pa.Check.str_matches(r"^sha256:[0-9a-f]{64}$")
_ULID = pa.Check.str_matches(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


_c = column


def _sorted_unique(*keys: str) -> pa.Check:
    def check(df: pd.DataFrame) -> bool:
        if len(df) < 2:
            return True
        sorted_ok = df[list(keys)].equals(
            df[list(keys)].sort_values(list(keys), kind="stable").reset_index(drop=True)
            .set_axis(df.index))
        return bool(sorted_ok and not df.duplicated(list(keys)).any())
    return pa.Check(check, element_wise=False, name=f"sorted_unique_by_{'_'.join(keys)}")


def _unique_and_in_time_within_coin() -> pa.Check:
    """Unique by (ts_ms, coin, detector_id) and each coin's rows in (ts_ms, detector_id)
    order: the day's order (ts_ms, coin, detector_id) and the lake's by-coin layout (a row
    group per coin: `detect_parts`) both are."""
    def check(df: pd.DataFrame) -> bool:
        if len(df) < 2:
            return True
        if df.duplicated(["ts_ms", "coin", "detector_id"]).any():
            return False
        coin = df["coin"].to_numpy(dtype=object)
        by_coin = np.argsort(pd.factorize(coin)[0], kind="stable")  # each coin's rows, in order
        c = coin[by_coin]
        ts = df["ts_ms"].to_numpy()[by_coin]
        det = df["detector_id"].to_numpy(dtype=object)[by_coin]
        later = (ts[1:] > ts[:-1]) | ((ts[1:] == ts[:-1]) & (det[1:] > det[:-1]))
        return bool((later | (c[1:] != c[:-1])).all())
    return pa.Check(check, element_wise=False,
                    name="unique_by_ts_ms_coin_detector_id_in_time_within_coin")


WINDOW_ID = _c(STR, _ULID)
IDENT = {
    "window_id": WINDOW_ID,
    "ts_ms": _c(I64, pa.Check.gt(0)),
    "coin": _c(STR, pa.Check.str_length(min_value=1)),
    "detector_id": _c(STR, pa.Check.str_length(min_value=1)),
    "recipe_hash": _c(STR, _SHA),
    "horizon_s": _c(I64, pa.Check.gt(0)),
    "direction": _c(I8, pa.Check.isin([-1, 1])),
    "raw_strength": _c(F64, _NONNEG),
}

DETECTOR_WINDOWS_SCHEMA = pa.DataFrameSchema(
    {
        **IDENT,
        "mid_px": _c(F64, pa.Check.gt(0)),
        "spread_bps": _c(F64, _NONNEG),
        "fwd_ret_bps": _c(F64, nullable=True),  # horizon past the day's last frame
        "signed_ret_bps": _c(F64, nullable=True),
        "cost_bps": _c(F64, _NONNEG),
        "net_ret_bps": _c(F64, nullable=True),
        "hit": _c(F64, pa.Check.isin([0.0, 0.5, 1.0]), nullable=True),
        "outcome_ok": _c(bool),
        "gap": _c(bool),  # straddles a recorded gap in the feed (signals.outcomes)
    },
    checks=[_unique_and_in_time_within_coin()],
    strict=True, ordered=True, coerce=False, name="detector_windows",
)


SIGNAL_EVENTS_KEY = ("ts_ms", "coin", "detector_id")
"""signal_events' rows are sorted by this key and unique in it; every other check of the
schema is row by row (a table checked in slices is checked whole when the slices' ends
are in key order: `lotus_core.report.health.EventsCheck`)."""


def _policy(df: pd.DataFrame) -> bool:
    """Publication and propensity agree with the policy (docs/curators.md)."""
    pub, paper, veto = df["published"], df["paper"], df["vetoed"]
    prop, above = df["propensity"], df["above_threshold"]
    live = pub & ~paper
    return bool(
        (~veto | (~pub & (prop == 0))).all()
        & (~paper | pub).all()
        & (~live | ((prop == 1.0) & above)).all()
        & (~(~veto & above) | live).all()
        & (~(~veto & ~above) | ((prop > 0) & (prop < 1))).all()
        & ((pub == ((df["curated_sigma"] >= df["tau_publish"]) & ~veto)) | paper).all()
        & (above == (df["curated_sigma"] >= df["tau_publish"])).all()
    )


SIGNAL_EVENTS_SCHEMA = pa.DataFrameSchema(
    {
        **IDENT,
        "signal": _c(F64, pa.Check.in_range(-1.0, 1.0)),
        "sq_accuracy": _c(F64, _UNIT),
        "sq_precision": _c(F64, _UNIT),
        "sq_stability": _c(F64, _UNIT),
        "sq_orthogonality": _c(F64, _UNIT),
        "sq_cost": _c(F64, _UNIT),
        "sq_score": _c(F64, _UNIT),
        "sq_n": _c(I64, pa.Check.ge(0)),
        "kr_phi": _c(F64, _UNIT),
        "kr_theta_base": _c(F64, _UNIT),
        "kr_theta": _c(F64, _UNIT),
        "kr_delta_phi_base": _c(F64, _UNIT),
        "kr_delta_phi": _c(F64, _UNIT),
        "kr_hbar": _c(F64, _UNIT),
        "kr_rho": _c(F64, _UNIT),
        "det_sigma": _c(F64, _UNIT),
        "mx_evidence": _c(F64, _UNIT),
        "mx_confirm": _c(I8, pa.Check.isin([0, 1])),
        "priors_ver": _c(I64, pa.Check.ge(0)),
        "prior_theta_delta": _c(F64),
        "prior_phi_mult": _c(F64, pa.Check.gt(0)),
        "prior_patches": _c(I64, pa.Check.ge(0)),
        "ms_kairos": _c(F64, _UNIT),
        "ms_entrain_r": _c(F64, _UNIT),
        "ms_asym_score": _c(F64, _UNIT),
        "ms_asym_z_oi": _c(F64),
        "ms_asym_z_funding": _c(F64),
        "ms_asym_z_basis": _c(F64),
        "ms_asym_z_depth": _c(F64),
        "nudge_sum": _c(F64, pa.Check.in_range(-KAPPA_MAX * len(CURATORS),
                                               KAPPA_MAX * len(CURATORS))),
        "curated_sigma": _c(F64, _UNIT),
        "vetoed": _c(bool),
        "vetoes": _c(STR, pa.Check.str_startswith("[")),
        "gates": _c(STR, pa.Check.str_startswith("{")),
        "tau_publish": _c(F64, _UNIT),
        "above_threshold": _c(bool),
        "published": _c(bool),
        "paper": _c(bool),
        "propensity": _c(F64, _UNIT),
        "explore_u": _c(F64, pa.Check.in_range(0.0, 1.0, include_max=False)),
        # context (what later lessons quantise); NaN as in the MicroTape
        "session": _c(STR, pa.Check.isin(list(SESSIONS))),
        "regime": _c(STR, pa.Check.isin(list(REGIMES))),
        "rv_pctl": _c(F64, _UNIT, nullable=True),
        "oi_pctl": _c(F64, _UNIT, nullable=True),
        "funding_pctl": _c(F64, _UNIT, nullable=True),
        "range_pctl": _c(F64, _UNIT, nullable=True),
        "spread_bps": _c(F64, _NONNEG),
        "spread_rel": _c(F64, _NONNEG),
        "depth_slope": _c(F64, _NONNEG, nullable=True),
        "depth_5_rel": _c(F64, _NONNEG, nullable=True),
        "trend_eff": _c(F64, _UNIT, nullable=True),
        "book_imb_5": _c(F64, pa.Check.in_range(-1.0, 1.0), nullable=True),
        # the tape's NaN: the coin's trades channel is missing (docs/microtape.md)
        "aggr_imb": _c(F64, pa.Check.in_range(-1.0, 1.0), nullable=True),
        "flow": _c(F64, pa.Check.in_range(-1.0, 1.0)),  # 0 while no volume is known
        "basis_bps": _c(F64, nullable=True),
        "oi_delta": _c(F64, nullable=True),
        "book_imb_1": _c(F64, pa.Check.in_range(-1.0, 1.0), nullable=True),
        "book_imb_10": _c(F64, pa.Check.in_range(-1.0, 1.0), nullable=True),
        "aggr_runlen": _c(F64, nullable=True),  # no trades channel
        "microprice_drift_bps": _c(F64),
        "cancel_rate": _c(F64, _NONNEG),
        "stale_ms": _c(I64, pa.Check.ge(0)),
        "mid_px": _c(F64, pa.Check.gt(0)),
        "cond_key": _c(STR, pa.Check.str_contains("=")),
        # provenance
        "data_fingerprint": _c(STR),
        "history_days": _c(I64, pa.Check.ge(0)),
        "history_window": _c(
            STR, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}$")),
    },
    checks=[_sorted_unique(*SIGNAL_EVENTS_KEY),
            pa.Check(_policy, element_wise=False, name="publication_policy")],
    strict=True, ordered=True, coerce=False, name="signal_events",
)

META_SIGNALS_SCHEMA = pa.DataFrameSchema(
    {
        "coin": _c(STR, pa.Check.str_length(min_value=1)),
        "ts_ms": _c(I64, pa.Check.gt(0)),
        "kr_hbar": _c(F64, _UNIT),
        "ms_kairos": _c(F64, _UNIT),
        "ms_entrain_r": _c(F64, _UNIT),
        "ms_asym_score": _c(F64, _UNIT),
        "ms_asym_z_oi": _c(F64),
        "ms_asym_z_funding": _c(F64),
        "ms_asym_z_basis": _c(F64),
        "ms_asym_z_depth": _c(F64),
    },
    strict=True, ordered=True, coerce=False, name="meta_signals",
)


def _log_values(df: pd.DataFrame) -> bool:
    nudge = df["kind"] == "nudge"
    return bool((df.loc[nudge, "value"].abs() <= KAPPA_MAX + 1e-12).all()
                and (df.loc[nudge, "value"] != 0).all()
                and (df.loc[~nudge, "value"] == 1.0).all())


CURATOR_LOG_SCHEMA = pa.DataFrameSchema(
    {
        "window_id": WINDOW_ID,
        "curator": _c(STR, pa.Check.isin(list(CURATORS))),
        "kind": _c(STR, pa.Check.isin(["nudge", "veto"])),
        "value": _c(F64),
        "reason": _c(STR, pa.Check.str_matches(r"^[a-z][a-z0-9_]*$")),
    },
    checks=[pa.Check(_log_values, element_wise=False, name="nudges_within_kappa")],
    strict=True, ordered=True, coerce=False, name="curator_log",
)

CURATOR_KPIS_SCHEMA = pa.DataFrameSchema(
    {
        "kpi": _c(STR, pa.Check.str_length(min_value=1)),
        "scope": _c(STR, pa.Check.isin(["council", *CURATORS])),
        "value": _c(F64, nullable=True),  # NaN: nothing to judge (e.g. nothing published)
        "n": _c(I64, pa.Check.ge(0)),
    },
    strict=True, ordered=True, coerce=False, name="curator_kpis",
)

CURATOR_TALLIES_SCHEMA = pa.DataFrameSchema(
    {"coin": _c(STR), "tally": _c(STR, pa.Check.str_startswith("{"))},
    strict=True, ordered=True, coerce=False, name="curator_tallies",
)
"""A coin's `KpiTally` of the day (`KpiTally.state`): one row; `curator_kpis` merges them."""

SIGNAL_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "detector_windows": DETECTOR_WINDOWS_SCHEMA,
    "signal_events": SIGNAL_EVENTS_SCHEMA,
    "meta_signals": META_SIGNALS_SCHEMA,
    "curator_log": CURATOR_LOG_SCHEMA,
    "curator_kpis": CURATOR_KPIS_SCHEMA,
    "curator_tallies": CURATOR_TALLIES_SCHEMA,
}
