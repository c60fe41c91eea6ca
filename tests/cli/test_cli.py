"""The `lotus` command: help everywhere, the main job through Dagster, fixtures round-trip."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.feed.manifest import write_manifest

DAY = "2025-01-26"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _commands(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


def test_every_command_has_help():
    runner = CliRunner()
    commands = _commands(cli)
    assert ("materialize",) in commands and ("fixtures", "generate") in commands
    for path in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_materialize_runs_the_chain_and_prints_a_summary(env):
    result = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(env), "--json"])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert [o["day"] for o in outcome] == [DAY] and outcome[0]["success"]
    assert outcome[0]["figures"]["frames"] == 54 and outcome[0]["figures"]["dead_letters"] == 0
    assert outcome[0]["figures"]["microtape_rows"] > 20
    table = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(env)])
    assert table.exit_code == 0 and "1/1 day(s) materialised" in table.stdout
    # not a terminal: a line per run (its partition, ok) and one per day, never silent
    runs = [line for line in table.stderr.splitlines() if line.startswith(f"{DAY}  ")]
    assert any(" daily " in r and r.split()[5] == "ok" for r in runs), table.stderr
    assert any(f"BTC|{DAY}" in r for r in runs), table.stderr
    assert f"{DAY}  day 1/1 ok in " in table.stderr


def test_missing_day_is_a_clear_error(env):
    result = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(env), "--from", DAY,
                                      "--to", "2025-01-27"])
    assert result.exit_code == 1
    assert "no recording" in result.output and "2025-01-27" in result.output


def test_tampered_day_is_refused_before_any_run(env):
    path = env / f"{DAY}.jsonl.gz"
    write_manifest(env, [path])
    path.write_bytes(path.read_bytes()[:-10])
    result = CliRunner().invoke(cli, ["materialize", "--feed-dir", str(env)])
    assert result.exit_code == 1
    assert str(path) in result.output and "does not match the manifest" in result.output


def test_dead_letters_and_config_commands(env):
    assert CliRunner().invoke(cli, ["materialize", "--feed-dir", str(env)]).exit_code == 0
    result = CliRunner().invoke(cli, ["dead-letters", "--date", DAY])
    assert result.exit_code == 0 and "0 dead letter(s) on 2025-01-26" in result.output
    config = json.loads(CliRunner().invoke(cli, ["config"]).stdout)
    assert config["fabric"].startswith("sqlite:///") and config["microtape"]["cadence_ms"] == 1000


def test_bad_config_value_names_the_key(env, tmp_path):
    (tmp_path / "lotus.yaml").write_text("microtape:\n  cadence_ms: -5\n")
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code == 1 and "microtape.cadence_ms" in result.output


def test_fixtures_generate_is_byte_reproducible_and_verifiable(tmp_path):
    runner = CliRunner()
    args = ["--days", "1", "--hours", "12-13", "--coins", "BTC,SOL", "--seed", "11",
            "--from", "2026-01-03"]
    for name in ("a", "b"):
        result = runner.invoke(cli, ["fixtures", "generate", "--out", str(tmp_path / name), *args])
        assert result.exit_code == 0, result.output
    manifest_a = json.loads((tmp_path / "a" / "manifest.json").read_text())
    manifest_b = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest_a == manifest_b and len(manifest_a["files"]) == 2
    result = runner.invoke(cli, ["fixtures", "verify", "--dir", str(tmp_path / "a"),
                                 "--regenerate"])
    assert result.exit_code == 0 and "byte for byte" in result.output
    truth = tmp_path / "a" / "2026-01-03.truth.json"
    truth.write_text(truth.read_text().replace("BTC", "ETH", 1))
    result = runner.invoke(cli, ["fixtures", "verify", "--dir", str(tmp_path / "a")])
    assert result.exit_code == 1 and str(truth) in result.output


def test_a_flow_market_set_records_its_model_and_regenerates_with_it(tmp_path):
    """`--model flow` writes lotus_core.flowmarket's files; the manifest names the model, so
    `verify --regenerate` rebuilds them with that generator, byte for byte (with synth's,
    the bytes would differ and the check would fail)."""
    runner = CliRunner()
    out = tmp_path / "flow"
    result = runner.invoke(cli, ["fixtures", "generate", "--model", "flow", "--out", str(out),
                                 "--days", "1", "--hours", "12-13", "--coins", "BTC",
                                 "--seed", "82000", "--from", "2026-03-01"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generator"]["model"] == "flow"
    truth = json.loads((out / "2026-03-01.truth.json").read_text())
    assert "funding_high_x_book_lean" in truth["definitions"]
    result = runner.invoke(cli, ["fixtures", "verify", "--dir", str(out), "--regenerate"])
    assert result.exit_code == 0 and "byte for byte" in result.output, result.output
    bad = runner.invoke(cli, ["fixtures", "generate", "--model", "hawkes", "--out",
                              str(tmp_path / "x")])
    assert bad.exit_code == 2 and "hawkes" in bad.output
