"""BENCHMARKS.md's "Learning validity": each measurement in one section, its sealed table with
the tuning figure as one column beside it, rendered by `python -m bench validity --render`
from the kept tables (bench/results/learning_validity.json) that `bench.validity` and
`bench.seasons` runs update. No benchmark is run here but a two-trial one."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from bench import validity
from bench.report import REPO
from lotus_core.learning.validity_report import markdown

DOC = REPO / "BENCHMARKS.md"
KEPT_SEASONS = REPO / "bench" / "results" / "seasons_sealed.jsonl.gz"


def _run(seeds: str, date: str, **more: object) -> dict[str, object]:
    run: dict[str, object] = {"seeds": seeds, "command": f"python -m bench validity ({seeds})",
                              "machine": "Test CPU, 2 cores", "date": date, **more}
    if seeds == "sealed":
        run.update(trials=10, commit="a" * 40, dirty=False, code_hash="c0de",
                   settings_hash="5e77", learning_hash="1ea4")
    return run


def _summary(dr: tuple[int, int], fp: tuple[int, int]) -> dict[str, object]:
    """A summary with calibration and false positives, as validity_report.summarise gives."""
    return {"calibration": {"dr": dr, "naive": (3, 10)},
            "calibration_bias": {"dr": 0.1, "naive": 0.8, "reg": 0.0},
            "false_positives": {"plain": (fp[0], fp[1], [])},
            "false_positives_total": fp}


def _doc(tmp_path: Path) -> Path:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\n## Learning validity\n\nIntro.\n\n"
                   "<!-- bench:validity_calibration -->\nold\n<!-- /bench:validity_calibration -->"
                   "\n\nThe calibration's reading.\n\n<!-- bench:validity_false_positives -->\n"
                   "<!-- /bench:validity_false_positives -->\n\nThe nulls' reading.\n")
    return doc


def test_the_tables_are_read_back_as_validity_report_writes_them():
    tables = validity.parse_tables(markdown(_summary((9, 10), (0, 50))))
    assert set(tables) == {"calibration", "false_positives"}
    cal = tables["calibration"]
    assert cal["columns"] == ["estimator", "covers the truth (95 % Clopper-Pearson)",
                              "mean bias (bps)"]
    assert [r[0] for r in cal["rows"]] == ["dr", "naive"]
    assert cal["rows"][0][1].startswith("9/10 = 90.0 % [")
    fp = tables["false_positives"]
    assert fp["rows"][-1][0] == "**all**" and fp["rows"][-1][2] == ""  # an empty cell stays
    # every section validity_report writes is one this module places
    assert {t for t, _, _ in validity.SECTIONS.values()} >= {"Interval calibration", "Power",
                                                              "Harder markets", "Watchdog"}


def test_a_section_is_the_sealed_table_with_the_tuning_figure_beside_it(tmp_path):
    store, doc = tmp_path / "kept.json", _doc(tmp_path)
    tuned = validity.parse_tables(markdown(_summary((8, 10), (1, 50))))
    validity.record_tables("tuning", tuned, _run("tuning", "2026-01-01"), store)
    validity.render(doc, store)
    text = doc.read_text()
    assert "Tuning seeds only (no sealed run yet)" in text  # before any sealed run
    sealed = validity.parse_tables(markdown(_summary((9, 10), (0, 50))))
    validity.record_tables("sealed", sealed, _run("sealed", "2026-01-02"), store)
    bodies = validity.render(doc, store)
    text = doc.read_text()
    cal = bodies["calibration"]
    assert cal.startswith("### Interval calibration\n")
    assert "Sealed seeds: `python -m bench validity (sealed)` (10 trials; commit aaaaaaa; code " \
           "hash c0de" in cal
    assert "Tuning column: `python -m bench validity (tuning)`" in cal
    header = next(line for line in cal.splitlines() if line.startswith("| estimator"))
    assert header.endswith("| mean bias (bps) | tuning seeds: covers the truth |")
    dr = next(line for line in cal.splitlines() if line.startswith("| dr |"))
    assert dr.index("9/10 = 90.0 %") < dr.index("8/10 = 80.0 %")  # sealed first, tuning last
    # the prose around the blocks stays; each block is in its place, once
    assert "The calibration's reading." in text and "The nulls' reading." in text
    assert text.index("### Interval calibration") < text.index("The calibration's reading.")
    assert text.count("### False positives") == 1 and "\nold\n" not in text
    # a later tuning run replaces the tuning column only
    validity.record_tables("tuning", validity.parse_tables(markdown(_summary((7, 10), (1, 50)))),
                           _run("tuning", "2026-01-03"), store)
    cal = validity.render(doc, store)["calibration"]
    assert "7/10 = 70.0 %" in cal and "9/10 = 90.0 %" in cal and "8/10 = 80.0 %" not in cal
    assert validity.render(doc, store) == validity.render(doc, store)  # rendering is idempotent


def test_across_nights_names_each_rows_run_when_a_column_has_several(tmp_path):
    store, doc = tmp_path / "kept.json", tmp_path / "B.md"
    doc.write_text("<!-- bench:validity_across_nights -->\n"
                   "<!-- /bench:validity_across_nights -->\n")
    small = {"seeds": "sealed", "command": "small", "machine": "M", "date": "2026-01-01"}
    large = {"seeds": "sealed", "command": "large", "machine": "M", "date": "2026-01-02"}
    validity.record_across_nights("sealed", [("activated", "activated", "1/2"),
                                             ("power_season", "power", "3/3")], small, store)
    validity.record_across_nights("sealed", [("activated", "activated", "50/100")], large, store)
    validity.record_across_nights("tuning", [("activated", "activated", "4/8")],
                                  {**small, "seeds": "tuning"}, store)
    body = validity.render(doc, store)["across_nights"]
    # the later run's row replaced the earlier one's; letters in the order of the rows
    assert "| activated | 50/100 (a) | 4/8 |" in body
    assert "| power | 3/3 (b) | - |" in body
    assert "Sealed seeds: (a) `large`" in body and "(b) `small`" in body
    assert "Tuning column: `small`" in body


def test_a_tuning_run_keeps_its_tables_and_renders_its_section(tmp_path, monkeypatch):
    """`python -m bench validity` end to end, on two seeds of one section."""
    store, doc = tmp_path / "kept.json", _doc(tmp_path)
    monkeypatch.setattr(validity, "STORE", store)
    monkeypatch.setattr(validity, "BENCHMARKS_MD", doc)
    validity.main(["--sections", "calibration", "--seeds", "2", "--processes", "1"])
    kept = json.loads(store.read_text())
    assert list(kept) == ["calibration"] and list(kept["calibration"]) == ["tuning"]
    run = kept["calibration"]["tuning"]["run"]
    assert run["command"] == "python -m bench validity --scale 1 --seeds 2 --sections calibration"
    assert run["trials"] == 2
    assert re.search(r"^\| dr \| [012]/2 = ", doc.read_text(), flags=re.M)
    assert "The calibration's reading." in doc.read_text()


# the committed document


def _family(text: str) -> str:
    start = text.index("\n## Learning validity\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_committed_sections_are_what_the_kept_tables_render(tmp_path):
    """BENCHMARKS.md's learning-validity sections and the kept tables cannot disagree."""
    copy = tmp_path / "BENCHMARKS.md"
    shutil.copy(DOC, copy)
    validity.render(copy)
    assert copy.read_text() == DOC.read_text(), "run `python -m bench validity --render`"


