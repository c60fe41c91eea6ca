"""bench.passive: one generated hour per market model through the Trader's engine in both
arms (the resting tickets rest post-only and never take; the market arm only takes), and
the summary, table and refusals on hand-made rows."""

from __future__ import annotations

import math

import pytest

from bench import passive
from lotus_core.learning.validity_seeds import load_seeds

SEED = load_seeds().seeds("tuning", "execution", "passive", 1)[0]


@pytest.mark.parametrize("model", passive.MODELS)
def test_an_hour_rests_in_one_arm_and_takes_in_the_other(tmp_path, model):
    row = passive.one(model, SEED, 1, ["BTC"], 600, str(tmp_path))
    rest, take = row["rest"], row["take"]
    assert rest["entries"] == take["entries"] > 0  # the same tickets in both arms
    # every resting ticket became a passive order of the record; none took
    assert rest["passive_orders"] == rest["entries"] and rest["taker_fills"] == 0
    assert 0 <= rest["fill_rate"] <= 1 and rest["maker_fills"] <= rest["passive_orders"]
    assert take["passive_orders"] == 0 and take["maker_fills"] == 0 and take["taker_fills"] > 0
    # a market entry pays at least the venue's taker fee (4.5 bps); a passive fill its maker
    # fee (1.5 bps) less the half spread it earns
    assert take["taker_cost_bps"] >= 4.5 - 1e-9
    if rest["maker_fills"]:
        assert rest["maker_cost_bps"] <= 1.5 + 1e-9
        assert math.isclose(rest["maker_cost_60s_bps"],
                            rest["maker_cost_bps"] + rest["adverse_60s_bps"])
    assert not list(tmp_path.iterdir())  # the generated day is removed


def _arm(orders, filled, adverse, maker_cost, taker_cost=math.nan, taker_fills=0):
    return {"entries": orders, "filled": filled, "passive_orders": orders,
            "passive_filled": float(filled), "fill_rate": filled / orders if orders else math.nan,
            "wait_s": 5.0, "adverse_5s_bps": adverse / 2, "adverse_60s_bps": adverse,
            "marked": filled, "maker_fills": filled, "maker_cost_bps": maker_cost,
            "maker_cost_60s_bps": maker_cost + adverse, "taker_fills": taker_fills,
            "taker_cost_bps": taker_cost, "priced_fill_prob": 0.5, "priced_adverse_bps": 1.0}


def _rows():
    return [{"model": m, "seed": s, "cpu_s": 1.0,
             "rest": _arm(10, f, a, 1.4), "take": _arm(0, 0, math.nan, math.nan, 4.6 + s, 10)}
            for m, pairs in (("synth", ((8, 1.0), (6, 3.0))), ("flow", ((10, 0.0), (10, 0.0))))
            for s, (f, a) in enumerate(pairs)]


def test_the_summary_pools_the_fill_rate_and_gives_each_figure_its_interval():
    table = passive.summarise(_rows())
    synth, flow = table
    assert (synth["model"], synth["seeds"], synth["orders"]) == ("synth", 2, 20)
    assert synth["fill_rate_pooled"] == pytest.approx(0.7)
    lo, hi = synth["fill_rate_wilson"]
    assert lo < 0.7 < hi
    assert synth["adverse_60s_bps"][0] == pytest.approx(2.0)
    assert synth["adverse_60s_bps"][1] < 2.0 < synth["adverse_60s_bps"][2]
    assert synth["taker_cost_bps"][0] == pytest.approx(5.1)
    assert flow["fill_rate_pooled"] == 1.0 and flow["fill_rate_wilson"][1] == 1.0
    text = passive.markdown(table)
    assert text.count("\n") == 3 and "| synth | 2 | 20 | 0.70 [" in text
    assert "synth: fill rate 0.70 (prior 0.30)" in passive.verdict(table)


@pytest.mark.parametrize("argv", [["--write"], ["--every-s", "60"], ["--hours", "0"],
                                  ["--coins", ","]])
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit):
        passive.main(argv)


def test_rows_kept_for_tuning_seeds_are_never_written_as_sealed(tmp_path):
    import json

    path = tmp_path / "kept.json"
    path.write_text(json.dumps({"partition": "tuning", "seeds": [1, 2], "hours": 1,
                                "coins": ["BTC"], "every_s": 600, "load": 0.0,
                                "rows": _rows()}))
    with pytest.raises(SystemExit, match="tuning seeds"):
        passive.main(["--from-json", str(path), "--write"])
