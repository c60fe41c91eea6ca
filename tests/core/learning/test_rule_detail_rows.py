"""A rule's detail is judged on its scope's windows alone (not each split's
whole-window columns and the propensities of 16 values of every window). Its definition is
the whole window's pseudo-outcome columns masked to the scope: `_reference` below computes
the detail that way, and `rule_detail` must give the same numbers for rules of one, two and
three literals, with and without a feature that has an "na" value. Seed 73000: the tuning
range of validity_seeds.yaml `harder`."""

import numpy as np
import pandas as pd
import pytest

from lotus_core.learning import pipeline
from lotus_core.learning.config import load_learning
from lotus_core.learning.estimator import fit_nuisances, literal_terms, pseudo_outcomes
from lotus_core.learning.evaluate import (
    MIN_DAY_SCOPE,
    _ess,
    _ratio_stability,
    hour_weights,
    rule_detail,
    widen,
)
from lotus_core.learning.lessons import detector_units
from lotus_core.learning.units import encode, rule_mask
from lotus_core.learning.validity_report import harder_spec
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import PLANTED, window_frame

CFG = load_learning()
# the same rows through the same model and the same additions: equal on one machine; a
# stated tolerance, not bit equality, since a subset's product may take another code path
# on another CPU
TOL = 1e-12


@pytest.fixture(scope="module")
def fitted():
    tw = pipeline.training_window(window_frame(harder_spec("book_absent", null=False), 76000),
                               CFG, load_scoring().context)
    m = (tw.frame["detector_id"] == PLANTED).to_numpy()
    units = detector_units(tw.frame[m], tw.lits[m], tw.quantizer)
    return units, fit_nuisances(units, CFG.estimator)


def _group(keys, mask, psi, sign):
    uniq, inv = np.unique(keys[mask], return_inverse=True)
    n = np.bincount(inv, minlength=len(uniq))
    s = np.bincount(inv, weights=psi[mask], minlength=len(uniq))
    ok = n >= MIN_DAY_SCOPE
    return sign * s[ok] / n[ok]


