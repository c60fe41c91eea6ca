"""The lesson search's multiple-testing bar (docs/learning.md, "Multiple testing"): a weighted
Bonferroni over rule lengths. family_alpha is split across rules of 1, 2 and 3 literals
(`activation.length_alpha`), each share over both signs of that length's searchable rules, so
the night's family-wise error stays <= family_alpha while a single literal's bar no longer
grows with the far more numerous 3-literal rules."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from lotus_core.learning import pipeline
from lotus_core.learning.anytime import night_alpha
from lotus_core.learning.config import load_learning
from lotus_core.learning.lessons import POOLED, family_counts, lesson_id, pooled_split, z_crits
from lotus_core.learning.search import _split_rows, enumerate_rules, scope_sums, score_rules
from lotus_core.learning.units import UnitSet
from lotus_core.signals.config import load_scoring
from lotus_core.signals.spec import SpecError
from lotus_core.synth.windows import WindowSpec, window_frame

CFG = load_learning()


def _cfg(**activation) -> object:
    body = CFG.model_dump(mode="json")
    body["activation"].update(activation)
    return load_learning(body)


def test_each_length_gets_its_share_of_alpha_over_both_signs_of_its_rules():
    fam = (52, 1258, 18780)
    bars = z_crits(CFG, fam)
    a = night_alpha(CFG.activation)
    for share, m, z in zip(CFG.activation.length_alpha, fam, bars, strict=True):
        assert z == pytest.approx(norm.isf(a * share / (2 * m)))
    # the per-(rule, sign) tail probabilities sum to family_alpha at most: the union bound
    spent = sum(2 * m * norm.sf(z) for m, z in zip(fam, bars, strict=True))
    assert spent == pytest.approx(a * sum(CFG.activation.length_alpha)) and spent <= a + 1e-12
    # a single literal's bar is far below the old one-bar-for-all (every rule, both signs)
    plain = norm.isf(a / (2 * sum(fam)))
    assert bars[0] < plain - 1.0 and bars[1] < plain < bars[2]


def test_a_literal_bar_grows_with_the_literals_not_with_the_long_rules():
    one, two, three = z_crits(CFG, (34, 517, 4628))
    one_w, two_w, three_w = z_crits(CFG, (52, 1258, 18780))  # 10 -> 15 features
    assert one_w - one < 0.15 and three_w > three
    # more 3-literal rules alone move only the 3-literal bar
    assert z_crits(CFG, (52, 1258, 10 * 18780))[:2] == (one_w, two_w)


def test_an_empty_length_and_a_zero_share():
    assert np.isfinite(z_crits(CFG, (0, 0, 0))).all()  # m = 0 counts as 1: finite bars
    body = CFG.model_dump(mode="json")
    body["activation"]["length_alpha"] = [0.8, 0.2, 0.0]
    body["search"]["max_literals"] = 2  # no 3-literal rule is searched: it needs no share
    assert z_crits(load_learning(body), (10, 10, 0))[2] == float("inf")


@pytest.mark.parametrize("shares, match", [
    ([0.6, 0.3, 0.3], "sum to 1.2"),
    ([-0.1, 0.5, 0.5], r"\[0, 1\]"),
    ([1.0, 0.0, 0.0], "no error budget"),  # 2- and 3-literal rules searched, never activable
    ([0.5, 0.5], "length_alpha"),
])
def test_length_alpha_is_validated(shares, match):
    with pytest.raises(SpecError, match=match):
        _cfg(length_alpha=shares)


def _noise_family_error(cfg, seeds: int, n: int = 1500, sizes=(4, 3, 3, 4, 2),
                        shrink: float = 1.0) -> float:
    """Share of pure-noise searches in which some eligible rule clears its length's bar:
    psi ~ N(0, 1) for every literal (the pseudo-outcome of a null), the real scope sums and
    rule scores, z = |uplift| * sqrt(scope windows of the rule's primary split)."""
    hits = 0
    values = tuple(tuple("abcd"[:s]) for s in sizes)
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        codes = np.column_stack([rng.integers(0, s, n) for s in sizes]).astype(np.int16)
        units = UnitSet(tuple(f"f{j}" for j in range(len(sizes))), values, codes,
                        np.zeros(n), np.zeros(n), 1_767_225_600_000 + np.arange(n) * 60_000)
        psi = rng.standard_normal((n, units.n_literals))
        sums = scope_sums(units, psi)
        rules = enumerate_rules(units, 3)
        sc = score_rules(units, sums, rules, cfg.search)
        bars = np.array(z_crits(cfg, family_counts(sc))) * shrink
        rows = _split_rows(units, sums, rules)
        scope_n = sums.count[rows[np.arange(len(rules)), sc["primary"].to_numpy()]]
        z = np.abs(sc["uplift"].to_numpy()) * np.sqrt(scope_n)
        over = sc["eligible"].to_numpy() & (z >= bars[sc["n_literals"].to_numpy() - 1])
        hits += bool(over.any())
    return hits / seeds


def test_on_pure_noise_the_family_wise_error_stays_within_family_alpha():
    """family_alpha 0.2 (so 300 searches can see it): the share of noise searches that
    activate anything stays within 0.2 (binomial 99.9 % margin), while a bar that forgets
    the signs or the per-length division is exceeded - the test can fail."""
    cfg = _cfg(family_alpha=0.2, season_alpha=None)  # the per-night rule alone
    got = _noise_family_error(cfg, 300)
    assert got <= 0.2 + 3.1 * np.sqrt(0.2 * 0.8 / 300), got
    # the same search judged by each length's unadjusted two-sided 0.2 bar errs every time
    naive = norm.isf(0.1) / np.array(z_crits(cfg, (30, 300, 2000)))
    assert _noise_family_error(cfg, 40, shrink=float(naive.max())) > 0.9


def test_the_family_counts_only_rules_the_search_could_activate_and_gates_the_rest():
    frame = window_frame(WindowSpec(days=3, windows_per_day=216), 5)
    tw = pipeline.training_window(frame, CFG, load_scoring().context)
    day = sorted(frame["date"].unique())[-1]
    lessons, _ = pipeline.lessons(tw, pd.DataFrame(), day, CFG)
    # the pooled family (detector "*") has its own bars (test_learning_pooled.py)
    lessons = lessons[lessons["detector_id"] != POOLED]
    own_share, _ = pooled_split(CFG, True)
    by_len = lessons.groupby("n_literals")["z_crit"].unique()
    assert all(len(v) == 1 for v in by_len)  # one bar per length per night
    bars = {int(k): float(v[0]) for k, v in by_len.items()}
    assert bars[1] < bars.get(2, np.inf) and bars[1] < bars.get(3, np.inf)
    # the bars are those of the eligible family of every detector (rare cells and na excluded)
    sizes = [len(v) for v in tw.quantizer.values.values()]
    every = [sum(int(np.prod(c)) for c in combinations(sizes, k)) for k in (1, 2, 3)]
    dets = lessons["detector_id"].nunique()
    for k, z in bars.items():
        m = (night_alpha(CFG.activation) * own_share * CFG.activation.length_alpha[k - 1]
             / (2 * norm.sf(z)))
        assert 0 < m <= dets * every[k - 1] + 0.5
        if k == 3:  # most 3-literal cells of 3 days x 216 windows hold < min_support windows
            assert m < 0.5 * dets * every[2]
    # a live rule that is too rare tonight is outside the family: it may not activate
    planted = (tw.frame["detector_id"] == lessons["detector_id"].iloc[0]).to_numpy()
    lits = tw.lits[planted]
    rare = None
    for a, b, c in combinations([f for f in CFG.quantizer.features
                                 if "na" not in tw.quantizer.values[f]], 3):
        n = lits.groupby([a, b, c]).size()
        n = n[(n > 0) & (n < CFG.search.min_support)]
        if len(n):
            rare = "&".join(f"{k}={v}" for k, v in sorted(zip((a, b, c), n.index[0],
                                                              strict=True)))
            break
    assert rare is not None
    det = lessons["detector_id"].iloc[0]
    row = lessons.iloc[0].to_dict() | {"rule": rare, "state": "proposed",
                                       "lesson_id": lesson_id(det, rare, CFG.horizon_s)}
    again, _ = pipeline.lessons(tw, pd.concat([lessons, pd.DataFrame([row])]), day, CFG)
    got = again[again["lesson_id"] == row["lesson_id"]]
    assert got["gates"].iloc[0].startswith("outside_family"), got["gates"].iloc[0]
    assert got["state"].iloc[0] == "proposed"
