"""The fast subset of bench/breeding.py: one seed of the `breeding` tuning cell through the
real generator, MicroTape and breeder on a short day. The leaky candidates never survive
(caught by the future-touch audit), and the evaluation day is judged without the breeder
reading it."""

from __future__ import annotations

from lotus_core.breeding import load_recipe
from lotus_core.breeding.proof import ProofConfig, run_arm
from lotus_core.learning.validity_seeds import load_seeds


def test_one_planted_seed_small(tmp_path) -> None:
    (seed,) = load_seeds().seeds("tuning", "breeding", "twins", 1)
    recipe = load_recipe().model_dump()  # a smaller night than the bench's
    recipe["per_night"].update({"fresh": 4, "compositions": 10, "within_vetted": 2})
    out = run_arm(seed, True, ProofConfig(train_hours=(8, 9), eval_hours=(8, 9), leaky=3),
                  recipe=load_recipe(recipe), work=tmp_path)
    assert out["candidates"] >= 15
    assert out["leaky_proposed"] == 3 and out["leaky_survived"] == 0
    # each caught by the future-touch audit, or too rare on a short day to be judged
    assert "future_touch" in out["leaky_reasons"]
    assert set(out["leaky_reasons"]) <= {"compile", "future_touch"}
    for s in out["survivor_eval"]:
        assert not s["leaky"] and s["eval_windows"] >= 0
