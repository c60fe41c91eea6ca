"""Context gates in the breeder: the grammar (a gate holds or not, never votes; refused
alone, in WITHIN, on an unknown input), compile (a gated detector fires only where its gate
holds, as its voting terms vote; a missing context value never holds; the live step
equals the batch), the proposer's gated twins (deterministic, the other draws untouched),
hash stability for specs without gates, and a gated survivor through the unchanged harness."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from lotus_core.breeding import (
    BredSpec,
    Candidate,
    Grammar,
    Harness,
    Parent,
    RecipeProposer,
    Term,
    bred_windows,
    breed_night,
    load_recipe,
)
from lotus_core.breeding.compile import BredStream, candidates, columns, holds, holds_one
from lotus_core.breeding.grammar import Gate
from lotus_core.breeding.night import night_rng
from lotus_core.breeding.schema import CANDIDATES_SCHEMA
from lotus_core.signals.features import cadence_ms
from lotus_core.signals.spec import SpecError
from tests.core.breeding.tape import LIVE_SPECS, T0, absorption_spec, tape

BOOK = Term(input="book_imb_5", transform="ewm", window_s=2, threshold=0.3)
HIGH_FUNDING = Gate(input="funding_pctl", transform="gate", lo=2 / 3, hi=1.0)


def _spec(*terms: Term | Gate, cooldown_s: int = 0, combine: str = "and") -> BredSpec:
    return BredSpec.model_validate({"terms": [t.model_dump() for t in terms],
                                    "combine": combine, "horizon_s": 60,
                                    "cooldown_s": cooldown_s})


# ---- grammar --------------------------------------------------------------------------


def test_the_grammar_accepts_gates_and_refuses_them_alone_unknown_or_in_within() -> None:
    ok = _spec(BOOK, HIGH_FUNDING)
    assert ok.votes == [BOOK] and ok.gates == [HIGH_FUNDING]
    assert Grammar().admits(ok) is None
    assert Grammar(context=("oi_pctl",)).admits(ok).startswith("a gate on funding_pctl")
    regime = Gate(input="regime", transform="gate", labels=["chop", "trend"])
    basis = Gate(input="basis_bps", transform="gate", hi=0.0)  # own units, open below
    assert Grammar().admits(_spec(BOOK, regime, basis)) is None
    # a spec of gates alone: nothing votes a side
    with pytest.raises(ValidationError, match="gates alone is refused"):
        _spec(HIGH_FUNDING)
    with pytest.raises(ValidationError, match="unknown context input 'rv_pctl'"):
        Gate(input="rv_pctl", transform="gate", lo=0.5)
    with pytest.raises(ValidationError, match="context input: it gates"):
        Term(input="funding_pctl", transform="ewm", window_s=5, threshold=0.5)
    with pytest.raises(ValidationError, match="allowed in `and` only"):
        _spec(BOOK, HIGH_FUNDING, combine="within")
    with pytest.raises(ValidationError, match="percentile: its band is within"):
        Gate(input="oi_pctl", transform="gate", lo=0.5, hi=1.5)
    with pytest.raises(ValidationError, match="warmup is the regime not known yet"):
        Gate(input="regime", transform="gate", labels=["warmup"])
    with pytest.raises(ValidationError, match="needs lo, hi or both"):
        Gate(input="premium", transform="gate")
    with pytest.raises(ValidationError, match="gates follow the voting terms"):
        _spec(HIGH_FUNDING, BOOK)
    with pytest.raises(ValidationError, match="one gate per context input"):
        _spec(BOOK, HIGH_FUNDING, HIGH_FUNDING.model_copy(update={"lo": 0.5}))


def test_a_spec_without_gates_hashes_exactly_as_before_gates() -> None:
    """Hashes computed with the grammar before gates existed, hard-coded."""
    within = BredSpec(terms=[
        Term(input="detector:flow_pressure_v1", transform="event", window_s=1, threshold=0.5),
        Term(input="dpx_bps", transform="z", window_s=20, threshold=1.5, sign=-1)],
        combine="within", within_s=30, horizon_s=60, cooldown_s=30)
    assert absorption_spec().recipe_hash == (
        "sha256:3bd8ee911c6cd62482f0526a91c73795b0f97f56b352f16ec8e10fde31a3a138")
    assert absorption_spec().detector_id == "bred_3bd8ee911c_v1"
    assert LIVE_SPECS[5].recipe_hash == (
        "sha256:4fab0d21808700008c1ba59a3b3acabe24d6825aa0e19512658b4f3cde93d016")
    assert within.recipe_hash == (
        "sha256:d15aa3d2d4fd86880141b0ab52faf6d6584654009f15129040b0cd4b8c1724bd")
    gated = _spec(BOOK, HIGH_FUNDING)
    assert BredSpec.model_validate_json(gated.canonical()) == gated
    assert '"labels"' not in gated.canonical() and gated.recipe_hash != _spec(BOOK).recipe_hash


# ---- compile --------------------------------------------------------------------------


def _frame() -> pd.DataFrame:
    """One coin, 120 rows at 1 s: the book leans +0.8 / -0.8 in 10-row blocks; funding's
    percentile missing for 15 rows (warm-up), then cycling low, mid, high; the regime warms
    up for 30 rows, then alternates trend / chop in 20-row blocks."""
    n = 120
    i = np.arange(n)
    funding = np.array([0.1, 0.5, 0.9, 0.7, 0.2])[i % 5]
    funding[:15] = np.nan
    funding[60:64] = np.nan  # a hole in the context channel
    regime = np.where((i // 20) % 2 == 0, "trend", "chop").astype(object)
    regime[:30] = "warmup"
    return pd.DataFrame({"coin": "BTC", "ts_ms": T0 + i * 1000,
                         "book_imb_5": np.where((i // 10) % 2 == 0, 0.8, -0.8),
                         "funding_pctl": funding, "regime": regime})


def test_a_missing_context_value_never_holds() -> None:
    f = _frame()
    g = columns(f)
    ok = holds(HIGH_FUNDING, g)
    fp = f["funding_pctl"].to_numpy()
    assert not ok[np.isnan(fp)].any()
    assert (ok == (fp >= 2 / 3)).all()  # NaN compares False: never treated as 0 or 1
    low = Gate(input="funding_pctl", transform="gate", hi=0.3)  # 0 would be inside it
    assert not holds(low, g)[np.isnan(fp)].any()
    oi = Gate(input="oi_pctl", transform="gate", lo=0.0, hi=1.0)  # no such column: absent
    assert not holds(oi, g).any()
    regime = Gate(input="regime", transform="gate", labels=["chop", "quiet", "trend"])
    assert (holds(regime, g) == (f["regime"] != "warmup").to_numpy()).all()
    for row in f.to_dict("records"):
        assert holds_one(HIGH_FUNDING, row) == bool(row["funding_pctl"] >= 2 / 3)
        assert holds_one(low, row) == bool(row["funding_pctl"] <= 0.3)
        assert holds_one(oi, row) is False


def test_a_gated_detector_fires_only_where_its_gate_holds_and_votes_as_its_term() -> None:
    f = _frame()
    g, cad = columns(f), cadence_ms(f["ts_ms"].to_numpy(), f["coin"].to_numpy())
    plain, gated = _spec(BOOK), _spec(BOOK, HIGH_FUNDING)
    d0, s0 = candidates(plain, g, cad, {})
    d1, s1 = candidates(gated, g, cad, {})
    gate = holds(HIGH_FUNDING, g)
    assert (d1 == np.where(gate, d0, 0)).all() and (s1 == np.where(gate, s0, 0.0)).all()
    assert set(d1[gate]) == {-1, 1}  # it votes both sides, as the book leans
    both = _spec(BOOK, HIGH_FUNDING, Gate(input="regime", transform="gate", labels=["trend"]))
    d2, _ = candidates(both, g, cad, {})
    trend = (f["regime"] == "trend").to_numpy()
    assert (d2 == np.where(gate & trend, d0, 0)).all() and (d2 != 0).any()
    # windows: cooldown 0 keeps every candidate, so the gated windows are exactly the plain
    # ones on the gate's frames
    w0, w1 = bred_windows(f, [plain]), bred_windows(f, [gated])
    at_gate = w0[gate[w0["frame_idx"].to_numpy()]].drop(columns="detector_id")
    pd.testing.assert_frame_equal(w1.drop(columns="detector_id"),
                                  at_gate.reset_index(drop=True))


def test_the_live_step_equals_the_batch_with_gates() -> None:
    frames, _ = tape(2, planted=True, rows=1_500, coins=("BTC", "ETH"))
    i = np.arange(len(frames))
    frames["funding_pctl"] = np.where(i % 300 < 150, 0.9, 0.2)
    frames.loc[i % 97 == 0, "funding_pctl"] = np.nan
    frames["regime"] = np.where(i % 400 < 250, "trend", "warmup")
    specs = [BredSpec(terms=[*absorption_spec().terms, HIGH_FUNDING], horizon_s=60,
                      cooldown_s=10),
             _spec(Term(input="flow", transform="ewm", window_s=20, threshold=0.15),
                   Gate(input="regime", transform="gate", labels=["trend"]), HIGH_FUNDING,
                   cooldown_s=5)]
    hashes = {s.detector_id: f"sha256:{k}" for k, s in enumerate(specs)}
    stream = BredStream(specs, 1000, hashes)
    rows = frames.sort_values(["ts_ms", "coin"], kind="stable").to_dict("records")
    live = pd.DataFrame([w for r in rows for w in stream.push(r)])
    batch = bred_windows(frames, specs)
    assert len(batch) > 20 and set(batch["detector_id"]) == set(hashes)
    for col in ("ts_ms", "coin", "detector_id", "horizon_s", "direction"):
        assert live[col].tolist() == batch[col].tolist(), col
    np.testing.assert_allclose(live["raw_strength"], batch["raw_strength"], rtol=1e-9)


# ---- propose --------------------------------------------------------------------------


def _night(seed: int, recipe=None, grammar: Grammar | None = None) -> list[Candidate]:  # noqa: ANN001
    parents = [Parent("bred_a_v1", absorption_spec()), Parent("bred_b_v1", absorption_spec(90)),
               Parent("flow_pressure_v1")]
    return RecipeProposer(recipe or load_recipe()).propose(
        parents, grammar or Grammar(vetted=("flow_pressure_v1",)), night_rng(seed, "2026-01-02"))


def test_the_proposer_adds_gated_twins_deterministically() -> None:
    one, two, other = _night(7), _night(7), _night(8)
    assert [c.detector_id for c in one] == [c.detector_id for c in two]
    assert [c.detector_id for c in one] != [c.detector_id for c in other]
    twins = [c for c in one if c.origin == "gated"]
    base = [c for c in one if c.spec.combine == "and" and c.origin != "gated"]
    by_id = {c.detector_id: c for c in one}
    assert len(twins) == len(base) // 4  # the recipe's share: 0.25 of the AND candidates
    assert len({t.parents for t in twins}) == len(twins)  # at most one twin a candidate
    for t in twins:
        parent = by_id[t.parents[0]]  # the ungated twin, proposed the same night
        assert t.spec.votes == parent.spec.votes and len(t.spec.gates) == 1
        assert (t.spec.horizon_s, t.spec.cooldown_s) == (parent.spec.horizon_s,
                                                         parent.spec.cooldown_s)
        assert Grammar().admits(t.spec) is None
    gated_on = {(g.input, g.lo, tuple(g.labels or ())) for t in twins for g in t.spec.gates}
    assert {i for i, _, _ in gated_on} == {"funding_pctl", "oi_pctl", "regime"}
    assert ("funding_pctl", 2 / 3, ()) in gated_on and ("oi_pctl", 0.0, ()) in gated_on
    # the twins are drawn last: the night's other candidates are exactly what they were
    # before gates existed (their ids' hash, computed then), and without twins the same
    ids = ",".join(c.detector_id for c in one if c.origin != "gated")
    assert hashlib.sha256(ids.encode()).hexdigest() == (
        "2598a01eef9439fd4a69428113fe7298e0373860524d46bc3e759023c6a1fc58")
    r = load_recipe()
    off = r.model_copy(update={"gates": r.gates.model_copy(update={"share": 0.0})})
    assert [c.detector_id for c in _night(7, off)] == ids.split(",")
    no_ctx = Grammar(vetted=("flow_pressure_v1",), context=())
    assert [c.detector_id for c in _night(7, grammar=no_ctx)] == ids.split(",")


def test_gate_settings_are_typed_with_one_set_of_defaults() -> None:
    body = load_recipe().model_dump()
    body.pop("gates")  # a recipe without the section: the model's defaults
    assert load_recipe(body).gates == load_recipe().gates
    body["gates"] = {"inputs": ["basis_bps"]}
    with pytest.raises(SpecError, match="gates"):
        load_recipe(body)


# ---- end to end -----------------------------------------------------------------------


def test_a_gated_survivor_goes_through_the_unchanged_harness() -> None:
    """The planted edge drifts only while funding is high against its history (alternate
    half hours); funding's percentile warms up for 5 minutes. The gated absorption recipe
    survives every harness gate; its windows are its ungated twin's candidates exactly at
    the gate's frames; a night proposes gated twins and judges them like any other."""
    rows = 10_800
    i = np.arange(rows)
    high = (i // 1800) % 2 == 1
    frames, _ = tape(3, planted=True, rows=rows, coins=("BTC", "ETH"),
                     edge_on=np.r_[high, high])
    pctl = np.where(np.r_[high, high], 0.85, 0.25)
    pctl[np.r_[i, i] < 300] = np.nan
    frames["funding_pctl"] = pctl
    plain = absorption_spec()
    gated = BredSpec(terms=[*plain.terms, HIGH_FUNDING], horizon_s=60, cooldown_s=30)
    harness = Harness(frames, Grammar())
    verdict = harness.judge(Candidate(gated, "gated", (plain.detector_id,)), 2)
    assert verdict.survived, verdict.reason
    assert verdict.metrics["future_touch_mismatches"] == 0
    assert verdict.metrics["windows"] >= 30 and verdict.metrics["oos_lift"] > 0.05
    w0, w1 = harness.windows(plain), harness.windows(gated)
    gate = holds(HIGH_FUNDING, columns(frames))
    assert gate[w1["frame_idx"].to_numpy()].all() and not gate[np.isnan(pctl)].any()
    # every gated window is a frame where the ungated twin's candidate fires the same way
    cols, cad = columns(frames), 1000
    for coin, part in w1.groupby("coin"):
        idx = np.flatnonzero(frames["coin"].to_numpy() == coin)
        d0, _ = candidates(plain, {c: v[idx] for c, v in cols.items()}, cad, {})
        at = part["frame_idx"].to_numpy() - idx[0]
        assert (d0[at] == part["direction"].to_numpy()).all()
    # cooldown 0: the windows are exactly the ungated twin's on the gate's frames
    z0 = harness.windows(plain.model_copy(update={"cooldown_s": 0}))
    z1 = harness.windows(BredSpec(terms=gated.terms, horizon_s=60, cooldown_s=0))
    on = z0[gate[z0["frame_idx"].to_numpy()]].drop(columns="detector_id")
    pd.testing.assert_frame_equal(z1.drop(columns="detector_id"), on.reset_index(drop=True))
    assert len(w1) < len(w0)
    # a (small) night proposes gated twins; the harness judges them as it judges any other
    r = load_recipe()
    r = r.model_copy(update={
        "per_night": r.per_night.model_copy(update={
            "fresh": 4, "mutations": 0, "recombinations": 0, "compositions": 4,
            "within_vetted": 0, "leaky": 0}),
        "gates": r.gates.model_copy(update={"share": 0.5})})
    night = breed_night(frames, "2026-01-01", proposer=RecipeProposer(r), grammar=Grammar(),
                        seed=7)
    c = CANDIDATES_SCHEMA.validate(night.candidates)
    mine = c[c["origin"] == "gated"]
    assert len(mine) == 4 and (mine["survived"] | (mine["reason"].str.len() > 0)).all()
    assert set(night.lineage.loc[night.lineage["origin"] == "gated", "parent_id"]) <= set(
        c["detector_id"])
