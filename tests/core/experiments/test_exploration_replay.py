"""A day scored with the breeder's survivors (settings `scoring.exploration`) replays
faithfully only when the experiment scores the same exploration set beside the engine's
detectors: the null replay with it gives back the stored day; without it, it does not."""

from __future__ import annotations

import json

from lotus_core.breeding.grammar import STATUS_EXPLORATION
from lotus_core.breeding.scoring import exploration_set
from lotus_core.breeding.store import write_specs
from lotus_core.curators.config import load_curators
from lotus_core.dsi import load_registry
from lotus_core.experiments import Alternative, code_commit, run_experiment
from lotus_core.schemas import asset_schemas
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import score_day
from lotus_core.signals.priors import NO_PRIORS
from tests.core.breeding.tape import LIVE_SPECS
from tests.core.experiments.lake_kit import DAY1, scored_lake_at
from tests.kits.signals_kit import fixture_sha256


def test_a_day_scored_with_survivors_reproduces_only_with_its_exploration_set(tmp_path) -> None:
    s = scored_lake_at(tmp_path / "lake")
    bred = LIVE_SPECS[1]  # a one-term flow recipe: it fires on the fixture tape
    write_specs(s.lake, DAY1, [{"detector_id": bred.detector_id, "status": STATUS_EXPLORATION,
                                "recipe_hash": bred.recipe_hash, "spec": bred.model_dump()}])
    extra = exploration_set(s.lake, s.day)  # the set score_signals takes for the day
    assert [b.detector_id for b in extra.bred] == [bred.detector_id]
    scored = score_day(s.lake.read("microtape_frames", s.day), s.day,
                       fingerprint=fixture_sha256(s.day),
                       history=s.lake.read("detector_windows", DAY1).assign(date=DAY1),
                       dsi=s.lake.read("dsi_annotations", s.day), extra=extra,
                       scoring=load_scoring(), council=load_curators())
    assert (scored.events["detector_id"] == bred.detector_id).any()
    s.lake.write("signal_events", s.day, scored.events,
                 validate=asset_schemas(load_registry()).get("signal_events"))

    def run(**kw):  # noqa: ANN003, ANN202
        return run_experiment(s.lake, s.day, Alternative(), s.base, priors=NO_PRIORS,
                              history_days=7, dsi_history_days=3, commit=code_commit(),
                              n_boot=200, save=False, **kw)

    with_set = run(extra=extra)
    assert with_set.row["null_reproduced"] is True, json.loads(
        with_set.row["metrics"])["null_reason"]
    without = run()
    assert without.row["null_reproduced"] is False
    assert "windows differ" in json.loads(without.row["metrics"])["null_reason"]
