"""The streamed window scores (`WindowScorer`, fed one MicroTape row at a time) equal the
batch `score_day(...).events` on every column score_day computes before the council: on
whole fixture days with and without history, DSI and priors (caps, fitted edges and
patches that match some windows only), across a priors swap mid-day, and on the real
sample. A skipped row must show up as a difference."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lotus_core.signals.features as F
from lotus_core.dsi import annotate, fit_dsi
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.signals.config import load_scoring
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.pipeline import _with_ids, detect_day, score_day
from lotus_core.signals.priors import NO_PRIORS, ActivePriors, Patch
from lotus_core.signals.quality import history_quality
from lotus_core.signals.score_stream import STREAM_COLUMNS, WindowScorer
from lotus_core.signals.spec import enabled_specs
from tests.kits.signals_kit import fixture_tape

pytestmark = pytest.mark.slow  # whole fixture days, batch and streamed

REAL = Path(__file__).resolve().parents[2] / "data" / "real" / "2025-01-26.jsonl.gz"
FP = "sha256:" + "0" * 64
SPECS = enabled_specs(None)
CFG = load_scoring()
RTOL, ATOL = 1e-9, 1e-12
GROUPS = {"sq_": "sq_*", "kr_": "kr_*", "det_": "kr_*", "ms_": "ms_*", "mx_": "dsi",
          "prior": "priors", "signal": "signal"}

PRIORS_A = ActivePriors(
    version=7, theta_min=0.08, phi_max=0.9,
    patches=(Patch("*", "*", "dir=long&flow_bin=with", -0.04, 1.1),
             Patch("mean_reversion_fast_v1", "*", "mx_bin=lo", 0.03, 0.95),
             Patch("*", "ETH", "rv_pctl_bin=hi", 0.02, 1.05),
             Patch("flow_pressure_v1", "*", "bimb5_bin=against&spread_bin=normal", -0.02, 1.2),
             Patch("*", "BTC", "*", 0.01, 1.0)),
    edges=(("pctl_edges", (0.3, 0.7)), ("flow_edges", (-0.1, 0.15))))
PRIORS_B = ActivePriors(
    version=8, theta_min=0.06,
    patches=(Patch("*", "*", "dir=short&session=weekend", 0.05, 0.9),
             Patch("sweep_flow_v1", "SOL", "*", -0.03, 1.15)))


def _fixture(day: str) -> pd.DataFrame:
    return fixture_tape(day)  # build_microtape(parse_recording(...)), cached per process


@cache
def _dsi(day: str, earlier: tuple[str, ...]) -> pd.DataFrame:
    hist = (pd.concat([_fixture(d).assign(date=d) for d in earlier], ignore_index=True)
            if earlier else None)
    return annotate(_fixture(day), fit_dsi(hist)).annotations


@cache
def _history(days: tuple[str, ...]) -> pd.DataFrame:
    """detector_windows of earlier days with a `date` column (engine._history's shape)."""
    return pd.concat([detect_day(_fixture(d)).assign(date=d) for d in days], ignore_index=True)


def _stream(frames: pd.DataFrame, dsi: pd.DataFrame | None, history: pd.DataFrame | None,
            priors: ActivePriors, *, swap: tuple[int, ActivePriors] | None = None,
            skip: tuple[str, int] | None = None) -> list[dict[str, Any]]:
    """Push every row of the day in (ts_ms, coin) order with its DSI row and windows;
    `swap` = (ts_ms, priors): replace the priors before the first row at ts_ms;
    `skip` = (coin, ts_ms): a row left out (a deliberately wrong state)."""
    windows = _with_ids(run_detectors(frames, SPECS), SPECS).drop(columns="frame_idx")
    by_row: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for w in windows.to_dict("records"):
        by_row.setdefault((int(w["ts_ms"]), str(w["coin"])), []).append(w)
    dsi_rows: dict[tuple[int, str], dict[str, Any]] = {}
    if dsi is not None:
        for d in dsi[["coin", "ts_ms", "mx_evidence", "mx_confirm"]].to_dict("records"):
            dsi_rows[(int(d["ts_ms"]), str(d["coin"]))] = d
    coins = frames["coin"].to_numpy(dtype=object)
    cadence = F.cadence_ms(frames["ts_ms"].to_numpy(dtype=np.int64), coins)
    scorer = WindowScorer(SPECS, CFG, history_quality(history, SPECS, CFG.sq), priors, cadence)
    out: list[dict[str, Any]] = []
    rows = frames.sort_values(["ts_ms", "coin"], kind="stable").to_dict("records")
    for row in rows:
        key = (int(row["ts_ms"]), str(row["coin"]))
        if swap is not None and key[0] >= swap[0]:
            scorer.priors, swap = swap[1], None
        if skip is not None and (key[1], key[0]) == skip:
            continue
        out += scorer.push(row, dsi_rows.get(key), by_row.get(key, []))
    for got in out:
        assert list(got) == list(STREAM_COLUMNS)
    return out


def _batch(frames: pd.DataFrame, dsi: pd.DataFrame | None, history: pd.DataFrame | None,
           priors: ActivePriors) -> pd.DataFrame:
    # the day only seeds the exploration draws and names history_window: not compared here
    ev = score_day(frames, "2026-01-01", fingerprint=FP, history=history, dsi=dsi,
                   priors=priors, evaluate=False).events
    return ev[list(STREAM_COLUMNS)].reset_index(drop=True)


def _python_type(kind: str) -> type:
    return {"i": int, "f": float, "b": bool}.get(kind, str)


def _mismatches(got: list[dict[str, Any]], want: pd.DataFrame,
                worst: dict[str, float] | None = None) -> list[str]:
    """Columns where the stream differs from the batch: floats within 1e-9 relative (1e-12
    absolute near 0), NaN exactly where the batch has NaN, the rest exact, every value of
    the batch dtype's Python type. `worst` collects the worst relative error per column."""
    if len(got) != len(want):
        return [f"{len(got)} windows streamed, {len(want)} in the batch"]
    bad = []
    worst = {} if worst is None else worst
    for c in STREAM_COLUMNS:
        b = want[c].to_numpy()
        kind = b.dtype.kind if b.dtype.kind in "ifb" else "O"
        vals = [g[c] for g in got]
        want_type = _python_type(kind)
        if not all(type(v) is want_type for v in vals):
            bad.append(f"{c}: values not all {want_type.__name__}")
            continue
        if kind == "f":
            a = np.asarray(vals, dtype=np.float64)
            if not np.array_equal(np.isnan(a), np.isnan(b)):
                bad.append(f"{c}: NaN differs")
                continue
            ok = ~np.isnan(b)
            err = np.abs(a[ok] - b[ok])
            rel = err / np.maximum(np.abs(b[ok]), ATOL)
            worst[c] = float(rel.max()) if len(rel) else 0.0
            if not np.all((err <= RTOL * np.abs(b[ok])) | (err <= ATOL)):
                bad.append(f"{c}: worst relative error {float(rel.max()):.3g}")
        elif [x.item() if hasattr(x, "item") else x for x in b] != vals:
            bad.append(f"{c}: values differ")
    return bad


def _equal(got: list[dict[str, Any]], want: pd.DataFrame) -> pd.DataFrame:
    """Assert the streamed dicts equal the batch rows; the streamed rows as a frame."""
    assert len(want) > 0
    worst: dict[str, float] = {}
    assert _mismatches(got, want, worst) == []
    by_group: dict[str, float] = {}
    for c, err in worst.items():
        g = next((v for k, v in GROUPS.items() if c.startswith(k)), "context")
        by_group[g] = max(by_group.get(g, 0.0), err)
    print(f"{len(got)} windows; worst relative error:",
          ", ".join(f"{g} {e:.2g}" for g, e in sorted(by_group.items())))
    return pd.DataFrame(got, columns=list(STREAM_COLUMNS))


def _matched(frame: pd.DataFrame) -> int:
    return int((frame["prior_patches"] > 0).sum())


@pytest.fixture(scope="module")
def day_a() -> Mapping[str, Any]:
    """2026-01-03, no history, NO_PRIORS; DSI fitted on 2026-01-02, one row in 7 missing."""
    frames = _fixture("2026-01-03")
    dsi = _dsi("2026-01-03", ("2026-01-02",))
    dsi = dsi.iloc[np.arange(len(dsi)) % 7 != 3].reset_index(drop=True)
    return {"frames": frames, "dsi": dsi, "history": None,
            "want": _batch(frames, dsi, None, NO_PRIORS)}


@pytest.fixture(scope="module")
def day_b() -> Mapping[str, Any]:
    """2026-01-04, history = the two earlier days' detector_windows, DSI fitted on them."""
    earlier = ("2026-01-02", "2026-01-03")
    frames, dsi, history = _fixture("2026-01-04"), _dsi("2026-01-04", earlier), _history(earlier)
    return {"frames": frames, "dsi": dsi, "history": history,
            "want": {p.version: _batch(frames, dsi, history, p) for p in (PRIORS_A, PRIORS_B)}}


def test_a_day_without_history_or_priors_streams_to_the_batch_scores(day_a):
    got = _equal(_stream(day_a["frames"], day_a["dsi"], None, NO_PRIORS), day_a["want"])
    assert (got["mx_evidence"] == 0).any() and (got["mx_evidence"] > 0).any()
    assert (got["priors_ver"] == 0).all() and _matched(got) == 0


def test_a_day_with_history_and_patches_streams_to_the_batch_scores(day_b):
    want = day_b["want"][PRIORS_A.version]
    got = _equal(_stream(day_b["frames"], day_b["dsi"], day_b["history"], PRIORS_A), want)
    assert 0 < _matched(got) < len(got)  # the patches select, they do not blanket
    assert (got["sq_n"] > 0).any() and (got["sq_orthogonality"] < 1).any()
    assert got["ms_entrain_r"].nunique() > 10


def test_a_priors_swap_mid_day_scores_later_windows_with_the_new_priors(day_b):
    want_a, want_b = day_b["want"][PRIORS_A.version], day_b["want"][PRIORS_B.version]
    frames = day_b["frames"]
    cut = int(np.median(want_a["ts_ms"]))
    streamed = _stream(frames, day_b["dsi"], day_b["history"], PRIORS_A, swap=(cut, PRIORS_B))
    before = want_a["ts_ms"].to_numpy() < cut
    got = _equal(streamed, pd.concat([want_a[before], want_b[~before]], ignore_index=True))
    assert set(got["priors_ver"]) == {PRIORS_A.version, PRIORS_B.version}
    assert 0 < _matched(got.loc[~before]) < (~before).sum()


def test_holes_in_the_nullable_inputs_stream_to_the_batch_scores(day_a):
    """2026-01-03 with NaN holes (single rows and runs) in the columns the MicroTape may
    leave NaN, history of one earlier day, no DSI at all, the patched priors."""
    frames = day_a["frames"].copy()
    rng = np.random.default_rng(7)
    for c in ("basis_bps", "rv_bps", "depth_5_rel", "book_imb_5", "book_imb_1", "trend_eff",
              "oi_delta", "oi_pctl", "funding_pctl", "rv_pctl", "range_pctl"):
        hole = rng.random(len(frames)) < 0.03
        start = rng.integers(0, len(frames) - 400)
        hole[start:start + 300] = True
        frames.loc[hole, c] = np.nan
    history = _history(("2026-01-02",))
    got = _equal(_stream(frames, None, history, PRIORS_A),
                 _batch(frames, None, history, PRIORS_A))
    assert (got["ms_asym_z_basis"] == 0).any() and got["basis_bps"].isna().any()


@pytest.mark.parametrize("with_dsi", [True, False])
def test_the_real_sample_streams_to_the_batch_scores(with_dsi):
    """25 s of real BTC feed: two windows, most context NaN (no rv, basis, depth, pctl)."""
    frames = build_microtape(parse_recording(REAL))
    dsi = annotate(frames, fit_dsi(None)).annotations if with_dsi else None
    _equal(_stream(frames, dsi, None, PRIORS_B), _batch(frames, dsi, None, PRIORS_B))


def test_a_skipped_row_is_detected(day_a):
    """Leave out one row a minute before a window of its coin: the EMAs differ after it."""
    want = day_a["want"]
    w = want.iloc[len(want) // 2]
    coin, ts = str(w["coin"]), int(w["ts_ms"]) - 60_000
    got = _stream(day_a["frames"], day_a["dsi"], None, NO_PRIORS, skip=(coin, ts))
    kept = ~((want["coin"] == coin) & (want["ts_ms"] == ts)).to_numpy()  # the row's own
    bad = _mismatches(got, want.loc[kept].reset_index(drop=True))
    assert any(b.startswith(("spread_rel", "flow", "ms_kairos")) for b in bad), bad


TWIN_RTOL = 1e-12
"""Scalar twin vs numpy's vectorised form: relative tolerance. Two computations of one
value (numpy may run SIMD code, AVX-512 on some CPUs, that differs from a one-value call
in the last bit): a few ulps are allowed, never a wrong branch, NaN or infinity."""


def test_the_scalar_twins_equal_numpy_on_edge_values():
    """The one-value forms of np.clip, np.nan_to_num, np.log, expit, ndtri-of-percentile,
    np.power and pandas' ewm recursion, on NaN, infinities, zeros and constant runs, within
    TWIN_RTOL (NaN where NaN, infinities equal)."""
    from scipy.special import expit

    import lotus_core.signals.score_stream as S
    from lotus_core.filters import ewm
    from lotus_core.signals.meta import _pctl_z

    edge = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300, -1e-300, 0.5, -3.0, 800.0,
            -800.0, 709.5, -709.5, 0.01, 0.99, 1.5]
    x = np.asarray(edge)
    with np.errstate(all="ignore"):
        pairs = [([S._clip(v, -1.0, 1.0) for v in edge], np.clip(x, -1.0, 1.0)),
                 ([S._nan_to_num(v, 1.0) for v in edge], np.nan_to_num(x, nan=1.0)),
                 ([S._log(v) for v in edge], np.log(x)),
                 ([S._expit(v) for v in edge], expit(x)),
                 ([S._pctl_z(v, 3.0) for v in edge], _pctl_z(x, 3.0)),
                 ([S._pow(v, 0.3) for v in edge], x ** 0.3),
                 ([S._pow(v, 0.5) for v in edge], x ** 0.5),
                 ([S._exp(v) for v in edge], np.exp(x)),
                 ([S._tanh(v) for v in edge], np.tanh(x))]
    for got, want in pairs:  # numpy's SIMD loops vs one value: within TWIN_RTOL
        np.testing.assert_allclose(np.asarray(got), want, rtol=TWIN_RTOL, atol=0,
                                   equal_nan=True)
    rng = np.random.default_rng(3)
    series = np.round(rng.normal(size=3000), 1)
    series[rng.random(3000) < 0.2] = np.nan
    series[:7] = np.nan
    series[100:140] = 2.5  # a constant run: pandas keeps the mean exactly there
    for seconds in (1, 10, 600):
        span = S._Span.of(seconds, 1000)
        m, got = math.nan, []
        for v in series:
            m = S._ew(m, float(v), span)
            got.append(m)
        np.testing.assert_allclose(np.asarray(got), ewm(series, span=F.rows(seconds, 1000)),
                                   rtol=TWIN_RTOL, atol=TWIN_RTOL, equal_nan=True)


def test_windows_of_another_row_are_refused():
    frames = _fixture("2026-01-03")
    row = frames.iloc[100].to_dict()
    scorer = WindowScorer(SPECS, CFG, history_quality(None, SPECS, CFG.sq), NO_PRIORS, 1000)
    window = {"window_id": "x", "ts_ms": int(row["ts_ms"]) + 1000, "coin": row["coin"],
              "detector_id": SPECS[0].id, "recipe_hash": SPECS[0].recipe_hash,
              "horizon_s": SPECS[0].horizon_s, "direction": 1, "raw_strength": 1.0}
    with pytest.raises(ValueError, match="is not of row"):
        scorer.push(row, None, [window])
