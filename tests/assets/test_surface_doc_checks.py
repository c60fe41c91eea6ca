"""docs/surface.md's checks table against the code location's own asset checks: each check
the Definitions load is a row on the asset the UI shows it on (its Checks tab), blocking or
not as declared, with what it says when failing, naming the measures the code names; a row
for a check the code lacks fails too. Read from `build_definitions` (what `dg dev` loads),
not from the modules' lists, so a check dropped, moved or added there shows here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from lotus_core.config import load_settings
from lotus_location.definitions import build_definitions

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Checks: where the UI shows them"
# where the failure sentences' measure names are written: the checks and their measures
SENTENCE_SOURCES = ("lotus_assets/checks.py", "lotus_assets/audits.py",
                    "lotus_core/report/health.py", "lotus_core/audits/result.py")


@dataclass(frozen=True)
class Declared:
    asset: str
    blocking: bool
    materializable: bool


def doc_rows(text: str) -> dict[str, dict[str, str]]:
    """The checks table of docs/surface.md: check -> its cells by column name."""
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    lines = [r for r in section.splitlines() if r.startswith("|")]
    split = [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in lines]
    head = split[0]
    return {cells[0].strip("`"): dict(zip(head, cells, strict=True))
            for cells in split[2:] if cells[0].startswith("`")}


@pytest.fixture(scope="module")
def declared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Declared]:
    home = tmp_path_factory.mktemp("home")
    defs = build_definitions(load_settings(overrides={"home": str(home)}, env={}))
    graph = defs.resolve_asset_graph()
    out = {}
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        assert key.name not in out, f"two checks named {key.name}"
        out[key.name] = Declared(key.asset_key.to_user_string(), bool(spec.blocking),
                                 graph.get(key.asset_key).is_materializable)
    return out


def problems(text: str, declared: dict[str, Declared]) -> list[str]:
    """Every way the doc's table and the declared checks disagree (empty: they agree)."""
    rows = doc_rows(text)
    out = [f"{n}: declared on `{d.asset}`, not in docs/surface.md"
           for n, d in sorted(declared.items()) if n not in rows]
    out += [f"{n}: in docs/surface.md, not declared" for n in sorted(set(rows) - set(declared))]
    sources = "\n".join((REPO / s).read_text() for s in SENTENCE_SOURCES)
    for name, d in sorted(declared.items()):
        row = rows.get(name)
        if row is None:
            continue
        shown = re.match(r"`([^`]+)`", row.get("asset (where the UI shows it)", ""))
        if shown is None or shown.group(1) != d.asset:
            out.append(f"{name}: docs/surface.md places it on "
                       f"{shown.group(1) if shown else '?'}, the code on `{d.asset}`")
        if not d.materializable:
            out.append(f"{name}: its asset `{d.asset}` is not one the UI materializes")
        blocking = row.get("blocking", "").strip("*").lower()
        if not blocking.startswith("yes" if d.blocking else "no"):
            out.append(f"{name}: docs/surface.md says blocking {row.get('blocking')!r}, the "
                       f"code {'blocks' if d.blocking else 'does not block'}")
        says = row.get("when failing, it says", "")
        if not says:
            out.append(f"{name}: docs/surface.md does not say what it says when failing")
        for measure in re.findall(r"`([a-z][a-z0-9]*_[a-z0-9_]*)(?:<[^>]+>)?[ `:]", says):
            if not re.search(rf"[\"']{re.escape(measure)}", sources):
                out.append(f"{name}: docs/surface.md quotes `{measure}`, which no check "
                           "names in its failure")
    return out


def test_surface_md_places_every_declared_check_on_its_asset(declared: dict[str, Declared]
                                                             ) -> None:
    text = (REPO / "docs" / "surface.md").read_text()
    assert problems(text, declared) == []
    assert len(doc_rows(text)) == len(declared) >= 12


def test_a_check_on_the_wrong_asset_or_missing_fails_the_comparison(
        declared: dict[str, Declared]) -> None:
    """The comparison itself: live_parity moved to `signal_events`, the hit-rate check's row
    gone, signal_drift said to block, a renamed measure: each one is a problem."""
    text = (REPO / "docs" / "surface.md").read_text()
    rows = [r for r in text.splitlines() if r.startswith("| `")]
    live = next(r for r in rows if r.startswith("| `live_parity`"))
    hit = next(r for r in rows if r.startswith("| `published_hit_rate_vs_expectation`"))
    drift = next(r for r in rows if r.startswith("| `signal_drift`"))
    bad = (text.replace(live, live.replace("| `signal_events_days` |", "| `signal_events` |"))
           .replace(hit + "\n", "")
           .replace(drift, drift.replace("| no (WARN) |", "| **yes** (ERROR) |")
                    .replace("`psi_det_sigma ", "`psi_sigma ")))
    got = problems(bad, declared)
    assert any(p.startswith("live_parity: docs/surface.md places it on signal_events")
               for p in got), got
    assert any(p.startswith("published_hit_rate_vs_expectation: declared on "
                            "`signal_eval_days`, not in") for p in got), got
    assert any(p.startswith("signal_drift: docs/surface.md says blocking") for p in got), got
    assert any("`psi_sigma`" in p for p in got), got
