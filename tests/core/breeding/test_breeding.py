"""The breeder: grammar, compile (causal), proposer (deterministic, bounded), harness (the
planted edge survives, the null and the leak do not), the survivor store and scoring."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lotus_core.breeding import (
    BredSpec,
    Candidate,
    Grammar,
    Harness,
    HarnessConfig,
    Parent,
    RecipeProposer,
    Term,
    bred_windows,
    breed_night,
    candidate_items,
    load_recipe,
    parents_from,
)
from lotus_core.breeding.night import night_rng
from lotus_core.breeding.schema import CANDIDATES_SCHEMA, LINEAGE_SCHEMA
from lotus_core.breeding.store import specs_for_scoring, write_specs
from lotus_core.signals.spec import SpecError
from lotus_core.store.lake import Lake
from tests.core.breeding.tape import absorption_spec, tape

COINS = ("BTC", "ETH")
LEAK = BredSpec(terms=[Term(input="dpx_bps", transform="lead", window_s=30, threshold=1.0)],
                horizon_s=30, cooldown_s=15)


def test_grammar_validates_and_names_recipes_by_hash() -> None:
    a, b = absorption_spec(), absorption_spec()
    assert a.detector_id == b.detector_id and a.detector_id.startswith("bred_")
    assert absorption_spec(90).detector_id != a.detector_id
    with pytest.raises(ValueError, match="unknown input"):
        Term(input="mid_px", transform="ewm", window_s=5, threshold=1.0)
    with pytest.raises(ValueError, match="z only"):
        Term(input="dpx_bps", transform="ewm", window_s=5, threshold=1.0)
    with pytest.raises(ValueError, match="exactly two"):
        BredSpec(terms=[a.terms[0]], combine="within", horizon_s=60, cooldown_s=30)
    assert Grammar().admits(LEAK) == "transform lead is not approved for dpx_bps"
    assert Grammar(allow_leaky=True).admits(LEAK) is None
    assert Grammar().admits(a) is None


def test_recipe_fails_naming_the_key() -> None:
    body = load_recipe().model_dump()
    body["bounds"]["window_s"] = [10, 2]
    with pytest.raises(SpecError, match="window_s"):
        load_recipe(body)


def test_approved_transforms_do_not_look_ahead_and_lead_does() -> None:
    frames, _ = tape(1, planted=True, rows=3000)
    specs = [absorption_spec(),
             BredSpec(terms=[Term(input="flow", transform="z", window_s=20, threshold=1.5),
                             Term(input="book_imb_1", transform="diff", window_s=5,
                                  threshold=0.3, sign=-1)], combine="within", within_s=20,
                      horizon_s=60, cooldown_s=20)]
    full = bred_windows(frames, specs)
    cut_at = int(frames["ts_ms"].iloc[1800])
    part = bred_windows(frames[frames["ts_ms"] <= cut_at], specs)
    assert len(full) > 20
    assert full[full["ts_ms"] <= cut_at].reset_index(drop=True).equals(part)
    harness = Harness(frames, Grammar(allow_leaky=True))
    for spec in specs:
        assert harness.future_touch(spec, harness.windows(spec))[0] == 0
    bad, checked = harness.future_touch(LEAK, harness.windows(LEAK))
    assert checked > 0 and bad > 0


def test_proposer_is_deterministic_bounded_and_keeps_lineage() -> None:
    recipe = load_recipe()
    parents = [Parent("bred_a_v1", absorption_spec()), Parent("bred_b_v1", absorption_spec(90)),
               Parent("flow_pressure_v1")]
    grammar = Grammar(vetted=("flow_pressure_v1",))
    one = RecipeProposer(recipe).propose(parents, grammar, night_rng(7, "2026-01-02"))
    two = RecipeProposer(recipe).propose(parents, grammar, night_rng(7, "2026-01-02"))
    other = RecipeProposer(recipe).propose(parents, grammar, night_rng(8, "2026-01-02"))
    assert [c.detector_id for c in one] == [c.detector_id for c in two]
    assert [c.detector_id for c in one] != [c.detector_id for c in other]
    assert len({c.detector_id for c in one}) == len(one)
    origins = {c.origin for c in one}
    assert origins == {"fresh", "mutation", "recombination", "composition", "gated"}
    b = recipe.bounds
    for c in one:
        assert grammar.admits(c.spec) is None  # no leaky transform without the opt-in
        assert b.horizon_s[0] <= c.spec.horizon_s <= b.horizon_s[1]
        for t in c.spec.votes:
            lo, hi = b.threshold[t.transform]
            assert lo - 1e-12 <= t.threshold <= hi + 1e-12
            if t.transform != "event":
                assert b.window_s[0] <= t.window_s <= b.window_s[1]
        if c.origin == "mutation":
            assert c.parents[0] in ("bred_a_v1", "bred_b_v1")
        if c.origin == "recombination":
            assert len(c.parents) == 2
        if c.note.startswith("within after"):
            assert c.parents == ("flow_pressure_v1",)
            assert c.spec.terms[0].input == "detector:flow_pressure_v1"


def test_harness_keeps_the_planted_edge_and_rejects_the_null_and_the_leak() -> None:
    planted, _ = tape(3, planted=True, coins=COINS)
    null, _ = tape(3, planted=False, coins=COINS)
    book = BredSpec(terms=[Term(input="book_imb_5", transform="ewm", window_s=10,
                                threshold=0.1)], horizon_s=60, cooldown_s=30)
    cands = [Candidate(absorption_spec(), "composition"), Candidate(book, "fresh"),
             Candidate(LEAK, "leaky")]
    g = Grammar(allow_leaky=True)
    won, _, leak = Harness(planted, g).dispose(cands)
    assert won.survived, won.reason
    assert won.metrics["oos_lift"] > 0.1 and won.metrics["future_touch_mismatches"] == 0
    assert not leak.survived and leak.reason.startswith("future_touch")
    _, lost, leak0 = Harness(null, g).dispose(cands)
    assert not lost.survived and lost.reason.startswith("oos"), lost.reason
    assert not leak0.survived
    # outside the grammar: refused before anything runs
    refused = Harness(planted, Grammar()).judge(Candidate(LEAK, "leaky"), 2)
    assert refused.reason.startswith("compile: transform lead")


def test_a_night_finds_the_edge_and_writes_cards_lineage_and_specs(tmp_path) -> None:
    planted, _ = tape(5, planted=True, coins=COINS)
    recipe = load_recipe()
    recipe = recipe.model_copy(update={"per_night": recipe.per_night.model_copy(update={
        "fresh": 2, "mutations": 4, "recombinations": 0, "compositions": 6,
        "within_vetted": 0, "leaky": 2})})
    parents = [Parent("bred_seed_v1", absorption_spec(45))]
    res = breed_night(planted, "2026-01-01", proposer=RecipeProposer(recipe),
                      grammar=Grammar(allow_leaky=True), parents=parents, seed=7)
    c = CANDIDATES_SCHEMA.validate(res.candidates)
    LINEAGE_SCHEMA.validate(res.lineage)
    assert len(res.survivors) >= 1
    assert not c.loc[c["origin"] == "leaky", "survived"].any()
    assert (c.loc[~c["survived"], "reason"].str.len() > 0).all()
    card = json.loads(c.loc[c["survived"], "card_json"].iloc[0])
    assert card["status"] == "exploration" and "origin" in card["lineage"]
    mutated = c[c["origin"] == "mutation"]
    assert (mutated["parents"] == '["bred_seed_v1"]').all()
    assert set(res.lineage["parent_id"]) >= {"bred_seed_v1"}
    items = candidate_items(res, "2026-01-01")
    assert {i["kind"] for i in items} == {"bred_detector"}
    assert len({i["item_id"] for i in items}) == len(res.survivors)
    # survivors become parents of the next night; specs enter scoring the day after
    assert {p.detector_id for p in parents_from(c)} == set(c.loc[c["survived"], "detector_id"])
    lake = Lake(tmp_path / "lake")
    write_specs(lake, "2026-01-01", res.survivor_specs())
    assert specs_for_scoring(lake, "2026-01-01") == []  # never its own night's outcomes
    got = specs_for_scoring(lake, "2026-01-02")
    assert {s.detector_id for _, s in got} == set(c.loc[c["survived"], "detector_id"])
    assert {st for st, _ in got} == {"exploration"}


def test_harness_config_is_what_the_docs_state() -> None:
    cfg = HarnessConfig()
    assert (cfg.folds, cfg.alpha, cfg.min_lift, cfg.min_windows, cfg.max_drop) == (
        4, 0.05, 0.05, 30, 0.5)
    assert np.isclose(cfg.audit.max_hit_lift, 0.25)
