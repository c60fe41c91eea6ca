"""economics_season: the season table of `bench economics` in the Dagster UI, from the rows the
bench keeps. Materialised through Dagster from a kept file (hand-made rows, the bench's own
file format), loaded by the code location in no job, and refusing a file it cannot read with
the reason."""

from __future__ import annotations

import json
import math

import dagster as dg
import pytest

from bench.closed_loop import Size
from bench.economics import kept_rows
from lotus_assets.season import CHECKOUT, SeasonConfig, economics_season
from lotus_core.config import load_settings
from lotus_core.report.season import RESULTS_NAME, compact, summarise
from lotus_location.definitions import build_definitions

SIZE = Size(days=3, hours=(0, 24), coins=("BTC", "ETH"))


def _row(seed, market, arm, night, net):
    fills = 4
    return {"seed": seed, "market": market, "arm": arm, "night": night, "day": f"d{night}",
            "net": net, "gross": net + 1.0, "fees": 1.0, "funding": 0.0, "traded": 2000.0,
            "fills": fills, "maker_fills": 1, "maker_share": 1 / fills,
            "start_equity": 100_000.0, "sig_priors_ver": night, "tr_priors_ver": night,
            "calibration_window": "-"}


def _markets(nets):
    """One market per (seed, market) whose nights each make `nets[market, arm]` + seed."""
    return [{"seed": s, "market": m, "cpu_s": 1.0, "wall_s": 1.0, "stamp": {},
             "rows": [_row(s, m, a, n, nets[m, a] + s) for a in ("on", "frozen")
                      for n in (1, 2, 3)]}
            for s in (0, 1, 2) for m in ("planted", "null")]


NETS = {("planted", "on"): 30.0, ("planted", "frozen"): 10.0,
        ("null", "on"): 0.0, ("null", "frozen"): 0.0}


def _materialise(path):
    return dg.materialize([economics_season], raise_on_error=False, run_config=dg.RunConfig(
        ops={"economics_season": SeasonConfig(path=str(path))}))


def test_the_season_table_is_the_benchs_own_from_its_kept_rows(tmp_path):
    path = tmp_path / "season.json"
    kept = kept_rows("evaluation", [0, 1, 2], SIZE, [0.0, 0.0], _markets(NETS))
    path.write_text(json.dumps(kept))
    result = _materialise(path)
    assert result.success
    meta = result.asset_materializations_for_node("economics_season")[0].metadata
    s = summarise(kept["rows"])
    assert meta["season"].value == compact(s)  # what BENCHMARKS.md shows, one definition
    assert "| **season** | planted | on | 3 |" in meta["by_night"].value
    assert meta["seeds"].value == 3 and meta["nights"].value == 3
    assert meta["seeds_partition"].value == "evaluation"
    # nights 1-3 each made 30 + seed on the planted market, learning on: 90 + 3 x seed
    assert math.isclose(meta["net_planted_on_usd"].value, 93.0)
    assert math.isclose(meta["net_null_frozen_usd"].value, 3.0)
    assert meta["targets_judged"].value == 5
    # planted net clear above 0 and on - frozen clear above 0 (60 every seed: no spread, the
    # interval is the point), null net >= the floor, null on - frozen covers 0; the null's
    # turnover equals the planted's, so that target fails
    assert meta["targets_met"].value == 4
    assert "| null turnover, last 3 nights" in meta["season"].value


@pytest.mark.parametrize("content, reason", [
    (None, "no season kept there"),
    ("not json", "not JSON"),
    ('{"rows": []}', "no rows"),
    ('{"seeds": [1]}', "no `rows` list"),
    ('{"rows": [{"seed": 1, "market": "planted", "arm": "on"}]}', "row 0 lacks"),
])
def test_a_file_it_cannot_read_fails_the_run_naming_why(tmp_path, content, reason):
    path = tmp_path / "season.json"
    if content is not None:
        path.write_text(content)
    result = _materialise(path)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert reason in str(failure.step_failure_data.user_failure_data.description)
    assert str(path) in str(failure.step_failure_data.user_failure_data.description)


def test_the_code_location_shows_it_in_no_job_reading_the_committed_run_by_default(tmp_path):
    defs = build_definitions(load_settings(overrides={"home": str(tmp_path)}, env={}))
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey("economics_season")
    assert graph.get(key).group_name == "benchmarks"
    assert graph.get(key).partitions_def is None
    daily = defs.resolve_job_def("lotus_daily")
    assert key not in daily.asset_layer.selected_asset_keys
    assert SeasonConfig().path == str(CHECKOUT / RESULTS_NAME)
