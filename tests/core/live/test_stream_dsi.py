"""DsiStream (DSI annotation one MicroTape row at a time) equals `annotate` on every column:
a whole fixture day pushed in (ts_ms, coin) order, with a model fitted on two earlier days
(learned experts fitted, the classifier's reliability counted out of sample) and with the
no-history model; the real sample; registry variants (the divergence expert's other
settings, random grammars); and the per-row building blocks against pandas and sklearn.
A skipped row, a row out of order or off the cadence is caught."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lotus_core.dsi import annotate, fit_dsi, parse_registry
from lotus_core.dsi.features import anomaly_matrix, coin_features
from lotus_core.dsi.grammar import DERIVE_OPS, OPS
from lotus_core.dsi.registry import default_registry_text
from lotus_core.dsi.stream import DsiStream
from lotus_core.dsi.stream_models import compile_forest, float32_cut
from lotus_core.dsi.stream_windows import com_of, probe
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape

pytestmark = pytest.mark.slow  # three fixture MicroTapes built, a fixture day pushed twice

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "fixtures"
REAL = ROOT / "tests" / "data" / "real" / "2025-01-26.jsonl.gz"
HIST = ("2026-01-03", "2026-01-04")
DAY = "2026-01-05"


@pytest.fixture(scope="module")
def tapes() -> dict[str, pd.DataFrame]:
    out = {d: build_microtape(parse_recording(FIXTURES / f"{d}.jsonl.gz")) for d in (*HIST, DAY)}
    out["real"] = build_microtape(parse_recording(REAL))
    return out


@pytest.fixture(scope="module")
def fitted(tapes):
    return fit_dsi(pd.concat([tapes[d].assign(date=d) for d in HIST], ignore_index=True))


def stream(model, frames: pd.DataFrame, rows: list[dict] | None = None) -> pd.DataFrame:
    """Push frames' rows in (ts_ms, coin) order; the annotations back in frames' order."""
    order = frames.sort_values(["ts_ms", "coin"], kind="stable")
    st = DsiStream(model)
    out = [st.push(r) for r in (rows if rows is not None else order.to_dict("records"))]
    got = pd.DataFrame(out, index=order.index)
    return got.loc[frames.index].reset_index(drop=True)


def compare(batch: pd.DataFrame, got: pd.DataFrame) -> dict[str, float]:
    """Assert equal (floats within 1e-9 relative, 1e-12 absolute near 0, NaN where NaN;
    everything else exact); the worst relative error per float column."""
    assert list(got.columns) == list(batch.columns)
    assert len(got) == len(batch)
    worst = {}
    for c in batch.columns:
        a, b = batch[c].to_numpy(), got[c].to_numpy()
        if a.dtype.kind == "f":
            b = b.astype("float64")
            assert np.array_equal(np.isnan(a), np.isnan(b)), c
            ok = ~np.isnan(a)
            err = np.abs(a[ok] - b[ok])
            assert np.all(err <= np.maximum(1e-9 * np.abs(a[ok]), 1e-12)), c
            worst[c] = float((err / np.maximum(np.abs(a[ok]), 1e-12)).max(initial=0.0))
        elif a.dtype.kind in "iu":
            assert b.dtype.kind in "iu", c  # ints stay ints
            assert np.array_equal(a, b), c
        else:
            assert list(a) == list(b), c
    return worst


def test_fitted_model_day_equals_annotate(tapes, fitted):
    seq = next(s for s in fitted.experts if s.id == "seq_move_clf")
    forest = next(s for s in fitted.experts if s.id == "anomaly_iforest")
    assert seq.expert.fitted and forest.expert.fitted and seq.counts.trials > 0
    assert all(s.weight > 0 for s in fitted.experts)
    frames = tapes[DAY]
    batch = annotate(frames, fitted).annotations
    worst = compare(batch, stream(fitted, frames))
    assert max(worst.values()) <= 1e-12
    for s in fitted.experts:  # the comparison means something: every expert fires
        assert batch[f"f_{s.id}"].sum() > 0, s.id
    assert batch["mx_confirm"].sum() > 0


def test_no_history_model_day_equals_annotate(tapes):
    model = fit_dsi(None)
    frames = tapes[DAY]
    compare(annotate(frames, model).annotations, stream(model, frames))


def test_real_sample_equals_annotate(tapes, fitted):
    frames = tapes["real"]
    for model in (fitted, fit_dsi(None)):
        compare(annotate(frames, model).annotations, stream(model, frames))


def test_numpy_scalar_rows_are_accepted(tapes, fitted):
    frames = tapes[DAY].groupby("coin").head(400).reset_index(drop=True)
    order = frames.sort_values(["ts_ms", "coin"], kind="stable")
    arrays = {c: order[c].to_numpy() for c in order.columns}
    rows = [{c: x[i] for c, x in arrays.items()} for i in range(len(order))]
    assert isinstance(rows[0]["trade_count"], np.integer)
    got = stream(fitted, frames, rows)
    compare(annotate(frames, fitted).annotations, got)
    assert type(got["ts_ms"][0]) is not float and isinstance(got["coin"][0], str)


def test_a_skipped_row_is_detected_and_a_gap_is_the_batch_gap(tapes, fitted):
    frames = tapes[DAY].groupby("coin").head(2400).reset_index(drop=True)
    order = frames.sort_values(["ts_ms", "coin"], kind="stable")
    skip = order.index[3000 + list(order["coin"].iloc[3000:]).index("BTC")]
    gapped = frames.drop(index=skip).reset_index(drop=True)
    got = stream(fitted, gapped)  # BTC's next row, 2 s after its last, is on the cadence
    compare(annotate(gapped, fitted).annotations, got)  # the batch of the same rows
    full = annotate(frames, fitted).annotations.drop(index=skip).reset_index(drop=True)
    with pytest.raises(AssertionError):  # but not what the day with that row gives
        compare(full, got)


def test_rows_out_of_order_or_off_the_cadence_raise_and_change_nothing(tapes, fitted):
    frames = tapes[DAY].groupby("coin").head(300).reset_index(drop=True)
    batch = annotate(frames, fitted).annotations
    order = frames.sort_values(["ts_ms", "coin"], kind="stable")
    rows = order.to_dict("records")
    st = DsiStream(fitted)
    out = []
    for i, r in enumerate(rows):
        if i == 400:
            last = rows[i - 3]  # the same coin's previous row
            assert last["coin"] == r["coin"]
            for bad, match in (({**r, "ts_ms": last["ts_ms"]}, "not after"),
                               ({**r, "ts_ms": last["ts_ms"] - 1000}, "not after"),
                               ({**r, "ts_ms": r["ts_ms"] + 500}, "cadence_ms=1000")):
                with pytest.raises(ValueError, match=match) as err:
                    st.push(bad)
                assert r["coin"] in str(err.value) and str(bad["ts_ms"]) in str(err.value)
        out.append(st.push(r))
    got = pd.DataFrame(out, index=order.index).loc[frames.index].reset_index(drop=True)
    compare(batch, got)


def _registry(edit) -> object:
    data = yaml.safe_load(default_registry_text())
    edit(data)
    return parse_registry(data)


@pytest.mark.parametrize("spec", [
    {"oscillators": "any", "flow_span": 3, "rsi_frames": 2},  # com == 1: pandas' own rule
    {"lookback": 90, "min_age": 5, "macd_fast": 12, "macd_slow": 26, "rsi_gap": 2.0,
     "flow_min": 0.05, "book_min": 0.05},
])
def test_divergence_settings_equal_annotate(tapes, spec):
    def edit(data):
        div = next(e for e in data["experts"] if e["kind"] == "divergence")
        div["spec"].update(spec)
        data["experts"] = [div]

    model = fit_dsi(None, _registry(edit))
    frames = tapes[DAY].groupby("coin").head(2400).reset_index(drop=True)
    batch = annotate(frames, model).annotations
    assert batch["f_divergence_rsi_macd"].sum() > 0
    compare(batch, stream(model, frames))


GRAMMARS = [
    {  # three states with gaps and runs, sides, every derivation, an int hold
        "sides": [{"direction": 1, "vars": {"x": "a"}}, {"direction": -1, "vars": {"x": "b"}}],
        "derive": {
            "a_med": {"op": "roll_median", "col": "a", "window": 50, "min_periods": 10},
            "a_lag": {"op": "lag", "col": "a", "window": 3},
            "b_abs": {"op": "abs", "col": "b"},
            "b_max": {"op": "roll_max", "col": "b_abs", "window": 7, "min_periods": 2},
            "c_min": {"op": "roll_min", "col": "c", "window": 5},
            "c_sum": {"op": "roll_sum", "col": "c", "window": 4, "min_periods": 4},
            "a_mean": {"op": "roll_mean", "col": "a", "window": 20, "min_periods": 5}},
        "states": [
            {"name": "s1", "min_run": 2,
             "all": [{"col": "{x}", "op": "gt", "value": 0.2, "per": "a_mean"},
                     {"col": "c_min", "op": "ge", "value": -1}]},
            {"name": "s2", "gap": [1, 5],
             "all": [{"col": "a_lag", "op": "lt", "value": 0.0, "signed": True}]},
            {"name": "s3", "gap": [2, 8], "min_run": 3,
             "all": [{"col": "b_max", "op": "le", "value": 2.5},
                     {"col": "a_med", "op": "le", "value": 1.0, "per": "b_abs"},
                     {"col": "c_sum", "op": "ne", "value": 1}]}],
        "emit": {"hold": 4}},
    {  # the same machine held while its last state's conditions stay true
        "derive": {"b_abs": {"op": "abs", "col": "b"},
                   "b_mean": {"op": "roll_mean", "col": "b_abs", "window": 30}},
        "states": [
            {"all": [{"col": "b", "op": "ge", "value": 1.0, "per": "b_mean", "abs": True}]},
            {"gap": [1, 3], "min_run": 2,
             "all": [{"col": "c", "op": "le", "value": 0}, {"col": "a", "op": "eq", "value": 0}]}],
        "emit": {"hold": "while_true"}},
]


def _random_grammar(rng: np.random.Generator) -> dict:
    """Derivations (some over others), 1-3 states of 1-2 conditions with every op, per,
    abs and signed; random runs, gaps and hold."""
    cols = ["a", "b", "c"]
    derive: dict[str, dict] = {}
    for i in range(int(rng.integers(1, 4))):
        w = int(rng.integers(1, 12))
        derive[f"d{i}"] = {"op": str(rng.choice(list(DERIVE_OPS))),
                           "col": str(rng.choice(cols + list(derive))),
                           "window": w, "min_periods": int(rng.integers(1, w + 1))}
    names = cols + list(derive)
    states = []
    for k in range(int(rng.integers(1, 4))):
        conds = []
        for _ in range(int(rng.integers(1, 3))):
            cond = {"col": str(rng.choice(names)), "op": str(rng.choice(list(OPS))),
                    "value": float(rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0]))}
            if rng.random() < 0.3:
                cond["per"] = str(rng.choice(names))
            if rng.random() < 0.2:
                cond["abs"] = True
            elif rng.random() < 0.3:
                cond["signed"] = True
            conds.append(cond)
        state = {"all": conds, "min_run": int(rng.integers(1, 4))}
        if k:
            lo = int(rng.integers(1, 4))
            state["gap"] = [lo, lo + int(rng.integers(0, 6))]
        states.append(state)
    hold = "while_true" if rng.random() < 0.5 else int(rng.integers(1, 6))
    return {"sides": [{"direction": 1}, {"direction": -1}], "derive": derive,
            "states": states, "emit": {"hold": hold}}


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the batch's 0 * inf
def test_grammars_equal_annotate():
    rng = np.random.default_rng(7)
    n = 4000
    parts = []
    for coin in ("AAA", "BBB"):
        a = np.round(rng.normal(size=n), 1)
        a[rng.random(n) < 0.3] = 0.0
        b = rng.normal(size=n) * np.where(rng.random(n) < 0.05, 5.0, 1.0)
        b[500:540] = np.nan
        c = rng.integers(-1, 3, size=n).astype("float64")
        c[rng.random(n) < 0.02] = np.inf
        parts.append(pd.DataFrame({"coin": coin, "ts_ms": 1_700_000_000_000 + 1000 * np.arange(n),
                                   "a": a, "b": b, "c": c}))
    frames = pd.concat(parts, ignore_index=True)
    specs = GRAMMARS + [_random_grammar(rng) for _ in range(24)]

    def edit(data):
        base = data["experts"][0]
        data["experts"] = [{**copy.deepcopy(base), "id": f"g{i}", "spec": g}
                           for i, g in enumerate(specs)]

    model = fit_dsi(None, _registry(edit))
    batch = annotate(frames, model).annotations
    for i in range(len(GRAMMARS)):
        assert 0 < batch[f"f_g{i}"].mean() < 0.9
    rates = [batch[f"f_g{i}"].mean() for i in range(len(specs))]
    assert sum(0 < r < 1 for r in rates) >= len(specs) // 2  # most random ones fire too
    compare(batch, stream(model, frames))


def _series(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=n) * 10.0 ** rng.integers(-3, 4)
    if rng.random() < 0.5:
        x = np.round(x, 1)
    for _ in range(rng.integers(0, 6)):  # runs of one value, of NaN, of inf
        a = rng.integers(0, n)
        x[a:a + rng.integers(1, 50)] = rng.choice([np.nan, 0.0, -0.0, 1.5, np.inf, -np.inf])
    return x


PARTS_RTOL = 1e-12
"""Window parts vs pandas' rolling / ewm: relative tolerance (absolute near zero), NaN and
infinities where pandas has them. Two implementations of the same arithmetic: equal bits
are likely, never promised."""


def _close(got: np.ndarray, want: np.ndarray, what: object) -> None:
    np.testing.assert_allclose(got, want, rtol=PARTS_RTOL, atol=PARTS_RTOL, equal_nan=True,
                               err_msg=str(what))


def test_window_parts_equal_pandas():
    rng = np.random.default_rng(3)
    for _ in range(150):
        n, w = int(rng.integers(1, 300)), int(rng.integers(1, 40))
        mp = int(rng.integers(1, w + 1))
        x = _series(rng, n)
        roll = pd.Series(x).rolling(w, min_periods=mp)
        k, m, e, lag = (probe("kahan", w, mp), probe("median", w, mp), probe("extremes", w, mp),
                        probe("lag", w))
        got: dict[str, list[float]] = {q: [] for q in ("mean", "sum", "median", "max", "min",
                                                       "shift")}
        for v in x.tolist():
            for q, value in zip(("mean", "sum", "median", "max", "min", "shift"),
                                (*k(v), *m(v), *e(v), *lag(v)), strict=True):
                got[q].append(value)
        for q, values in got.items():
            want = (pd.Series(x).shift(w) if q == "shift" else getattr(roll, q)()).to_numpy()
            if q in ("max", "min", "shift"):  # picks an input value: no arithmetic
                assert np.array_equal(want, np.array(values), equal_nan=True), (q, w, mp)
            else:  # sums, means and medians: pandas' Cython vs the twin, within PARTS_RTOL
                _close(np.array(values), want, (q, w, mp))
        for span, alpha in ((3, None), (int(rng.integers(1, 200)), None), (None, 0.5),
                            (None, 1.0 / int(rng.integers(1, 200)))):
            for ignore_na in (False, True):
                ew = probe("ewm", com_of(span=span, alpha=alpha), ignore_na=ignore_na)
                want = pd.Series(x).ewm(span=span, alpha=alpha, adjust=False,
                                        ignore_na=ignore_na).mean().to_numpy()
                _close(np.array([ew(v)[0] for v in x.tolist()]), want,
                       (span, alpha, ignore_na))


FOREST_RTOL = 1e-12
"""Compiled forest vs sklearn: relative tolerance of the score (a few ulps and more)."""


def test_compiled_forest_equals_sklearn_at_its_thresholds(tapes, fitted):
    """Rows at, and one float step either side of, each split's threshold (and its float32
    cut): every tree takes sklearn's branch, so scores agree within FOREST_RTOL."""
    forest = next(s for s in fitted.experts if s.id == "anomaly_iforest").expert.model
    x = anomaly_matrix(coin_features(tapes[DAY].iloc[:3000], fitted.registry.label))
    score = compile_forest(forest)
    rng = np.random.default_rng(1)
    probes = [x[:500], np.where(rng.random((500, x.shape[1])) < 0.2, np.nan, x[:500])]
    edge = []
    for est in forest.estimators_[:8]:  # each split at its threshold, cut and neighbours
        t = est.tree_
        for node in np.flatnonzero(t.children_left >= 0):
            th = float(t.threshold[node])
            cut = float32_cut(th)
            for v in (th, cut, np.nextafter(cut, np.inf), np.nextafter(cut, -np.inf),
                      float(np.float32(th))):
                row = x[0].copy()
                row[t.feature[node]] = v
                edge.append(row)
    for batch in (*probes, np.array(edge)):
        want = -forest.score_samples(batch)
        got = np.array([score(*r) for r in batch.tolist()])
        # The leaf each tree reaches is the decision and must be the same; the score is
        # 2 ** -(mean path length / c), numpy's pow on both sides here but never promised
        # bit for bit across CPUs: within FOREST_RTOL. A leaf of another path length in one
        # tree moves the score by ln 2 x (the length's change) / (trees x c(max_samples)),
        # orders of magnitude above it.
        np.testing.assert_allclose(got, want, rtol=FOREST_RTOL, atol=0)
