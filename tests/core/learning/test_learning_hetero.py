"""The heterogeneity search in continuous features (lotus_core/learning/hetero.py): a
two-feature interaction (funding above 0.75 AND the book leaning with the signal, aligned
imbalance above 0.1; each alone worth about a third of the effect, off the bins' edges) is
found as an active rule naming both inputs, judged on the half of the window its thresholds
never saw; the same market with nothing planted activates nothing over several seeds; a
night is the same with the same inputs; the rules it adds count in the night's family. One
detector, 5 days x 600 windows: a few seconds a night. The market and its rates over many
seeds: bench/hetero.py (`python -m bench hetero`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.hetero import BOOK, FUNDING, Night, config, market, night
from lotus_core.learning import hetero, pipeline
from lotus_core.learning.braids import micro_braids
from lotus_core.learning.estimator import fit_nuisances, pseudo_outcomes
from lotus_core.learning.lessons import (
    detector_units,
    family_counts,
    pooled_split,
    z_crits,
)
from lotus_core.learning.search import enumerate_rules, scope_sums, score_rules
from lotus_core.signals.config import load_scoring

BASE = load_scoring().context
DELTA = 12.0


@pytest.fixture(scope="module")
def planted() -> Night:
    return night(market(1, DELTA), config())


def test_interaction_with_weak_marginals_is_found_by_both_inputs(planted: Night) -> None:
    tw, lessons = planted
    act = lessons[(lessons["state"] == "active") & lessons["rule"].map(hetero.is_continuous)]
    named = [r for r in act["rule"]
             if {"funding_pctl_bin", "bimb5_bin"} <= hetero.continuous_sources(r)]
    assert named, lessons[["rule", "state", "z", "z_crit", "gates"]].to_string()
    row = act[act["rule"] == named[0]].iloc[0]
    assert row["sign"] > 0 and row["z"] >= row["z_crit"] and row["gates"] == ""
    lits = hetero.parse_rule(named[0])
    assert lits is not None and len(lits) <= 3
    # thresholds near the planted ones (chosen on the other half's windows)
    t = {lit.name: lit for lit in lits}
    assert t["funding_pctl"].op == "gt" and abs(t["funding_pctl"].t - FUNDING) < 0.12
    assert t["book_imb_5_aligned"].op == "gt" and abs(t["book_imb_5_aligned"].t - BOOK) < 0.2
    # the binned search alone: the marginals are zero, no single literal names either input
    singles = lessons[(lessons["state"] == "active") & (lessons["n_literals"] == 1)
                      & ~lessons["rule"].map(hetero.is_continuous)]
    assert not singles["rule"].str.contains("funding|bimb5").any()
    # a continuous lesson carries no patch (scoring bins with the vocabulary's literals)
    braids = micro_braids(lessons, tw.frame, tw.lits, config(), tw.quantizer)
    assert not braids["rule"].map(hetero.is_continuous).any() if len(braids) else True


def test_null_activates_nothing() -> None:
    for seed in (11, 12, 13):
        _, lessons = night(market(seed, 0.0), config())
        act = lessons[lessons["state"] == "active"]
        assert act.empty, act[["rule", "z", "z_crit"]].to_string()
        cont = lessons[lessons["rule"].map(hetero.is_continuous)]
        assert len(cont) > 0  # the search ran and proposed candidates


def test_deterministic(planted: Night) -> None:
    _, again = night(market(1, DELTA), config())
    pd.testing.assert_frame_equal(planted[1], again)


def test_family_counts_the_candidates(planted: Night) -> None:
    """The continuous rules raise the night's count m_k by the cap of every task, whether
    found or not: the bars the binned rules clear are those of the larger family."""
    cfg = config()
    tw, lessons = planted
    units = detector_units(tw.frame, tw.lits, tw.quantizer)
    nz = fit_nuisances(units, cfg.estimator)
    scores = score_rules(units, scope_sums(units, pseudo_outcomes(units, nz)),
                         enumerate_rules(units, 3), cfg.search)
    m = family_counts(scores)
    _, off = night(market(1, DELTA), config(enabled=False))
    cap = 2 * cfg.hetero.max_rules
    own, _ = pooled_split(cfg, False)
    want = z_crits(cfg, (m[0] + cap, m[1] + cap, m[2] + cap), own)
    got = lessons.groupby("n_literals")["z_crit"].first()
    for k in (1, 2, 3):
        assert got[k] == pytest.approx(want[k - 1])
        assert got[k] > off.groupby("n_literals")["z_crit"].first()[k]


def test_halves_and_keys() -> None:
    lits = (hetero.Literal("funding_pctl", "gt", 0.7123), hetero.Literal("book_imb_5_aligned",
                                                                           "le", -0.25))
    key = hetero.rule_key(lits)
    assert key == "book_imb_5_aligned=le-0.25&funding_pctl=gt0.7123"
    assert hetero.is_continuous(key) and not hetero.is_continuous("funding_pctl_bin=hi")
    assert hetero.parse_rule(key) == tuple(sorted(lits, key=lambda x: x.name))
    assert hetero.continuous_sources(key) == {"bimb5_bin", "funding_pctl_bin"}
    # an interval on one input is not a rule; two thresholds the same way keep the tighter
    assert hetero._merged((hetero.Literal("x", "gt", 0.2), hetero.Literal("x", "le", 0.5))) \
        is None
    assert hetero._merged((hetero.Literal("x", "gt", 0.2), hetero.Literal("x", "gt", 0.5))) \
        == (hetero.Literal("x", "gt", 0.5),)


def test_the_nightly_read_keeps_the_inputs_when_searched(tmp_path: Path) -> None:
    """The lake's window (`pipeline.window_from_days`) holds the moderators' inputs beside
    the literals when the search is on, the same values as the events', and nothing more
    when it is off (the window the binned search reads is unchanged)."""
    from tests.core.learning.test_joined_window import _lake
    from tests.kits.learning_kit import make_learning_frame

    frame = make_learning_frame(days=2, seed=5)
    events, evals, late = _lake(tmp_path, frame, np.random.default_rng(5))
    off = pipeline.window_from_days(events, evals, late, config(False), BASE)
    on = pipeline.window_from_days(events, evals, late, config(), BASE, off.quantizer)
    wanted = hetero.columns(off.quantizer.features)
    assert "funding_pctl" in wanted and "direction" in wanted
    assert not set(wanted) & set(off.frame.columns)
    pd.testing.assert_frame_equal(on.frame[list(off.frame.columns)], off.frame)
    pd.testing.assert_frame_equal(on.lits, off.lits)
    events = frame.set_index("window_id")
    for c in wanted:
        np.testing.assert_array_equal(on.frame[c].to_numpy(dtype=float),
                                      events.loc[on.frame["window_id"], c].to_numpy(dtype=float))
    mods = hetero.moderators(on.frame, on.quantizer.features)
    assert mods is not None and "book_imb_5_aligned" in mods.names
