"""DSI on two committed fixture days: fitted on the first, annotating the second.

Causal (rows at t unchanged when the MicroTape is cut at t), deterministic, the documented
fusion formula, the no-history fallback, and contracts that fail naming the column or key.

Then the stage's one-definition check: DsiStream (annotate one MicroTape row at a time)
equals `annotate` on every column: a whole fixture day pushed in (ts_ms, coin) order, with
a model fitted on two earlier days (learned experts fitted, the classifier's reliability
counted out of sample) and with the no-history model; the real sample; the divergence
expert's other settings; and the per-row building blocks (windows.py's parts, the compiled
forest) against pandas and sklearn. A skipped row, a row out of order or off the cadence
is caught. (The grammar engine's: test_dsi_grammar.py.)
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pandera.errors import SchemaError, SchemaErrors
from scipy.special import expit, logit

from lotus_core.dsi import (
    DSI_EXPERTS_SCHEMA,
    RegistryError,
    annotate,
    dsi_schema,
    expert_table,
    expert_timings,
    fit_dsi,
    load_registry,
    parse_registry,
)
from lotus_core.dsi.annotate import DsiStream
from lotus_core.dsi.experts import ExpertOutput
from lotus_core.dsi.features import anomaly_matrix, coin_features
from lotus_core.dsi.forest import float32_cut, forest_arrays, forest_scores, row_scorer
from lotus_core.dsi.registry import default_registry_text
from lotus_core.dsi.reliability import Posterior, count, weight
from lotus_core.dsi.windows import com_of, probe
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.microtape.schema import empty_frame
from lotus_core.schemas import asset_schemas
from tests.core.dsi.conftest import DAY, FIXTURES, HIST_DAY
from tests.core.dsi.stream_kit import compare, registry_with, stream

ROOT = Path(__file__).resolve().parents[3]
REAL = ROOT / "tests" / "data" / "real" / "2025-01-26.jsonl.gz"
STREAM_HIST = ("2026-01-03", "2026-01-04")
STREAM_DAY = "2026-01-05"
REGISTRY = load_registry()
IDS = [e.id for e in REGISTRY.active]
DSI_SCHEMA = dsi_schema(REGISTRY)  # the packaged registry's annotations


def test_annotations_are_one_valid_row_per_frame(tapes, fitted):
    _, today = tapes
    model, result = fitted
    ann = result.annotations
    DSI_SCHEMA.validate(ann)
    schemas = asset_schemas(REGISTRY)
    assert schemas["dsi_annotations"].columns == DSI_SCHEMA.columns
    assert schemas["dsi_experts"].columns == DSI_EXPERTS_SCHEMA.columns
    assert list(dsi_schema(model.registry).columns) == list(ann.columns)  # the model's
    assert ann[["coin", "ts_ms"]].equals(today[["coin", "ts_ms"]])
    assert [s.id for s in model.experts] == IDS
    assert model.history_days == [HIST_DAY]
    for eid in IDS:  # every expert speaks, none is stuck on
        rate = ann[f"f_{eid}"].mean()
        assert 0 < rate < 0.2, (eid, rate)
    assert 0 < ann["mx_confirm"].mean() < 0.1
    assert ann["mx_evidence"].between(0, 1).all() and ann["mx_evidence"].std() > 0.01


def test_fusion_is_exactly_the_documented_formula(fitted):
    model, result = fitted
    ann = result.annotations
    zc = model.registry.fusion.z_cap
    llr = logit(model.base_rate) + sum(
        s.weight * np.clip(ann[f"z_{s.id}"], -zc, zc) for s in model.experts)
    assert np.allclose(ann["mx_evidence"], expit(llr), rtol=0, atol=1e-12)
    flags = sum(ann[f"f_{eid}"].astype(int) for eid in IDS)
    assert (ann["mx_confirm"] == (flags >= model.registry.fusion.confirm_m)).all()
    for s in model.experts:  # weights: the clipped log-odds lift of the Beta posterior
        a = s.prior.alpha + s.counts.successes
        b = s.prior.beta + s.counts.trials - s.counts.successes
        assert s.posterior.mean == pytest.approx(a / (a + b))
        lift = logit(s.posterior.mean) - logit(model.base_rate)
        assert s.weight == pytest.approx(min(max(lift, 0.0), model.registry.fusion.w_max))


def test_no_look_ahead_rows_unchanged_when_the_tape_is_cut(tapes, fitted):
    _, today = tapes
    model, result = fitted
    full = result.annotations
    ts = today["ts_ms"].to_numpy()
    rng = np.random.default_rng(11)
    cuts = list(rng.choice(ts, 4, replace=False))
    for eid in IDS:  # and right where each expert's flags switch on
        on = np.flatnonzero(np.diff(full[f"f_{eid}"].to_numpy()) == 1)
        if len(on):
            cuts.append(ts[on[len(on) // 2] + 1])
    for t in cuts:
        keep = (today["ts_ms"] <= t).to_numpy()
        cut = annotate(today[keep].reset_index(drop=True), model).annotations
        pd.testing.assert_frame_equal(cut, full[keep].reset_index(drop=True),
                                      check_exact=True, obj=f"annotations cut at {t}")


def test_deterministic(tapes, fitted):
    hist, today = tapes
    model, result = fitted
    again_model = fit_dsi(hist.copy(), registry=load_registry())
    again = annotate(today.copy(), again_model)
    pd.testing.assert_frame_equal(again.annotations, result.annotations, check_exact=True)
    a = expert_table(DAY, today, model, result)
    b = expert_table(DAY, today, again_model, again)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_fallback_on_a_day_with_no_history(tapes):
    _, today = tapes
    for history in (None, pd.DataFrame()):
        model = fit_dsi(history, registry=load_registry())
        result = annotate(today, model)
        ann = result.annotations
        DSI_SCHEMA.validate(ann)
        assert model.history_days == [] and model.base_rate == pytest.approx(0.2)
        for s in model.experts:
            spec = s.expert.spec
            prior = spec.prior_alpha / (spec.prior_alpha + spec.prior_beta)
            assert s.posterior.mean == pytest.approx(prior)
            assert s.weight == pytest.approx(weight(prior, 0.2, model.registry.fusion.w_max))
            if spec.kind in ("anomaly", "sequence"):  # learned: silent
                assert not s.expert.fitted
                assert (ann[[f"f_{spec.id}", f"z_{spec.id}", f"c_{spec.id}"]] == 0).all().all()
        # rules still run: the grammar experts do not need history
        assert ann["f_depth_vacuum"].sum() > 0 and ann["f_sweep_then_stall"].sum() > 0
        table = expert_table(DAY, today, model, result)
        DSI_EXPERTS_SCHEMA.validate(table)
        assert (table["hist_days"] == 0).all() and (table["hist_trials"] == 0).all()


def test_expert_table_reports_the_registry_with_stats(tapes, fitted):
    _, today = tapes
    model, result = fitted
    table = expert_table(DAY, today, model, result)
    DSI_EXPERTS_SCHEMA.validate(table)
    assert table["expert_id"].tolist() == IDS
    timings = expert_timings(model, result)
    assert set(timings) <= set(IDS) and all(t["latency_p50_us"] > 0 for t in timings.values())
    assert "latency_p50_us" not in table  # wall-clock: run metadata, never the table
    assert table.loc[table["kind"] == "grammar", "day_dir_agree"].notna().any()
    # one history day: every expert has trials but the classifier, whose reliability is
    # counted out of sample on the last of >= 2 history days (until then: its prior)
    trials = table.set_index("expert_id")["hist_trials"]
    assert (trials.drop("seq_move_clf") > 0).all() and trials["seq_move_clf"] == 0
    assert table.set_index("expert_id").loc["anomaly_iforest", "fit_rows"] > 0
    # an inactive expert is listed with its spec but not run (and has no column)
    data = yaml.safe_load(default_registry_text())
    data["experts"][0]["active"] = False
    reg = parse_registry(data)
    model = fit_dsi(None, registry=reg)
    result = annotate(today, model)
    assert f"f_{data['experts'][0]['id']}" not in result.annotations.columns
    dsi_schema(reg).validate(result.annotations)
    assert list(dsi_schema(reg).columns) != list(DSI_SCHEMA.columns)  # one expert fewer
    assert list(asset_schemas(reg)["dsi_annotations"].columns) == list(
        dsi_schema(reg).columns)  # the lake's table follows the registry it is given
    table = expert_table(DAY, today, model, result)
    DSI_EXPERTS_SCHEMA.validate(table)
    row = table.iloc[0]
    assert not row["active"] and np.isnan(row["reliability"]) and row["day_flag_frames"] == 0


@pytest.mark.parametrize(("column", "breakage"), [
    ("mx_evidence", lambda df: df.assign(mx_evidence=df["mx_evidence"] + 1.5)),
    ("mx_confirm", lambda df: df.assign(mx_confirm=df["mx_confirm"].astype("int64"))),
    ("f_wick_triplet", lambda df: df.assign(f_wick_triplet=np.int8(2))),
    ("z_anomaly_iforest", lambda df: df.assign(z_anomaly_iforest=np.nan)),
    ("z_depth_vacuum", lambda df: df.assign(z_depth_vacuum=5.0)),  # beyond z_cap
    ("c_seq_move_clf", lambda df: df.assign(c_seq_move_clf=-0.1)),
    ("extra", lambda df: df.assign(extra=1.0)),
    ("sorted_by_coin_ts", lambda df: df.iloc[::-1].reset_index(drop=True)),
])
def test_schema_failures_name_the_column(fitted, column, breakage):
    bad = breakage(fitted[1].annotations)
    with pytest.raises((SchemaError, SchemaErrors), match=column):
        DSI_SCHEMA.validate(bad)


def test_expert_schema_failure_names_the_column(tapes, fitted):
    table = expert_table(DAY, tapes[1], *fitted)
    with pytest.raises(SchemaError, match="reliability"):
        DSI_EXPERTS_SCHEMA.validate(table.assign(reliability=1.5))


@pytest.mark.parametrize(("path", "value", "key"), [
    (("experts", 0, "kind"), "oracle", r"experts\[0\].kind"),
    (("experts", 1, "id"), "sweep_then_stall", r"experts\[1\].id: duplicate"),
    (("experts", 3, "spec", "flag_quantile"), 2.0, r"experts\[3\].spec.flag_quantile"),
    (("experts", 4, "spec", "smoothing"), 3, r"experts\[4\].spec: unknown"),
    (("experts", 5, "spec", "lags"), "0,1", r"experts\[5\].spec.lags"),
    (("experts", 0, "spec", "states", 1, "gap"), [5, 1], r"experts\[0\].spec.states\[1\].gap"),
    (("fusion", "confirm_m"), 0, "fusion.confirm_m"),
    (("label", "k"), "two", "label.k"),
])
def test_registry_errors_name_the_key(path, value, key):
    data = copy.deepcopy(yaml.safe_load(default_registry_text()))
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(RegistryError, match=key):
        parse_registry(data)


def test_reliability_counts_episodes_not_frames():
    coin = np.array(["A"] * 6 + ["B"] * 4, dtype=object)
    ts = np.array([1, 2, 3, 4, 5, 6, 1, 2, 3, 4]) * 1000
    f = np.array([1, 1, 0, 1, 1, 1, 1, 1, 0, 0], dtype=np.int8)
    d = np.array([1, 1, 0, -1, -1, -1, 1, 1, 0, 0], dtype=np.int8)
    y = np.array([1, 0, 0, 0, 1, 1, np.nan, 1, 0, 0])
    move = np.array([2.0, 0, 0, 3.0, 0, 0, -1.0, 0, 0, 0])
    out = ExpertOutput(f, f.astype(float), f.astype(float), d)
    c = count(out, coin, ts, y, move, 1000)
    # episodes start at A@1 (y=1, up, moved up), A@4 (y=0, down, moved up), B@1 (y undefined)
    assert (c.trials, c.successes, c.directed, c.dir_agree) == (2, 1, 3, 1)
    post = Posterior(4.0, 6.0).update(c.successes, c.trials)
    assert (post.alpha, post.beta) == (5.0, 7.0)
    assert weight(0.2, 0.2, 3.0) == 0.0 and weight(0.9, 0.2, 3.0) == 3.0


def test_frames_must_be_sorted_and_on_the_cadence(tapes):
    _, today = tapes
    model = fit_dsi(None, registry=load_registry())
    with pytest.raises(ValueError, match="sorted"):
        annotate(today.iloc[::-1], model)
    with pytest.raises(ValueError, match="cadence_ms"):
        annotate(today.assign(ts_ms=today["ts_ms"] + np.arange(len(today)) % 2 * 500), model)


def test_two_history_days_give_the_classifier_an_out_of_sample_reliability(tapes):
    hist, _ = tapes
    two = pd.concat([hist.assign(date="2026-01-01"), hist], ignore_index=True)
    model = fit_dsi(two, registry=load_registry())
    seq = next(s for s in model.experts if s.id == "seq_move_clf")
    assert model.history_days == ["2026-01-01", HIST_DAY]
    assert seq.expert.fitted and seq.counts.trials > 0


def test_an_empty_day_gives_an_empty_valid_annotation(fitted):
    model, _ = fitted
    empty = empty_frame()
    result = annotate(empty, model)
    DSI_SCHEMA.validate(result.annotations)
    assert len(result.annotations) == 0
    DSI_EXPERTS_SCHEMA.validate(expert_table(DAY, empty, model, result))


# ---------------------------------------------------------------- DsiStream equals annotate


@pytest.fixture(scope="module")
def stream_tapes() -> dict[str, pd.DataFrame]:
    out = {d: build_microtape(parse_recording(FIXTURES / f"{d}.jsonl.gz"))
           for d in (*STREAM_HIST, STREAM_DAY)}
    out["real"] = build_microtape(parse_recording(REAL))
    return out


@pytest.fixture(scope="module")
def stream_fitted(stream_tapes):
    return fit_dsi(pd.concat([stream_tapes[d].assign(date=d) for d in STREAM_HIST],
                             ignore_index=True), registry=load_registry())


@pytest.mark.slow
def test_fitted_model_day_equals_annotate(stream_tapes, stream_fitted):
    seq = next(s for s in stream_fitted.experts if s.id == "seq_move_clf")
    forest = next(s for s in stream_fitted.experts if s.id == "anomaly_iforest")
    assert seq.expert.fitted and forest.expert.fitted and seq.counts.trials > 0
    assert all(s.weight > 0 for s in stream_fitted.experts)
    frames = stream_tapes[STREAM_DAY]
    batch = annotate(frames, stream_fitted).annotations
    worst = compare(batch, stream(stream_fitted, frames))  # within 1e-9 relative
    # not tighter: the fitted experts' BLAS reductions differ in their last bits with the
    # thread count (1.3e-12 relative with OPENBLAS_NUM_THREADS=1 on the 2-core EPYC)
    assert max(worst.values()) <= 1e-9
    for s in stream_fitted.experts:  # the comparison means something: every expert fires
        assert batch[f"f_{s.id}"].sum() > 0, s.id
    assert batch["mx_confirm"].sum() > 0


@pytest.mark.slow
def test_no_history_model_day_equals_annotate(stream_tapes):
    model = fit_dsi(None, registry=load_registry())
    frames = stream_tapes[STREAM_DAY]
    compare(annotate(frames, model).annotations, stream(model, frames))


@pytest.mark.slow
def test_real_sample_equals_annotate(stream_tapes, stream_fitted):
    frames = stream_tapes["real"]
    for model in (stream_fitted, fit_dsi(None, registry=load_registry())):
        compare(annotate(frames, model).annotations, stream(model, frames))


@pytest.mark.slow
def test_numpy_scalar_rows_are_accepted(stream_tapes, stream_fitted):
    frames = stream_tapes[STREAM_DAY].groupby("coin").head(400).reset_index(drop=True)
    order = frames.sort_values(["ts_ms", "coin"], kind="stable")
    arrays = {c: order[c].to_numpy() for c in order.columns}
    rows = [{c: x[i] for c, x in arrays.items()} for i in range(len(order))]
    # the tape's integer columns (the trade counts are float64: NaN without a trades channel)
    assert isinstance(rows[0]["ts_ms"], np.integer) and isinstance(rows[0]["stale_ms"],
                                                                   np.integer)
    got = stream(stream_fitted, frames, rows)
    compare(annotate(frames, stream_fitted).annotations, got)
    assert type(got["ts_ms"][0]) is not float and isinstance(got["coin"][0], str)


@pytest.mark.slow
def test_a_skipped_row_is_detected_and_a_gap_is_the_batch_gap(stream_tapes, stream_fitted):
    frames = stream_tapes[STREAM_DAY].groupby("coin").head(2400).reset_index(drop=True)
    order = frames.sort_values(["ts_ms", "coin"], kind="stable")
    skip = order.index[3000 + list(order["coin"].iloc[3000:]).index("BTC")]
    gapped = frames.drop(index=skip).reset_index(drop=True)
    got = stream(stream_fitted, gapped)  # BTC's next row, 2 s after its last, is on the cadence
    compare(annotate(gapped, stream_fitted).annotations, got)  # the batch of the same rows
    full = annotate(frames, stream_fitted).annotations.drop(index=skip).reset_index(drop=True)
    with pytest.raises(AssertionError):  # but not what the day with that row gives
        compare(full, got)


@pytest.mark.slow
def test_rows_out_of_order_or_off_the_cadence_raise_and_change_nothing(stream_tapes, stream_fitted):
    frames = stream_tapes[STREAM_DAY].groupby("coin").head(300).reset_index(drop=True)
    batch = annotate(frames, stream_fitted).annotations
    order = frames.sort_values(["ts_ms", "coin"], kind="stable")
    rows = order.to_dict("records")
    st = DsiStream(stream_fitted)
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


@pytest.mark.slow
@pytest.mark.parametrize("spec", [
    {"oscillators": "any", "flow_span": 3, "rsi_frames": 2},  # com == 1: pandas' own rule
    {"lookback": 90, "min_age": 5, "macd_fast": 12, "macd_slow": 26, "rsi_gap": 2.0,
     "flow_min": 0.05, "book_min": 0.05},
])
def test_divergence_settings_equal_annotate(stream_tapes, spec):
    def edit(data):
        div = next(e for e in data["experts"] if e["kind"] == "divergence")
        div["spec"].update(spec)
        data["experts"] = [div]

    model = fit_dsi(None, registry=registry_with(edit))
    frames = stream_tapes[STREAM_DAY].groupby("coin").head(2400).reset_index(drop=True)
    batch = annotate(frames, model).annotations
    assert batch["f_divergence_rsi_macd"].sum() > 0
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


@pytest.mark.slow
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
"""The forest kernel's one-row call vs its whole-matrix call: a few ulps and more."""


@pytest.mark.slow
def test_forest_kernel_equals_sklearn_at_its_thresholds(stream_tapes, stream_fitted):
    """Rows at, and one float step either side of, each split's threshold (and its float32
    cut): every tree takes sklearn's branch, and the kernel's scores are sklearn's bit for
    bit (the same leaf terms summed in the same order, then the same numpy pow)."""
    forest = next(s for s in stream_fitted.experts if s.id == "anomaly_iforest").expert.model
    label = stream_fitted.registry.label
    x = anomaly_matrix(coin_features(stream_tapes[STREAM_DAY].iloc[:3000], label))
    fa = forest_arrays(forest)
    score = row_scorer(fa)
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
        got = forest_scores(fa, batch)
        assert got.tobytes() == want.tobytes()  # the nightly's scores are sklearn's
        # the live step's one-row call: the same kernel; numpy's pow of a 1-element array
        # is not promised to take the same inner loop as a long one on every CPU
        one = np.array([score(*r) for r in batch.tolist()])
        np.testing.assert_allclose(one, got, rtol=FOREST_RTOL, atol=0)
