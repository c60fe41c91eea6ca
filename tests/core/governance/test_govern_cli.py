"""`lotus govern run|show` on a one-hour synthetic day under LOTUS_HOME: the pulls `run`
prints (deterministic cost units) are the ones `show` reads back, within the budget; the
state lists every arm pulled; a lake without a scored day offers no replay or re-fit."""

from __future__ import annotations

import json
from datetime import date

import yaml
from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.breeding import load_recipe
from lotus_core.synth.generator import generate_day
from lotus_core.synth.spec import SynthSpec

DAY = "2026-03-02"


def test_govern_run_and_show(tmp_path) -> None:
    feed = tmp_path / "feed"
    generate_day(feed, date(2026, 3, 2), ["BTC"], 66001,
                 SynthSpec(edges=("book_flow_absorption",)), hours=(8, 9))
    recipe = load_recipe().model_dump()
    recipe["per_night"] = {"fresh": 4, "mutations": 0, "recombinations": 0,
                           "compositions": 8, "within_vetted": 2, "leaky": 0}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    env = {"LOTUS_HOME": str(tmp_path / "home"), "LOTUS_CONFIG": ""}
    args = ["govern", "run", "--day", DAY, "--feed-dir", str(feed), "--recipe",
            str(tmp_path / "recipe.yaml"), "--mode", "units", "--budget", "2", "--quota", "1"]
    run = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert run.exit_code == 0, run.output
    pulls = json.loads(run.stdout.strip().splitlines()[-1])
    assert pulls and pulls[0]["quota"] and not any(p["quota"] for p in pulls[1:])
    spent = [p["spent"] for p in pulls]
    assert spent[-2] < 2.0 <= spent[-1] if len(spent) > 1 else spent[-1] >= 2.0
    shown = CliRunner().invoke(cli, ["govern", "show", "--day", DAY, "--json"], env=env)
    assert shown.exit_code == 0
    assert [p["item"] for p in json.loads(shown.stdout)] == [p["item"] for p in pulls]
    state = CliRunner().invoke(cli, ["govern", "show", "--day", DAY, "--state", "--json"],
                               env=env)
    assert {s["arm"] for s in json.loads(state.stdout)} == {p["arm"] for p in pulls}
    text = CliRunner().invoke(cli, ["govern", "show", "--day", DAY], env=env)
    assert text.exit_code == 0 and "reward_per_cost" in text.output
    # the same night again (units mode): the same pulls, byte for byte
    again = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert again.stdout.strip().splitlines()[-1] == run.stdout.strip().splitlines()[-1]
    # no scored day under LOTUS_HOME: no replay or re-fit is offered, and none is an error
    told = CliRunner().invoke(cli, [*args, "--replays", "2", "--refits", "2"], env=env)
    assert told.exit_code == 0, told.output
    assert "0 replay(s), 0 re-fit(s)" in told.output.strip().splitlines()[-1]
    missing = CliRunner().invoke(cli, ["govern", "show", "--day", "2020-01-01"], env=env)
    assert missing.exit_code != 0 and "no governance night" in missing.output
