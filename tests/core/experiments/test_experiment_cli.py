"""`lotus experiment run|list` against a scored lake under LOTUS_HOME: the row it prints is
the row the table keeps; a bad alternative exits 1 naming it and records nothing."""

from __future__ import annotations

import json

from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.experiments import list_experiments


def _invoke(scored_lake, *args: str):  # noqa: ANN202
    home = scored_lake.lake.root.parent
    return CliRunner().invoke(cli, ["experiment", *args],
                              env={"LOTUS_HOME": str(home), "LOTUS_CONFIG": ""})


def test_run_prints_and_records_the_row_and_list_shows_it(scored_lake):
    day = scored_lake.day
    bad = _invoke(scored_lake, "run", "--day", day, "--knock-out", "nope")
    assert bad.exit_code == 1
    assert "knock_out: unknown expert 'nope'" in bad.output
    bad = _invoke(scored_lake, "run", "--day", day, "--gate", "tau_publish")
    assert bad.exit_code == 1 and "expected NAME=VALUE" in bad.output
    before = len(list_experiments(scored_lake.lake))

    res = _invoke(scored_lake, "run", "--day", day, "--gate", "tau_publish=0.75",
                  "--n-boot", "300", "--seed", "5", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["label"] == "gate:tau_publish=0.75" and out["null_reproduced"] is True
    assert out["metrics"]["seed"] == 5 and out["metrics"]["n_boot"] == 300
    assert out["removed"] > 0 and out["added"] == 0

    listed = _invoke(scored_lake, "list", "--day", day, "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert len(rows) == before + 1
    assert rows[-1]["experiment_id"] == out["experiment_id"]
    assert rows[-1]["delta_net_bps"] == out["delta_net_bps"]
    assert rows[-1]["alternative"] == {"changes": [
        {"kind": "gate", "name": "tau_publish", "value": 0.75}]}
    human = _invoke(scored_lake, "list")
    assert out["experiment_id"] in human.output
