"""The benchmark runner (`python -m bench`): `--list` names every registered benchmark, each
registered module exists and can be run as `python -m bench.<module>`, and `report` renders
the summary table of BENCHMARKS.md from the headline records (no benchmark is run here)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import catalog, report
from bench.__main__ import command_of, listing
from bench.__main__ import main as runner

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"


def _has_main(path: Path) -> tuple[bool, bool]:
    """(a top-level `def main`, an `if __name__ == "__main__":` block) in the module's source:
    read, not imported (some benchmarks need optional packages: cvxportfolio, econml)."""
    tree = ast.parse(path.read_text())
    has_def = any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)
    has_guard = any(isinstance(n, ast.If) and isinstance(n.test, ast.Compare)
                    and isinstance(n.test.left, ast.Name) and n.test.left.id == "__name__"
                    for n in tree.body)
    return has_def, has_guard


def test_list_names_every_registered_benchmark_once():
    out = subprocess.run([sys.executable, "-m", "bench", "--list"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    first_words = [line.split()[0] for line in out.splitlines() if line.strip()]
    for b in catalog.BENCHMARKS:
        assert first_words.count(b.name) == 1, f"{b.name} listed {first_words.count(b.name)}x"
        line = next(x for x in out.splitlines() if x.split()[:1] == [b.name])
        assert b.against in line  # each line says what it is measured against
    assert out == listing() + "\n"


def test_every_registered_module_exists_and_has_a_main():
    names = [b.name for b in catalog.BENCHMARKS]
    assert len(names) == len(set(names)), "a benchmark registered twice"
    for name in [b.module_name for b in catalog.BENCHMARKS] + list(catalog.TOOLS):
        path = BENCH / f"{name}.py"
        assert path.is_file(), f"bench/{name}.py is registered but does not exist"
        has_def, has_guard = _has_main(path)
        assert has_def, f"bench/{name}.py has no main()"
        assert has_guard, f"bench/{name}.py cannot be run as python -m bench.{name}"
        assert name not in ("report", "quick"), f"{name} would shadow a runner command"
    for b in catalog.BENCHMARKS:
        assert b.against and b.goal and b.title, f"{b.name}: title, goal and peer are all needed"


def test_a_benchmark_runs_as_its_module_with_its_own_arguments_first():
    cmd = command_of("dm_allocator", ["--problems", "5"])
    assert cmd[1:] == ["-m", "bench.dm", "--allocator-vs-cvxportfolio", "--problems", "5"]
    assert command_of("microtape", ["--hours", "1"])[1:] == ["-m", "bench.microtape",
                                                              "--hours", "1"]
    with pytest.raises(KeyError):
        command_of("no_such_bench", [])
    assert runner(["no_such_bench"]) == 2


def _record(name: str, figure: str, date: str) -> dict[str, str]:
    entry = catalog.get(name)
    assert entry is not None
    return {"benchmark": name, "title": entry.title, "command": f"python -m bench {name}",
            "figure": figure, "spread": "one run", "goal": entry.goal,
            "against": entry.against, "machine": "Test CPU, 2 cores", "date": date}


def _doc(tmp_path: Path) -> Path:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nIntro.\n\n<!-- bench:summary -->\nold table\n"
                   "<!-- /bench:summary -->\n\n<!-- bench:microtape -->\n## MicroTape build\n"
                   "kept as it is\n<!-- /bench:microtape -->\n")
    return doc


def test_report_renders_the_latest_record_of_each_benchmark_in_catalog_order(tmp_path):
    results = tmp_path / "headline.jsonl"
    rows = [_record("signals", "9.99 s", "2026-01-01"),        # replaced by the later one
            _record("microtape", "30 % of the floor", "2026-01-02"),
            _record("signals", "3.07 s for the day", "2026-01-03")]
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    doc = _doc(tmp_path)
    assert runner(["report", "--results", str(results), "--doc", str(doc)]) == 0
    text = doc.read_text()
    block = text.split("<!-- bench:summary -->")[1].split("<!-- /bench:summary -->")[0]
    assert "old table" not in block
    lines = [x for x in block.splitlines() if x.startswith("| ")]
    assert lines[0].startswith("| benchmark | command | figure | spread | goal |")
    assert len(lines) == 3  # the header and one row per benchmark
    assert "MicroTape build" in lines[1] and "30 % of the floor" in lines[1]  # catalog order
    assert "3.07 s for the day" in lines[2] and "9.99 s" not in block
    assert "Test CPU, 2 cores, 2026-01-03" in lines[2]
    assert "`python -m bench signals`" in lines[2]
    assert "<!-- bench:microtape -->\n## MicroTape build\nkept as it is" in text  # untouched


def test_report_record_appends_a_headline_and_a_bad_record_is_refused(tmp_path):
    results = tmp_path / "headline.jsonl"
    results.write_text(json.dumps(_record("microtape", "30 %", "2026-01-02")) + "\n")
    doc = _doc(tmp_path)
    assert runner(["report", "--results", str(results), "--doc", str(doc), "--record",
                   "step_alone", "--figure", "every step within 10 %", "--spread",
                   "3 runs", "--command", "python -m bench step_alone H F D lessons"]) == 0
    block = doc.read_text().split("<!-- bench:summary -->")[1]
    assert "every step within 10 %" in block and "| 3 runs |" in block
    assert "`python -m bench step_alone H F D lessons`" in block
    # a figure that is not a registered benchmark's must say what it is
    with pytest.raises(SystemExit):
        runner(["report", "--results", str(results), "--doc", str(doc), "--record",
                "make_run", "--figure", "4 min", "--spread", "one run"])
    assert runner(["report", "--results", str(results), "--doc", str(doc), "--record",
                   "make_run", "--figure", "4 min", "--spread", "one run", "--title",
                   "`make run`", "--goal", "< 5 min", "--against", "the wall clock"]) == 0
    # a later record of it reuses what the first one said it is
    assert runner(["report", "--results", str(results), "--doc", str(doc), "--record",
                   "make_run", "--figure", "3 min", "--spread", "two runs"]) == 0
    rows = report.read_headlines(results)
    assert [r["benchmark"] for r in rows] == ["make_run", "microtape", "step_alone"]
    assert (rows[0]["figure"], rows[0]["title"], rows[0]["goal"]) == ("3 min", "`make run`",
                                                                      "< 5 min")
    results.write_text(json.dumps({"benchmark": "microtape", "figure": "x"}) + "\n")
    with pytest.raises(ValueError, match="missing"):
        report.read_headlines(results)


def test_a_cell_with_a_pipe_cannot_break_the_table():
    row = _record("bus", "p50 | p99", "2026-01-01")
    table = report.summary_table([row])
    assert table.splitlines()[2].count(" | ") == len(report.COLUMNS) - 1
    assert "p50 \\| p99" in table


def test_the_committed_summary_is_what_the_committed_records_render():
    """BENCHMARKS.md's summary and bench/results/headline.jsonl cannot disagree."""
    text = (REPO / "BENCHMARKS.md").read_text()
    block = text.split("<!-- bench:summary -->\n", 1)[1].split("\n<!-- /bench:summary -->")[0]
    assert block.startswith(report.summary_table(report.read_headlines(report.HEADLINES)))
    recorded = {r["benchmark"] for r in report.read_headlines(report.HEADLINES)}
    assert {b.name for b in catalog.BENCHMARKS} <= recorded, "a benchmark with no headline"
