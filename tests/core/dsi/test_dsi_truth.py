"""The grammar experts judged against planted truth (the `*.truth.json` occurrences).

Matching (lotus_core/dsi/evaluate.py, docs/dsi.md): an occurrence is recalled when its
coin has a flagged frame in [start_ms, end_ms + 5 s]; a flagged episode (a run of
consecutive flagged frames of one coin) is a true positive when it overlaps
[start_ms - 5 s, end_ms + 5 s] of an occurrence of the same pattern and coin. Each grammar
expert must reach precision and recall >= 0.8 on the committed fixtures (5 days x 3 coins
x 2 h) and on freshly generated data (another seed, a weekday from midnight, so the
trailing windows start cold), and read the planted direction.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from lotus_core.dsi import load_registry, match_flags, occurrences
from lotus_core.dsi.experts import ExpertOutput
from lotus_core.dsi.kinds import make_expert
from lotus_core.dsi.model import split_coins
from lotus_core.feed.parse import parse_recording
from lotus_core.feed.recordings import list_days, truth_path
from lotus_core.microtape import build_microtape
from lotus_core.synth import default_spec, generate_day

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
REGISTRY = load_registry()
GRAMMARS = {"wick_triplet": "wick_triplet", "depth_vacuum": "depth_vacuum",
            "sweep_then_stall": "sweep_then_stall"}  # expert id -> planted pattern type
TOL_MS = 5_000


def _day(feed_path: Path, truth_file: Path) -> tuple[pd.DataFrame, dict]:
    return build_microtape(parse_recording(feed_path)), json.loads(truth_file.read_text())


@pytest.fixture(scope="module")
def fixture_days():
    return [_day(FIXTURES / f"{d}.jsonl.gz", truth_path(FIXTURES, d))
            for d in list_days(FIXTURES)]


@pytest.fixture(scope="module")
def generated_days(tmp_path_factory):
    out = tmp_path_factory.mktemp("dsi_truth")
    feed, truth = generate_day(out, date(2026, 3, 4), ["BTC", "ETH", "SOL"], 424242,
                               default_spec(), hours=(0, 5))
    return [_day(feed, truth)]


def _score(days, expert_id):
    spec = next(e for e in REGISTRY.experts if e.id == expert_id)
    expert = make_expert(spec, REGISTRY.seed, REGISTRY.fusion.z_cap)
    total = None
    for frames, truth in days:
        out = ExpertOutput.concat([expert.run(c) for c in split_coins(frames, REGISTRY.label)])
        m = match_flags(frames, out.f, out.direction,
                        occurrences(truth, GRAMMARS[expert_id]), tol_ms=TOL_MS)
        total = m if total is None else total + m
    return total


def _check(m, where):
    assert m.occurrences >= 5, f"{where}: too few planted occurrences to judge ({m})"
    assert m.precision >= 0.8, f"{where}: precision {m.precision:.3f} ({m})"
    assert m.recall >= 0.8, f"{where}: recall {m.recall:.3f} ({m})"
    assert m.direction_agree >= 0.9 * m.recalled, f"{where}: wrong direction ({m})"


@pytest.mark.parametrize("expert_id", sorted(GRAMMARS))
def test_grammar_expert_finds_planted_patterns_in_the_fixtures(fixture_days, expert_id):
    _check(_score(fixture_days, expert_id), f"{expert_id} on fixtures")


@pytest.mark.parametrize("expert_id", sorted(GRAMMARS))
def test_grammar_expert_finds_planted_patterns_in_generated_data(generated_days, expert_id):
    _check(_score(generated_days, expert_id), f"{expert_id} on generated data")


def test_matching_rule_counts_episodes_and_occurrences():
    frames = pd.DataFrame({"coin": ["X"] * 10, "ts_ms": [1000 * i for i in range(10)]})
    occ = pd.DataFrame({"coin": ["X", "X"], "start_ms": [1000, 8000], "end_ms": [2000, 9000],
                        "direction": [1, -1]})
    flag = pd.Series([0, 0, 1, 1, 0, 0, 1, 0, 0, 0]).to_numpy()
    direction = flag.copy()
    m = match_flags(frames, flag, direction, occ, tol_ms=0)
    # episode [2, 3] overlaps occurrence 1; episode [6] is 2 s before occurrence 2: false
    assert (m.episodes, m.true_episodes, m.occurrences, m.recalled) == (2, 1, 2, 1)
    assert m.precision == 0.5 and m.recall == 0.5 and m.direction_agree == 1
    m = match_flags(frames, flag, direction, occ, tol_ms=2000)
    assert (m.true_episodes, m.recalled) == (2, 1)  # the tolerance widens only precision