def test_one_section_a_measurement_each_at_most_a_screen():
    text = DOC.read_text()
    family = _family(text)
    titles = re.findall(r"^## .*", text, flags=re.M)
    assert titles.count("## Learning validity") == 1
    assert not [t for t in titles if "sealed" in t.lower() or "across nights" in t.lower()
                or "after selection" in t.lower()], "a measurement outside its family"
    sections = re.split(r"^(?=### )", family, flags=re.M)[1:]
    names = [s.splitlines()[0] for s in sections]
    assert len(names) == len(set(names)) == len(validity.SECTIONS) + 1, names
    for key in [*validity.SECTIONS, validity.ACROSS]:
        assert f"<!-- bench:validity_{key} -->" in family, key
    for s in sections:
        body = s.split("\n<!-- bench:")[0]  # up to the next section's block
        lines = body.rstrip().splitlines()
        assert len(lines) <= 40, f"{lines[0]}: {len(lines)} lines"
        assert "`python -m bench " in body, f"{lines[0]}: no command"
        assert "Sealed seeds: " in body, f"{lines[0]}: no sealed figure"
        assert "|---|" in body, f"{lines[0]}: no table"
        reading = body.split("<!-- /bench:validity_")[1].split("\n", 1)[1].strip()
        assert reading, f"{lines[0]}: no reading"


def test_the_sealed_nights_are_what_the_kept_rows_give():
    from bench.seasons import _read, rows_of, season_rule, summarise
    from lotus_core.learning.config import load_learning

    s = summarise(_read([KEPT_SEASONS]), season_rule(load_learning()))
    rows = rows_of(s, 8)
    assert [k for k, _, _ in rows] == [k for k in validity.ACROSS_KEYS
                                       if k not in ("power_season", "power_today",
                                                    "power_later")]
    kept = {r["key"]: r for r in validity.load_store()[validity.ACROSS]["sealed"]["rows"]}
    from_these = [k for k, r in kept.items()
                  if r["run"]["summary"].endswith(str(KEPT_SEASONS.relative_to(REPO)))]
    assert from_these == [k for k, _, _ in rows]
    for key, label, figure in rows:
        assert (kept[key]["label"], kept[key]["figure"]) == (label, figure), key
