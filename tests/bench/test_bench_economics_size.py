"""bench.economics_size: the planted market moved to a size and nothing else, the season
table and which sizes pay on hand-made rows, the size needed, and the arguments refused.

The season itself is `bench.economics`' learning arm (`built_market`, `materialise`,
`day_row`), which tests/bench/test_bench_economics.py runs through the real pipeline."""

from __future__ import annotations

import math

import pytest

from bench import catalog, economics_size
from bench.economics_size import markdown, needed, planted_at, summarise, verdict
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.synth import default_spec


def test_the_planted_market_moves_only_its_effect_size():
    base, moved = default_spec(), planted_at(16.0)
    assert [e.delta_bps for e in moved.effects] == [16.0]
    assert moved.replace(effects=base.effects) == base  # nothing else changed
    assert planted_at(base.effects[0].delta_bps) == base


def test_its_seeds_are_a_cell_of_their_own():
    seeds = load_seeds()
    size = seeds.seeds("evaluation", "economics", "size", 4)
    twins = seeds.seeds("evaluation", "economics", "twins", 4)
    assert not set(size) & set(twins)
    assert catalog.get("economics_size") is not None


def _rows(nets_by_size: dict[float, list[float]], nights: int = 4) -> list[dict]:
    rows = []
    for delta, nets in nets_by_size.items():
        for i, net in enumerate(nets):
            for n in range(1, nights + 1):
                fills = 0 if net == 0 else 8
                rows.append({"seed": 10 + i, "delta_bps": delta, "night": n,
                             "net": net / nights, "gross": net / nights + 1.0, "fees": 1.0,
                             "funding": 0.0, "traded": 1e4, "fills": fills,
                             "maker_fills": fills // 2, "edge_max": delta / 2 + n,
                             "round_trip_med": 9.0 + n, "beats": 1.0 if fills else 0.0})
    return rows


def test_a_size_pays_where_its_season_net_interval_is_clear_of_zero():
    table = summarise(_rows({8.0: [0.0, 0.0, 0.0], 12.0: [-30.0, 10.0, 5.0],
                             16.0: [40.0, 55.0, 61.0], 24.0: [150.0, 180.0, 170.0]}))
    assert [r["delta_bps"] for r in table] == [8.0, 12.0, 16.0, 24.0]
    assert [r["pays"] for r in table] == [False, False, True, True]
    assert table[2]["net"][0] == pytest.approx((40 + 55 + 61) / 3)
    assert table[2]["fills"][0] == 32 and table[2]["maker_share"][0] == pytest.approx(0.5)
    assert math.isnan(table[0]["maker_share"][0])  # no fills: no maker share
    # what the DM believed: the season's largest edge, the median round trip, the tickets
    # whose edge beat it
    assert table[2]["edge_max"][0] == 16.0 / 2 + 4 and table[2]["round_trip_med"][0] == 12.0
    assert table[2]["beats"][0] == 4.0 and table[0]["beats"][0] == 0.0
    assert needed(table) == 16.0
    assert verdict(table) == "the planted season pays from 16 bps on (sizes 8, 12, 16, 24 " \
                             "bps measured)"
    text = markdown(table)
    assert "| 16 bps | 3 | +52.00 [" in text and text.count("| yes |") == 2
    assert [r["positive"] for r in table] == [0, 2, 3, 3]


def test_the_size_needed_is_where_every_larger_size_pays_too():
    # 12 pays by chance but 16 does not: the size needed is 24, not 12
    table = summarise(_rows({12.0: [50.0, 52.0, 51.0], 16.0: [-5.0, 20.0, 3.0],
                             24.0: [150.0, 180.0, 170.0]}))
    assert [r["pays"] for r in table] == [True, False, True]
    assert needed(table) == 24.0
    none = summarise(_rows({8.0: [-10.0, -12.0, -9.0]}))
    assert needed(none) is None and verdict(none) == (
        "no measured size's season net interval is clear of zero (sizes 8 bps; at 8 bps 0/3 "
        "seeds' seasons made money)")
    one = summarise(_rows({24.0: [100.0]}))
    assert one[0]["pays"] is None and needed(one) is None  # one seed: no interval


@pytest.mark.parametrize("argv, says", [
    (["--write"], "only with --final"),
    (["--sizes", "8,big"], "--sizes: comma-separated numbers"),
    (["--sizes", "0,8"], "--sizes: positive sizes"),
    (["--nights", "1"], "--nights: need >= 2"),
])
def test_bad_arguments_are_refused_by_name(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        economics_size.main(argv)
    assert e.value.code == 2 and says in capsys.readouterr().err


def test_kept_rows_render_again_and_tuning_rows_are_never_written(tmp_path, capsys):
    import json

    rows = _rows({8.0: [0.0, 0.0, 0.0], 64.0: [120.0, 150.0, 135.0]})
    kept = {"partition": "tuning", "seeds": [10, 11, 12], "sizes": [8.0, 64.0], "load": [0.0, 0.0],
            "size": {"nights": 4, "hours": [0, 6], "coins": ["BTC"]},
            "markets": [{"seed": 10, "delta_bps": 8.0, "cpu_s": 1.0, "wall_s": 1.0}],
            "rows": rows}
    path = tmp_path / "kept.json"
    path.write_text(json.dumps(kept))
    out = economics_size.main(["--from-json", str(path)])
    assert [r["pays"] for r in out["table"]] == [False, True]
    assert "| 64 bps | 3 | +135.00 [" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="tuning seeds"):
        economics_size.main(["--from-json", str(path), "--write"])
