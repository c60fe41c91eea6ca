"""`lotus priors show|diff|rollback` against a real fabric in a temporary LOTUS_HOME (SQLite)
and on PostgreSQL via LOTUS_FABRIC_URL."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.config import load_settings
from lotus_core.learning.priors_store import nightly_source, read_active_priors, write_patch_set
from lotus_core.signals.priors import Patch
from lotus_core.store.opsdb import OpsDb

SHOW_KEYS = ["before_version", "created_at", "extra", "note", "patches", "phi_max", "rejected",
             "source", "theta_min", "version"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOTUS_FABRIC_URL", raising=False)
    monkeypatch.delenv("LOTUS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def _seed(url: str) -> None:
    with OpsDb.open(url) as fabric:
        write_patch_set(fabric, [Patch("sweep_flow_v1", "*", "session=us", -0.05, 1.1)], 0.05,
                        1.0, {"edge/mx_edges/0": 0.4}, nightly_source("2026-01-02"), "2 braids")
        write_patch_set(fabric, [Patch("sweep_flow_v1", "*", "session=us", -0.08, 1.1),
                                 Patch("*", "ETH", "dir=long", 0.02, 1.0)], 0.06, 1.0,
                        {"edge/mx_edges/0": 0.4}, nightly_source("2026-01-03"), "")


def run(*args: str):
    return CliRunner().invoke(cli, ["priors", *args])


def test_show_on_an_empty_fabric_is_version_0(home):
    out = run("show")
    assert out.exit_code == 0, out.output
    assert "version 0: no patch set" in out.output
    body = json.loads(run("show", "--json").stdout)
    assert body["version"] == 0 and body["patches"] == [] and sorted(body) == SHOW_KEYS


def test_show_diff_and_rollback(home):
    _seed(load_settings().fabric)
    out = run("show")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("version 2  source active_priors:2026-01-03  created 20")
    assert "caps: theta_min 0.06  phi_max 1.0" in out.output and "2 patch(es):" in out.output
    row = next(line for line in lines if "sweep_flow_v1" in line).split()
    assert row == ["sweep_flow_v1", "*", "session=us", "-0.0800", "1.1000"]
    assert "edge/mx_edges/0=0.4" in out.output
    one = json.loads(run("show", "--version", "1", "--json").stdout)
    assert sorted(one) == SHOW_KEYS
    assert (one["version"], one["source"], one["note"], one["theta_min"]) == (
        1, "active_priors:2026-01-02", "2 braids", 0.05)
    assert one["patches"] == [{"detector_id": "sweep_flow_v1", "coin": "*",
                               "cond_key": "session=us", "theta_delta": -0.05, "phi_mult": 1.1}]
    d = json.loads(run("diff", "1", "2", "--json").stdout)
    assert d == {"from": 1, "to": 2,
                 "added": {"patch/*/ETH/dir=long/theta_delta": 0.02},
                 "removed": {},
                 "changed": {"cap/theta_min": {"before": 0.05, "after": 0.06},
                             "patch/sweep_flow_v1/*/session=us/theta_delta":
                                 {"before": -0.05, "after": -0.08}}}
    text = run("diff", "1", "2").output
    assert "+ patch/*/ETH/dir=long/theta_delta" in text and "1 added, 0 removed, 2 changed" in text
    assert "hold the same rows" in run("diff", "2", "2").output
    back = run("rollback", "--to", "1", "--note", "lost its lift", "--json")
    assert back.exit_code == 0, back.output
    body = json.loads(back.stdout)
    assert (body["version"], body["source"], body["before_version"], body["created"]) == (
        3, "rollback:v1", 2, True)
    assert body["note"] == "lost its lift" and body["extra"] == {"edge/mx_edges/0": 0.4}
    with OpsDb.open(load_settings().fabric) as fabric:
        assert read_active_priors(fabric).version == 3
    again = run("rollback", "--to", "1")
    assert again.exit_code == 0 and "already holds version 1's rows; nothing written" in (
        again.output)
    assert "rolled back to version 0: wrote version 4" in run("rollback", "--to", "0").output


def test_unknown_versions_fail_clearly(home):
    _seed(load_settings().fabric)
    for args in (("show", "--version", "9"), ("diff", "1", "9"), ("rollback", "--to", "9")):
        out = run(*args)
        assert out.exit_code == 1, (args, out.output)
        assert "Error: no priors version 9; versions: 1..2" in out.output
    out = run("show", "--version", "-1")
    assert out.exit_code == 2 and "-1 is not in the range x>=0" in out.output
    assert run("rollback").exit_code == 2  # --to is required


@pytest.mark.postgres
def test_the_commands_work_on_postgres(home, monkeypatch, fabric_pg_dsn):
    monkeypatch.setenv("LOTUS_FABRIC_URL", fabric_pg_dsn)
    _seed(fabric_pg_dsn)
    body = json.loads(run("show", "--json").stdout)
    assert body["version"] == 2 and len(body["patches"]) == 2
    assert json.loads(run("rollback", "--to", "1", "--json").stdout)["version"] == 3
    d = json.loads(run("diff", "2", "3", "--json").stdout)
    assert d["removed"] == {"patch/*/ETH/dir=long/theta_delta": 0.02}
    assert not (home / "fabric.sqlite").exists()  # it used PostgreSQL, not the home's SQLite
    out = run("show", "--version", "7")
    assert out.exit_code == 1 and "no priors version 7" in out.output


def test_module_tr_shows_diffs_and_rolls_back_the_traders_priors(home):
    from lotus_core.learning.priors_store import write_rows

    rows = {"cap/max_patches": 12.0, "edge/spread_bps/0": 2.3, "edge/spread_bps/1": 4.2,
            "patch/*/spread=wide/order": 1.0}
    with OpsDb.open(load_settings().fabric) as fabric:
        write_rows(fabric, rows, nightly_source("2026-01-02"), module="tr")
    body = json.loads(run("show", "--module", "tr", "--json").stdout)
    assert body["version"] == 1 and body["rows"] == rows and body["module"] == "tr"
    assert json.loads(run("show", "--json").stdout)["version"] == 0  # sig is separate
    out = run("rollback", "--module", "tr", "--to", "0", "--json")
    assert out.exit_code == 0, out.output
    back = json.loads(out.stdout)
    assert back["version"] == 2 and back["created"] and back["rows"] == {"cap/max_patches": 12.0}
    d = json.loads(run("diff", "--module", "tr", "1", "2", "--json").stdout)
    assert "patch/*/spread=wide/order" in d["removed"]
    assert "tr version 2  source rollback:v0" in run("show", "--module", "tr").output


def test_module_vis_rolls_back_the_chart_weights_a_recorded_chart_gets(home):
    from lotus_core.learning.priors_store import write_rows
    from lotus_core.vis.lessons import load_vis_learning
    from lotus_core.vis.priors import newest_vis_priors

    rows = {"cap/max_patches": 8.0, "cap/weight_max": 1.5, "cap/weight_min": 0.5,
            "edge/conf/0": 0.74, "edge/conf/1": 0.87, "patch/*/pattern=breakout/weight": 1.3}
    cfg = load_vis_learning()[0]
    with OpsDb.open(load_settings().fabric) as fabric:
        write_rows(fabric, rows, nightly_source("2026-01-02"), module="vis")
        assert newest_vis_priors(fabric, cfg).entries == (((("pattern", "breakout"),), 1.3),)
    body = json.loads(run("show", "--module", "vis", "--json").stdout)
    assert body["version"] == 1 and body["rows"] == rows and body["module"] == "vis"
    out = run("rollback", "--module", "vis", "--to", "0", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["version"] == 2
    with OpsDb.open(load_settings().fabric) as fabric:
        held = newest_vis_priors(fabric, cfg)
    assert held.version == 2 and held.entries == ()
    assert "vis version 2  source rollback:v0" in run("show", "--module", "vis").output