def _reference(units, nz, rule, hour_idx, weights, ci):
    """The detail of the whole window's columns masked to each split's scope (the
    definition: the detail as it was computed before it was judged on the scope alone)."""
    dr, ipw_all = pseudo_outcomes(units, nz), pseudo_outcomes(units, nz, kind="ipw")
    hit_all, e_all = pseudo_outcomes(units, nz, outcome="hit"), nz.prop.matrix()
    treat_ok = units.treatment_literal
    splits = []
    for lit in (x for x in rule if treat_ok[x] or not treat_ok[list(rule)].any()):
        mask = rule_mask(units, tuple(x for x in rule if x != lit)) & units.known(lit)
        psi = dr[:, lit]
        n_h = np.bincount(hour_idx[mask], minlength=weights.shape[1]).astype(np.float64)
        s_h = np.bincount(hour_idx[mask], weights=psi[mask], minlength=weights.shape[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            draws = (weights @ s_h) / (weights @ n_h)
        splits.append((lit, mask, psi, float(psi[mask].mean()) if mask.any() else 0.0, draws))
    taus = np.array([s[3] for s in splits])
    sign = 1 if taus.min() > 0 else (-1 if taus.max() < 0 else 0)
    lit, mask, psi, tau, _ = splits[int(np.argmin(taus)) if sign >= 0 else int(np.argmax(taus))]
    all_draws = np.vstack([s[4] for s in splits])
    draws = np.nanmin(all_draws, axis=0) if sign >= 0 else np.nanmax(all_draws, axis=0)
    draws = draws[np.isfinite(draws)]
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    ci_lo, ci_hi = (float(x) for x in np.quantile(draws, [lo_q, hi_q]))
    p05 = float(np.quantile((sign or 1) * draws, 0.05))
    boot_sd = float(np.std(draws, ddof=1))
    se_iid = float(psi[mask].std(ddof=1) / np.sqrt(mask.sum()))
    ci_lo, ci_hi, p05 = widen(tau, sign, ci_lo, ci_hi, p05, max(boot_sd, se_iid), hi_q)
    f = int(units.literal_feature[lit])
    treat = units.codes[:, f] == int(units.literal_value[lit])
    ov = []
    for x, m, *_ in splits:
        fx = int(units.literal_feature[x])
        e_raw = e_all[m, x]
        lo, hi = nz.clip
        e = np.clip(e_raw, lo, hi)
        a = units.codes[m, fx] == int(units.literal_value[x])
        ov.append((float(((e_raw < lo) | (e_raw > hi)).mean()),
                   min(_ess(1.0 / e[a]), _ess(1.0 / (1.0 - e[~a])))))
    gap = psi[mask] - ipw_all[mask, lit]
    g_h = np.bincount(hour_idx[mask], weights=gap, minlength=weights.shape[1])
    n_h = np.bincount(hour_idx[mask], minlength=weights.shape[1]).astype(np.float64)
    gap_draws = (weights @ g_h) / (weights @ n_h)
    gap_sd = float(np.std(gap_draws[np.isfinite(gap_draws)], ddof=1))
    daily = _group(units.day, mask, psi, sign or 1)
    f_regime = units.features.index("regime")
    names_regime = any(int(units.literal_feature[x]) == f_regime for x in rule)
    return {
        "uplift": tau if sign else 0.0, "sign": sign, "ci_lo": ci_lo, "ci_hi": ci_hi,
        "p05": p05, "boot_sd": boot_sd, "se_iid": se_iid,
        "uplift_ipw": float(ipw_all[mask, lit].mean()),
        "uplift_naive": float(units.y[mask & treat].mean() - units.y[mask & ~treat].mean()),
        "uplift_hit": float(hit_all[mask, lit].mean()),
        "support": int((mask & treat).sum()), "scope_n": int(mask.sum()),
        "stability": _ratio_stability(daily),
        "stability_regime": np.nan if names_regime else _ratio_stability(
            _group(units.codes[:, f_regime], mask, psi, sign or 1)),
        "days": len(daily), "primary": lit,
        "clipped_share": max(c for c, _ in ov), "ess": min(e for _, e in ov),
        "dr_ipw_z": abs(float(gap.mean())) / gap_sd, "primary_tau": tau}


RULES = [("bimb5_bin=with",), ("session=us",),  # bimb5_bin has an "na" value (no book)
         ("bimb5_bin=with", "session=us"), ("regime=trend", "spread_bin=normal"),
         ("bimb5_bin=with", "regime=trend", "spread_bin=normal")]


@pytest.mark.parametrize("rule", RULES, ids=["&".join(r) for r in RULES])
def test_the_detail_on_the_scope_alone_is_the_masked_whole_windows(fitted, rule):
    units, nz = fitted
    lits = tuple(sorted(units.literal_index(*x.split("=")) for x in rule))
    hour_idx, w = hour_weights(units, CFG.bootstrap.resamples, CFG.bootstrap.seed)
    got = rule_detail(units, nz, lits, hour_idx, w, CFG.bootstrap.ci)
    want = _reference(units, nz, lits, hour_idx, w, CFG.bootstrap.ci)
    assert want["scope_n"] >= 20 and want["support"] >= 5  # a rule with windows to judge
    for name, value in want.items():
        np.testing.assert_allclose(getattr(got, name), value, rtol=TOL, atol=TOL,
                                   err_msg=name)


def test_a_literals_terms_of_some_windows_are_its_whole_columns_there(fitted):
    units, nz = fitted
    lit = units.literal_index("bimb5_bin", "with")
    rows = np.sort(np.random.default_rng(1).choice(units.n, size=units.n // 3, replace=False))
    t = literal_terms(units, nz, lit, rows)
    for got, whole in ((t.dr, pseudo_outcomes(units, nz, np.array([lit]))[:, 0]),
                       (t.ipw, pseudo_outcomes(units, nz, np.array([lit]), kind="ipw")[:, 0]),
                       (t.hit, pseudo_outcomes(units, nz, np.array([lit]), outcome="hit")[:, 0]),
                       (t.e_raw, nz.prop.matrix()[:, lit])):
        np.testing.assert_allclose(got, whole[rows], rtol=0, atol=TOL)
    assert not np.allclose(t.dr, t.ipw)  # four different terms, not one four times


def test_categorical_literals_encode_as_their_strings_do():
    values = {"a": ("lo", "mid", "hi", "na"), "b": ("x", "y")}
    strings = pd.DataFrame({"a": ["hi", "lo", "na", "hi", "mid"], "b": ["y", "x", "x", "y", "y"]})
    # categories in another order than the values', and one no window holds
    cats = strings.assign(a=pd.Categorical(strings["a"], categories=["na", "hi", "lo", "mid"]),
                          b=pd.Categorical(strings["b"], categories=["y", "x", "zz"]))
    codes = encode(strings, ("a", "b"), values)
    np.testing.assert_array_equal(codes, [[2, 1], [0, 0], [3, 0], [2, 1], [1, 1]])
    np.testing.assert_array_equal(encode(cats, ("a", "b"), values), codes)


@pytest.mark.parametrize("bad, shown", [("zz", "'zz'"), (None, "nan")])
def test_an_unknown_categorical_value_is_named_as_a_strings_is(bad, shown):
    values = {"a": ("lo", "hi")}
    col = ["lo", bad, "hi"]
    for frame in (pd.DataFrame({"a": pd.Series(col, dtype=object).fillna(np.nan)}),
                  pd.DataFrame({"a": pd.Categorical(col, categories=["lo", "hi", "zz"])})):
        with pytest.raises(ValueError, match=f"feature a has value {shown}, not one of"):
            encode(frame, ("a",), values)


def test_an_empty_window_grouped_by_another_column_has_no_tasks():
    """The units' columns are taken of the frame before its rows: a night with no windows
    and a group column other than detector_id (the Trader's execution lessons on a day
    without fills) has no detector_id column to take, and no tasks."""
    from lotus_core.learning.lessons import Outcome, learning_tasks

    frame = pd.DataFrame({"strategy": pd.Series(dtype=str), "net_ret_bps": [], "hit": [],
                          "ts_ms": pd.Series(dtype="int64")})
    tw = pipeline.training_window(window_frame(harder_spec("hetero", null=False), 73000).head(50),
                               CFG, load_scoring().context)
    assert learning_tasks(frame, tw.lits.iloc[:0], tw.quantizer, CFG, pd.DataFrame(),
                          Outcome(group="strategy")) == []
