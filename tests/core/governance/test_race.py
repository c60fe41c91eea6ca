"""The fast subset of bench/governance.py: one seed of the `governance` tuning cell
through the real generator, MicroTape, breeder and governor, on a short market (2 hours a
day, 3 nights). Both policies split the same proposals under the same budget, the night
stops within one pull of it, a race in cost units is byte-identical run to run, and a
capture is a survivor judged on the next day."""

from __future__ import annotations

import json

from lotus_core.breeding.recipe import load_recipe
from lotus_core.governance.race import RaceConfig, market, race
from lotus_core.learning.validity_seeds import load_seeds


def test_one_tuning_seed_races_both_policies(tmp_path) -> None:
    (seed,) = load_seeds().seeds("tuning", "governance", "planted", 1)
    cfg = RaceConfig(nights=3, hours=(6, 8), budget=10.0)
    days = market(seed, cfg, tmp_path)
    assert len(days) == 4 and all(len(f) > 0 and eps for f, eps in days)
    again = market(seed, cfg, tmp_path)  # the cache gives the same days back
    assert all(a[0].equals(b[0]) and a[1] == b[1] for a, b in zip(days, again, strict=True))
    recipe = load_recipe()
    out = {p: race(seed, p, cfg, days, recipe=recipe) for p in ("thompson", "uniform")}
    for r in out.values():
        assert 1 <= r["nights_to_find"] <= cfg.nights + 1
        assert r["found"] == (r["nights_to_find"] <= cfg.nights)
        for n in r["nights"]:
            arms = n["spend_by_arm"]
            assert n["spent"] >= cfg.budget or n["bought"] == n["proposed"]
            assert n["spent"] - max(arms.values()) < cfg.budget  # over by one pull at most
            assert not n["captured"] or n["survivors"] > 0
        assert [n["captured"] for n in r["nights"]][:-1] == [False] * (len(r["nights"]) - 1)
    # the same first night's proposal for both (the same seed, no parents yet)
    assert out["thompson"]["nights"][0]["proposed"] == out["uniform"]["nights"][0]["proposed"]
    again = race(seed, "thompson", cfg, days, recipe=recipe)
    assert json.dumps(again) == json.dumps(out["thompson"])
