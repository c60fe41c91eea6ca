"""`lotus validate`: the validity plan from the command line (two calibration seeds here;
docs/validity.md holds the full run)."""

import json

from click.testing import CliRunner

from lotus_cli.main import cli


def test_validate_runs_the_plan_and_prints_its_tables():
    runner = CliRunner()
    out = runner.invoke(cli, ["validate", "--sections", "calibration", "--scale", "0.01",
                              "--processes", "1"])
    assert out.exit_code == 0, out.output
    assert "### Interval calibration" in out.output and "| dr | " in out.output
    got = runner.invoke(cli, ["validate", "--sections", "calibration", "--scale", "0.01",
                              "--processes", "1", "--json"])
    summary = json.loads(got.output[got.output.index("{"):])
    assert summary["calibration"]["dr"][1] == 2
    bad = runner.invoke(cli, ["validate", "--sections", "nonsense"])
    assert bad.exit_code != 0 and "no trials" in bad.output
