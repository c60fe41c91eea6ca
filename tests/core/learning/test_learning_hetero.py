"""The heterogeneity search in continuous features (lotus_core/learning/hetero.py): a
two-feature interaction (funding above 0.75 AND the book leaning with the signal, aligned
imbalance above 0.1; each alone worth about a third of the effect, off the bins' edges) is
found as an active rule naming both inputs, judged on the half of the window its thresholds
never saw; the same market with nothing planted activates nothing over several seeds; a
night is the same with the same inputs; the rules it adds count in the night's family. One
detector, 5 days x 600 windows: a few seconds a night."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_core.learning import hetero, pipeline
from lotus_core.learning.braids import micro_braids
from lotus_core.learning.config import LearningConfig, load_learning
from lotus_core.learning.estimator import fit_nuisances, pseudo_outcomes
from lotus_core.learning.lessons import (
    detector_units,
    family_counts,
    pooled_split,
    z_crits,
)
from lotus_core.learning.search import enumerate_rules, scope_sums, score_rules
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import PLANTED, WindowSpec, window_frame

BASE = load_scoring().context
Night = tuple[pipeline.TrainingWindow, pd.DataFrame]
SPEC = WindowSpec(days=5, windows_per_day=600, detectors=(PLANTED,), effect="none",
                  regime_effect_bps=0.0,
                  delta_bps=0.0)
FUNDING, BOOK, DELTA = 0.75, 0.1, 12.0


def _cfg(enabled: bool = True) -> LearningConfig:
    cfg = load_learning()
    return cfg.model_copy(update={"hetero": cfg.hetero.model_copy(update={"enabled": enabled})})


def _market(seed: int, delta: float) -> pd.DataFrame:
    """SPEC's windows with delta added where both hold (a: funding > FUNDING, b: the book
    leaning with the signal, aligned book_imb_5 > BOOK): each alone is worth delta times
    the other's share (about a fifth), off the bins' edges."""
    frame = window_frame(SPEC, seed)
    book = frame["book_imb_5"].to_numpy() * np.sign(frame["direction"].to_numpy())
    a = (frame["funding_pctl"].to_numpy() > FUNDING).astype(float)
    b = (np.nan_to_num(book, nan=-1.0) > BOOK).astype(float)
    frame["net_ret_bps"] += delta * a * b
    return frame


def _night(frame: pd.DataFrame, cfg: LearningConfig) -> tuple[pipeline.TrainingWindow,
                                                              pd.DataFrame]:
    tw = pipeline.training_window(frame, cfg, BASE)
    lessons, _ = pipeline.lessons(tw, pd.DataFrame(), sorted(frame["date"].unique())[-1], cfg)
    return tw, lessons


@pytest.fixture(scope="module")
def planted() -> Night:
    return _night(_market(1, DELTA), _cfg())


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
    braids = micro_braids(lessons, tw.frame, tw.lits, _cfg(), tw.quantizer)
    assert not braids["rule"].map(hetero.is_continuous).any() if len(braids) else True


def test_null_activates_nothing() -> None:
    for seed in (11, 12, 13):
        _, lessons = _night(_market(seed, 0.0), _cfg())
        act = lessons[lessons["state"] == "active"]
        assert act.empty, act[["rule", "z", "z_crit"]].to_string()
        cont = lessons[lessons["rule"].map(hetero.is_continuous)]
        assert len(cont) > 0  # the search ran and proposed candidates


def test_deterministic(planted: Night) -> None:
    _, again = _night(_market(1, DELTA), _cfg())
    pd.testing.assert_frame_equal(planted[1], again)


def test_family_counts_the_candidates(planted: Night) -> None:
    """The continuous rules raise the night's count m_k by the cap of every task, whether
    found or not: the bars the binned rules clear are those of the larger family."""
    cfg = _cfg()
    tw, lessons = planted
    units = detector_units(tw.frame, tw.lits, tw.quantizer)
    nz = fit_nuisances(units, cfg.estimator)
    scores = score_rules(units, scope_sums(units, pseudo_outcomes(units, nz)),
                         enumerate_rules(units, 3), cfg.search)
    m = family_counts(scores)
    _, off = _night(_market(1, DELTA), _cfg(enabled=False))
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
    off = pipeline.window_from_days(events, evals, late, _cfg(False), BASE)
    on = pipeline.window_from_days(events, evals, late, _cfg(), BASE, off.quantizer)
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


def found_by_name(delta: float, seed: int) -> dict[str, object]:
    """One night of the planted market: the active lessons naming both inputs, continuous
    and binned (`bimb5_bin` with `funding_pctl_bin`), and any other active rule."""
    _, lessons = _night(_market(seed, delta), _cfg())
    act = lessons[lessons["state"] == "active"]
    pair = {"funding_pctl_bin", "bimb5_bin"}
    cont = [r for r in act["rule"] if hetero.is_continuous(r)
            and pair <= hetero.continuous_sources(r)]
    binned = [r for r in act["rule"] if not hetero.is_continuous(r)
              and all(f in r for f in pair)]
    return {"delta": delta, "seed": seed, "continuous": cont, "binned": binned,
            "other": [r for r in act["rule"] if r not in cont and r not in binned]}


if __name__ == "__main__":  # the table in docs/learning.md, "Heterogeneity in continuous ..."
    import argparse
    import json

    ap = argparse.ArgumentParser(description="found by name on the planted market")
    ap.add_argument("--deltas", default="12,8")
    ap.add_argument("--seeds", default="100-109")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.seeds.split("-"))
    for d in (float(x) for x in args.deltas.split(",")):
        rows = [found_by_name(d, s) for s in range(lo, hi + 1)]
        for r in rows:
            print(json.dumps(r))
        n = len(rows)
        print(f"delta {d:g}: continuous {sum(bool(r['continuous']) for r in rows)}/{n}, "
              f"binned {sum(bool(r['binned']) for r in rows)}/{n}, either "
              f"{sum(bool(r['continuous'] or r['binned']) for r in rows)}/{n}")
