"""DSI on two committed fixture days: fitted on the first, annotating the second.

Causal (rows at t unchanged when the MicroTape is cut at t), deterministic, the documented
fusion formula, the no-history fallback, and contracts that fail naming the column or key.
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
    DSI_SCHEMA,
    RegistryError,
    annotate,
    dsi_schema,
    expert_table,
    expert_timings,
    fit_dsi,
    load_registry,
    parse_registry,
)
from lotus_core.dsi.experts import ExpertOutput
from lotus_core.dsi.registry import default_registry_text
from lotus_core.dsi.reliability import Posterior, count, weight
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.microtape.schema import empty_frame
from lotus_core.schemas import ASSET_SCHEMAS

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
HIST_DAY, DAY = "2026-01-02", "2026-01-03"
REGISTRY = load_registry()
IDS = [e.id for e in REGISTRY.active]


@pytest.fixture(scope="module")
def tapes():
    hist = build_microtape(parse_recording(FIXTURES / f"{HIST_DAY}.jsonl.gz"))
    today = build_microtape(parse_recording(FIXTURES / f"{DAY}.jsonl.gz"))
    return hist.assign(date=HIST_DAY), today


@pytest.fixture(scope="module")
def fitted(tapes):
    hist, today = tapes
    model = fit_dsi(hist)
    return model, annotate(today, model)


def test_annotations_are_one_valid_row_per_frame(tapes, fitted):
    _, today = tapes
    model, result = fitted
    ann = result.annotations
    DSI_SCHEMA.validate(ann)
    assert ASSET_SCHEMAS["dsi_annotations"] is DSI_SCHEMA
    assert ASSET_SCHEMAS["dsi_experts"] is DSI_EXPERTS_SCHEMA
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
    again_model = fit_dsi(hist.copy())
    again = annotate(today.copy(), again_model)
    pd.testing.assert_frame_equal(again.annotations, result.annotations, check_exact=True)
    a = expert_table(DAY, today, model, result)
    b = expert_table(DAY, today, again_model, again)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_fallback_on_a_day_with_no_history(tapes):
    _, today = tapes
    for history in (None, pd.DataFrame()):
        model = fit_dsi(history)
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
    model = fit_dsi(None, reg)
    result = annotate(today, model)
    assert f"f_{data['experts'][0]['id']}" not in result.annotations.columns
    dsi_schema([e.id for e in reg.active]).validate(result.annotations)
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
    model = fit_dsi(None)
    with pytest.raises(ValueError, match="sorted"):
        annotate(today.iloc[::-1], model)
    with pytest.raises(ValueError, match="cadence_ms"):
        annotate(today.assign(ts_ms=today["ts_ms"] + np.arange(len(today)) % 2 * 500), model)


def test_two_history_days_give_the_classifier_an_out_of_sample_reliability(tapes):
    hist, _ = tapes
    two = pd.concat([hist.assign(date="2026-01-01"), hist], ignore_index=True)
    model = fit_dsi(two)
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
