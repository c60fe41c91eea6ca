"""Pattern flag definitions on known paths (no image): each flag fires where it should."""

from __future__ import annotations

import numpy as np

from lotus_core.vis.embed import DIM, embed_path
from lotus_core.vis.patterns import flags_of, path_stats
from lotus_core.vis.synth import planted_bars


def test_planted_patterns_flagged_on_the_true_path() -> None:
    hits = {p: 0 for p in ("trend_up", "trend_down", "range", "breakout_up", "breakout_down")}
    for p in hits:
        for seed in range(40):
            b = planted_bars(p, seed)
            hits[p] += flags_of(b.close, b.level)[p]
    assert all(n >= 30 for n in hits.values()), hits


def test_random_walk_rarely_flags_a_trend_or_range() -> None:
    fired = 0
    for seed in range(60):
        f = flags_of(planted_bars("none", seed).close)
        fired += f["trend_up"] or f["trend_down"] or f["range"]
    assert fired <= 12


def test_structure_and_breakout_definitions() -> None:
    stairs = np.exp(np.linspace(0, 0.1, 64) + 0.002 * np.sin(np.arange(64)))
    f = flags_of(stairs)
    assert f["higher_highs"] and not f["lower_lows"] and f["trend_up"]
    assert flags_of(stairs[::-1])["lower_lows"]
    below_then_above = np.r_[np.full(48, 100.0) + np.sin(np.arange(48)), np.full(16, 104.0)]
    assert flags_of(below_then_above, level=102.0)["breakout_up"]
    assert not flags_of(below_then_above, level=105.0)["breakout_up"]
    assert not flags_of(below_then_above)["breakout_up"]  # no drawn level, no breakout


def test_embedding_ignores_price_level_and_scale() -> None:
    b = planted_bars("trend_up", 1)
    e1, e2 = embed_path(b.close), embed_path(b.close * 1000)
    assert e1.shape == (DIM,) and np.allclose(e1, e2)
    assert path_stats(np.full(10, 5.0)).t_drift == 0.0
    assert np.all(embed_path(np.full(10, 5.0))[:64] == 0)
