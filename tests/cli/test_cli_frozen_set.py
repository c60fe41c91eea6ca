"""`lotus fixtures ensure`: a frozen set is generated from its manifest on first use, kept
when it matches, and a tampered file is refused by name before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.feed.manifest import write_manifest
from lotus_core.synth import null_spec

GEN = {"start": "2026-04-01", "days": 1, "coins": ["SOL"], "seed": 5, "hours": [3, 4],
       "spec": null_spec().to_dict(), "spec_name": "null"}


def _manifest(tmp: Path) -> Path:
    """A committed-style manifest: generate once elsewhere, keep only the manifest."""
    from datetime import date

    from lotus_core.synth import generate_days

    built = tmp / "built"
    paths = generate_days(built, date(2026, 4, 1), 1, ["SOL"], 5, null_spec(), hours=(3, 4))
    write_manifest(built, paths, generator=GEN)
    committed = tmp / "committed"
    committed.mkdir()
    (committed / "manifest.json").write_text((built / "manifest.json").read_text())
    return committed / "manifest.json"


def test_ensure_generates_verifies_and_refuses_a_tampered_file(tmp_path):
    manifest = _manifest(tmp_path)
    out = tmp_path / "feed"
    runner = CliRunner()
    first = runner.invoke(cli, ["fixtures", "ensure", "--manifest", str(manifest),
                                "--out", str(out)])
    assert first.exit_code == 0, first.output
    files = json.loads(manifest.read_text())["files"]
    assert sorted(p.name for p in out.iterdir() if p.name != "manifest.json") == sorted(files)
    again = runner.invoke(cli, ["fixtures", "ensure", "--manifest", str(manifest),
                                "--out", str(out)])
    assert again.exit_code == 0 and "match" in again.output
    recording = out / "2026-04-01.jsonl.gz"
    recording.write_bytes(recording.read_bytes()[:-7] + b"tamper!")
    bad = runner.invoke(cli, ["fixtures", "ensure", "--manifest", str(manifest),
                              "--out", str(out)])
    assert bad.exit_code != 0
    assert str(recording) in bad.output and files[recording.name] in bad.output
    run = runner.invoke(cli, ["materialize", "--feed-dir", str(out), "--home",
                              str(tmp_path / "home")])
    assert run.exit_code != 0 and recording.name in run.output  # refused before any run
