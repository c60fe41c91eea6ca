"""bench.lessons at a small size: the generator is deterministic, the engine ranks the planted
literal first, and econml's DRLearner agrees with our estimates within each other's 90 % CIs.
No timing assertions (timings never gate tests)."""

import numpy as np
import pytest

from bench import lessons as bench
from lotus_core.learning.config import load_learning

CFG = load_learning()


@pytest.fixture(scope="module")
def small():
    units = bench.generate(20_000, n_features=8, days=14, seed=5)
    return units, bench.run_engine(units, CFG)


def test_generator_is_deterministic_and_shaped():
    a = bench.generate(2_000, n_features=8, days=14, seed=5)
    b = bench.generate(2_000, n_features=8, days=14, seed=5)
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.y, b.y)
    assert a.features == tuple(f"f{j}" for j in range(8))
    assert all(3 <= len(v) <= 4 for v in a.values)
    assert (a.ts_ms.max() - a.ts_ms.min()) > 13 * 86_400_000
    assert np.all(np.diff(a.ts_ms) >= 0)
    assert bench.rule_count(bench.feature_sizes(15)) >= 10_000


def test_planted_literal_is_the_top_rule(small):
    units, run = small
    assert run.rules_searched == bench.rule_count(bench.feature_sizes(8))
    assert run.seconds["total"] > 0
    best = bench.pick_rules(units, run, n_top=1, n_other=0)[0]
    assert best == (units.literal_index("f0", "c"),)
    det = run.details[best]
    assert det.ci_lo <= bench.PLANTED_BPS <= det.ci_hi


def test_drlearner_agrees_on_three_rules(small):
    units, run = small
    picked = bench.pick_rules(units, run, n_top=2, n_other=1)  # 2 top rules + 1 seeded
    assert len(picked) == 3
    rows = bench.compare(units, run, picked, CFG, fraction=1.0, n_top=2)
    for r in rows:
        assert r["agree"], r
    speed = bench.speed_ratio(run, rows)
    assert speed["ratio_plain"] > 0


def test_the_packaged_shape_is_the_learning_vocabulary():
    from lotus_core.learning.config import MAX_FEATURES, MAX_LITERALS
    from lotus_core.signals.context import LITERALS

    sizes, names = bench.packaged_sizes()
    assert set(CFG.quantizer.features) <= set(names) and len(names) == MAX_FEATURES
    assert sizes == [len(LITERALS[f]) for f in names] and sizes == sorted(sizes, reverse=True)
    assert sum(len(LITERALS[f]) for f in CFG.quantizer.features) <= sum(sizes) <= MAX_LITERALS
    units = bench.generate(2_000, days=14, seed=5, sizes=sizes)
    assert [len(v) for v in units.values] == sizes
    # f2 of 4 values: the enumerated truth of f0 = a weighs each value of f2 a quarter
    assert bench.f0_other_truth(4) != bench.f0_other_truth(3) < 0


def test_the_drlearner_comparison_is_shown_by_literal_count():
    def row(rule: str, pick: str, scope: int, seconds: float, agree: bool = True) -> dict:
        return {"rule": rule, "pick": pick, "literals": rule.count("&") + 1, "scope_n": scope,
                "drl_s": seconds, "agree": agree, "overlap": True}

    rows = [row("f0=c", "top", 1000, 9.0), row("f0=d", "top", 1000, 11.0, agree=False),
            row("f0=c&f2=c", "top", 300, 2.0), row("f1=a&f9=a", "seeded", 200, 1.0)]
    lines = bench.by_literals(rows).splitlines()
    assert lines[2:] == ["| 1 | 2 (2 / 0) | 1,000 | 1 | 2 | 10.00 s |",
                         "| 2 | 2 (1 / 1) | 200-300 | 2 | 2 | 1.50 s |",
                         "| **all** | 4 (3 / 1) |  | **3** | 4 | 5.75 s |"]
