"""`lotus breed run|list|lineage` on a one-hour synthetic day under LOTUS_HOME: the table
`run` prints is the one `list` reads back; survivors' specs land in `bred_specs`."""

from __future__ import annotations

import json
from datetime import date

import yaml
from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.breeding import load_recipe
from lotus_core.store.lake import Lake
from lotus_core.synth.generator import generate_day
from lotus_core.synth.spec import SynthSpec

DAY = "2026-03-02"


def test_breed_run_list_and_lineage(tmp_path) -> None:
    feed = tmp_path / "feed"
    generate_day(feed, date(2026, 3, 2), ["BTC"], 61001,
                 SynthSpec(edges=("book_flow_absorption",)), hours=(8, 9))
    recipe = load_recipe().model_dump()
    recipe["per_night"] = {"fresh": 3, "mutations": 0, "recombinations": 0,
                           "compositions": 3, "within_vetted": 2, "leaky": 0}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    env = {"LOTUS_HOME": str(tmp_path / "home"), "LOTUS_CONFIG": ""}
    run = CliRunner().invoke(cli, ["breed", "run", "--day", DAY, "--feed-dir", str(feed),
                                   "--recipe", str(tmp_path / "recipe.yaml"), "--json"],
                             env=env)
    assert run.exit_code == 0, run.output
    rows = json.loads(run.stdout.strip().splitlines()[-1])
    # 3 fresh + 3 compositions + 2 within, and a gated twin of a quarter of the 6 AND ones
    assert len(rows) == 9 and all(r["detector_id"].startswith("bred_") for r in rows)
    assert sum(r["origin"] == "gated" for r in rows) == 1
    assert all(r["survived"] or r["reason"] for r in rows)
    listed = CliRunner().invoke(cli, ["breed", "list", "--day", DAY, "--json"], env=env)
    assert listed.exit_code == 0
    assert sorted(r["detector_id"] for r in json.loads(listed.stdout)) == sorted(
        r["detector_id"] for r in rows)
    lake = Lake(tmp_path / "home" / "lake")
    assert lake.days("bred_specs") == [DAY]
    assert len(lake.read("bred_specs", DAY)) == sum(r["survived"] for r in rows)
    lineage = CliRunner().invoke(cli, ["breed", "lineage", "--json"], env=env)
    edges = json.loads(lineage.stdout)
    vetted = [e for e in edges if e["origin"] == "composition"]
    assert len(vetted) == 2 and {e["parent_id"] for e in vetted} <= {
        "breakout_retest_v1", "breakout_retest_fast_v1"}
    missing = CliRunner().invoke(cli, ["breed", "list", "--day", "2026-03-09"], env=env)
    assert missing.exit_code == 1 and "no candidates for 2026-03-09" in missing.output
