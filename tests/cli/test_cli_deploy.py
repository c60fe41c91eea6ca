"""`lotus deploy show|up`: what the selected profile runs on, and a refusal to bring the
distributed profile up on a fabric other machines cannot reach."""

import json

from click.testing import CliRunner

from lotus_cli.main import cli


def test_deploy_show_names_the_profile_executor_and_sensors(tmp_path, monkeypatch):
    monkeypatch.delenv("LOTUS_CONFIG", raising=False)
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOTUS_PROFILE", "production")
    out = CliRunner().invoke(cli, ["deploy", "show", "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["profile"].endswith("deploy/production") and body["executor"] == "celery"
    assert "daemon_relaunch_sensor" in body["sensors_on"]
    assert body["celery"]["broker"] == "pyamqp://guest:***@127.0.0.1:5672//"
    monkeypatch.setenv("LOTUS_PROFILE", "embedded")
    body = json.loads(CliRunner().invoke(cli, ["deploy", "show", "--json"]).output)
    assert body["executor"] == "in_process" and body["sensors_on"] == []


def test_deploy_up_refuses_the_distributed_profile_on_sqlite(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOTUS_PROFILE", "production")
    monkeypatch.delenv("LOTUS_FABRIC_URL", raising=False)
    out = CliRunner().invoke(cli, ["deploy", "up"])
    assert out.exit_code != 0
    assert "needs the fabric on PostgreSQL" in out.output and "LOTUS_FABRIC_URL" in out.output
