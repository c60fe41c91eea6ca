"""Survivors enter scoring as `exploration` (settings scoring.exploration): score_day adds
their windows beside the engine's, scored and curated like the rest, and leaves the
engine's own windows as they were."""

from __future__ import annotations

import numpy as np
import pytest

from lotus_core.breeding import BredSpec, Term
from lotus_core.breeding.scoring import ExplorationSet, carrier
from lotus_core.config import ConfigError, load_settings
from lotus_core.curators.config import load_curators
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import score_day
from tests.kits.signals_kit import constant_dsi, fixture_days, fixture_tape

SPEC = BredSpec(terms=[Term(input="book_imb_5", transform="ewm", window_s=10, threshold=0.3),
                       Term(input="flow", transform="ewm", window_s=10, threshold=0.2)],
                horizon_s=60, cooldown_s=30)


def test_exploration_specs_are_scored_beside_the_engines() -> None:
    day = fixture_days()[0]
    frames = fixture_tape(day)
    frames = frames[frames["coin"] == frames["coin"].iloc[0]].head(2400).reset_index(drop=True)
    dsi = constant_dsi(frames)
    base = score_day(frames, day, fingerprint=None, dsi=dsi,
                     scoring=load_scoring(), council=load_curators()).events
    both = score_day(frames, day, fingerprint=None, dsi=dsi,
                     extra=ExplorationSet((SPEC,)),
                     scoring=load_scoring(), council=load_curators()).events
    bred = both[both["detector_id"] == SPEC.detector_id]
    assert len(bred) > 0
    assert (bred["recipe_hash"] == carrier(SPEC).recipe_hash).all()
    assert np.isfinite(bred["det_sigma"].to_numpy()).all()
    engine = both[both["detector_id"] != SPEC.detector_id].reset_index(drop=True)
    assert engine["window_id"].tolist() == base["window_id"].tolist()
    assert np.allclose(engine["raw_strength"], base["raw_strength"], rtol=0, atol=1e-12)
    c = carrier(SPEC)
    assert c.status == "exploration" and c.id == SPEC.detector_id
    assert c.complexity == 7  # window, threshold and sign of each term, one regime penalty


def test_the_exploration_switch_is_off_by_default_and_names_its_key() -> None:
    assert load_settings(env={}).scoring.exploration is False
    assert load_settings(overrides={"scoring": {"exploration": True}}, env={}).scoring.exploration
    with pytest.raises(ConfigError, match="scoring.exploration"):
        load_settings(overrides={"scoring": {"exploration": "maybe"}}, env={})


def test_the_live_engine_scores_the_survivors_score_signals_scores(tmp_path) -> None:
    """One road for scoring.exploration: the daemon's night context (night_loader, sized by
    shared_values(settings)) takes the survivors `score_signals` adds for the day (the
    newest night before it), and none when the setting is off."""
    from lotus_core.breeding.scoring import exploration_set
    from lotus_core.breeding.store import write_specs
    from lotus_core.config.shared import shared_values
    from lotus_core.live.engine import night_loader
    from lotus_core.store.lake import Lake

    lake = Lake(tmp_path / "lake")
    spec = {"detector_id": SPEC.detector_id, "status": "exploration",
            "recipe_hash": SPEC.recipe_hash, "spec": SPEC.model_dump(mode="json")}
    write_specs(lake, "2026-01-01", [spec])
    for on in (True, False):
        settings = load_settings(overrides={"scoring": {"exploration": on}}, env={})
        _, load = night_loader(tmp_path / "lake", shared_values(settings))
        bred = load("2026-01-02").bred
        assert list(bred) == ([SPEC] if on else [])
    assert list(exploration_set(lake, "2026-01-02").bred) == [SPEC]
    assert list(exploration_set(lake, "2026-01-01").bred) == []  # never its own night
