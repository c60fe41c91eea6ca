"""`lotus validate`: the validity plan from the command line (two calibration seeds here;
docs/validity.md holds the full run), and `--final`, the sealed seeds' stamped tables."""

import json

from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.learning.validity_stamp import VALIDITY_CODE, code_hash, module_hashes


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
    assert bad.exit_code != 0 and "unknown section(s) nonsense" in bad.output
    assert "shared" in bad.output  # the sections there are, named


def test_final_runs_the_sealed_seeds_and_stamps_its_tables(tmp_path):
    """--final on one sealed seed (the calibration table at its realistic size): the seed
    is the evaluation cell's own, and the tables carry the commit, the judged code's hash
    (as it is now) and the settings' hash."""
    out = tmp_path / "final.md"
    got = CliRunner().invoke(cli, ["validate", "--final", "--seeds", "1", "--sections",
                                   "calibration", "--processes", "1", "--out", str(out)])
    assert got.exit_code == 0, got.output
    doc = json.loads(out.with_suffix(".json").read_text())
    st = doc["stamp"]
    seeds = load_seeds()
    assert st["seeds"] == {"calibration": [seeds.seeds("evaluation", "calibration", "main",
                                                        1)[0]] * 2 + [1]}
    assert st["seeds"]["calibration"][0] >= 100000  # not a tuning seed
    assert st["code_hash"] == code_hash(module_hashes(VALIDITY_CODE))
    assert len(st["commit"]) == 40 and len(st["settings_hash"]) == 16
    text = out.read_text()
    assert text.startswith("_Sealed evaluation seeds") and st["code_hash"] in text
    assert st["settings_hash"] in text and "### Interval calibration" in text
    assert doc["summary"]["calibration"]["dr"][1] == 1
    assert CliRunner().invoke(cli, ["validate", "--out", str(out)]).exit_code != 0
