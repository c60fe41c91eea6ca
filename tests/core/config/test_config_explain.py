"""`lotus config --explain`: every setting's value and the layer it came from."""

from __future__ import annotations

from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.config.settings import explain_settings


def test_each_value_names_the_highest_layer_that_set_it(tmp_path):
    config = tmp_path / "lotus.yaml"
    config.write_text("microtape:\n  cadence_ms: 500\ndsi:\n  history_days: 2\n")
    rows = {k: (v, src) for k, v, src in explain_settings(
        config, overrides={"dsi": {"history_days": 4}}, env={"LOTUS_HOME": str(tmp_path)})}
    assert rows["microtape.cadence_ms"] == (500, str(config))
    assert rows["dsi.history_days"] == (4, "flag")  # a flag over the file
    assert rows["home"] == (str(tmp_path), "environment LOTUS_HOME")
    assert rows["verify_manifest"] == (True, "default")
    assert len(rows) > 50  # every section's leaves, not a summary


def test_the_command_prints_a_line_per_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./lotus.yaml here
    monkeypatch.setenv("LOTUS_FEED_DIR", str(tmp_path / "feed"))
    out = CliRunner().invoke(cli, ["config", "--explain"])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if x.startswith("feed_dir "))
    assert line.split()[-2:] == ["environment", "LOTUS_FEED_DIR"]
