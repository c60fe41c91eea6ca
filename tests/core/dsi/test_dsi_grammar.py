"""The grammar engine on hand-built frames: exact semantics, causality, spec errors; and its
one-definition check: the per-row form (grammar_flag, run by DsiStream) equals `annotate`
on hand-written and random grammars."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from lotus_core.dsi import annotate, fit_dsi
from lotus_core.dsi.grammar import (
    DERIVE_OPS,
    OPS,
    GrammarSpecError,
    any_in_window,
    compile_grammar,
    run_grammar,
    run_length,
)
from tests.core.dsi.stream_kit import compare, registry_with, stream


def frames(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    coin = cols.pop("coin", ["X"] * n)
    df = pd.DataFrame({"coin": pd.Series(coin, dtype="str"), **cols})
    df["ts_ms"] = df.groupby("coin").cumcount().to_numpy() * 1000 + 1000
    return df


def flags(spec, df):
    f, d = run_grammar(compile_grammar(spec), df)
    return f.tolist(), d.tolist()


def test_helpers():
    c = np.array([1, 1, 0, 1, 1, 1, 0], dtype=bool)
    assert run_length(c).tolist() == [1, 2, 0, 1, 2, 3, 0]
    x = np.array([1, 0, 0, 0, 1, 0], dtype=bool)
    # any(x[t - 3 .. t - 2])
    assert any_in_window(x, 2, 3).tolist() == [False, False, True, True, False, False]


def test_min_run_and_hold_while_true():
    df = frames(a=[0, 1, 1, 1, 1, 0, 1, 1, 1])
    spec = {"states": [{"all": [{"col": "a", "op": "eq", "value": 1}], "min_run": 3}]}
    # completes on the 3rd frame of a run, then holds while the condition holds
    assert flags(spec, df)[0] == [0, 0, 0, 1, 1, 0, 0, 0, 1]
    # hold N: N frames from each completion (a longer run completes on every frame)
    spec["emit"] = {"hold": 1}
    assert flags(spec, df)[0] == [0, 0, 0, 1, 1, 0, 0, 0, 1]
    spec["emit"] = {"hold": 3}
    assert flags(spec, df)[0] == [0, 0, 0, 1, 1, 1, 1, 0, 1]


def test_second_state_must_be_entered_inside_its_gap():
    spec = {"states": [
        {"all": [{"col": "a", "op": "eq", "value": 1}]},
        {"all": [{"col": "b", "op": "eq", "value": 1}], "gap": [2, 3], "min_run": 2},
    ]}
    # a at 0; b runs 2..3 (entered 2 frames later: inside [2, 3]) -> completes at 3
    assert flags(spec, frames(a=[1, 0, 0, 0, 0], b=[0, 0, 1, 1, 0]))[0] == [0, 0, 0, 1, 0]
    # entered 1 frame after a: too early; but frame 2 of the same run is a valid entry
    assert flags(spec, frames(a=[1, 0, 0, 0, 0], b=[0, 1, 1, 1, 0]))[0] == [0, 0, 0, 1, 0]
    # b only from 4 frames after a: too late
    assert flags(spec, frames(a=[1, 0, 0, 0, 0, 0, 0], b=[0, 0, 0, 0, 1, 1, 1]))[0] == [0] * 7


def test_sides_signed_conditions_per_side_columns_and_directions():
    spec = {
        "sides": [{"direction": 1, "vars": {"s": "up"}}, {"direction": -1, "vars": {"s": "dn"}}],
        "states": [{"all": [{"col": "w_{s}", "op": "ge", "value": 2.0},
                            {"col": "move", "op": "gt", "value": 0.0, "signed": True}]}],
    }
    df = frames(w_up=[3, 3, 0, 3], w_dn=[0, 3, 3, 3], move=[1.0, -1.0, -1.0, 0.0])
    assert flags(spec, df) == ([1, 1, 1, 0], [1, -1, -1, 0])
    both = {"sides": spec["sides"], "states": [{"all": [{"col": "w_{s}", "op": "ge",
                                                         "value": 2.0}]}]}
    assert flags(both, df) == ([1, 1, 1, 1], [1, 0, -1, 0])  # both sides at once: direction 0


def test_abs_per_column_scale_and_nan_is_false():
    spec = {"states": [{"all": [{"col": "x", "op": "ge", "value": 2.0, "per": "s",
                                 "abs": True}]}]}
    df = frames(x=[-4.0, 4.0, 1.0, np.nan, 4.0], s=[1.0, 1.0, 1.0, 1.0, np.nan])
    assert flags(spec, df)[0] == [1, 1, 0, 0, 0]


def test_derivations_are_trailing_per_coin():
    spec = {"derive": {"m": {"op": "roll_max", "col": "x", "window": 2},
                       "l": {"op": "lag", "col": "x", "window": 1}},
            "states": [{"all": [{"col": "m", "op": "ge", "value": 5.0},
                                {"col": "l", "op": "ge", "value": 0.0}]}]}
    df = frames(x=[5.0, 0.0, 0.0, 5.0, 0.0, 0.0], coin=["A", "A", "A", "B", "B", "B"])
    # per coin: the max of the last two frames >= 5 and a previous frame exists
    assert flags(spec, df)[0] == [0, 1, 0, 0, 1, 0]


def test_runs_never_cross_coins():
    spec = {"states": [{"all": [{"col": "a", "op": "eq", "value": 1}], "min_run": 3}]}
    df = frames(a=[1, 1, 1, 1, 1, 1], coin=["A", "A", "B", "B", "B", "B"])
    assert flags(spec, df)[0] == [0, 0, 0, 0, 1, 1]


def test_flags_never_change_when_later_frames_are_cut():
    rng = np.random.default_rng(3)
    n = 3000
    df = frames(a=rng.integers(0, 2, n), b=(rng.random(n) < 0.7).astype(int),
                x=rng.normal(size=n), coin=["A"] * (n // 2) + ["B"] * (n - n // 2))
    spec = {"sides": [{"direction": 1}, {"direction": -1}],
            "derive": {"xm": {"op": "roll_median", "col": "x", "window": 50,
                              "min_periods": 10}},
            "states": [
                {"all": [{"col": "a", "op": "eq", "value": 1},
                         {"col": "x", "op": "ge", "value": 0.5, "signed": True}]},
                {"all": [{"col": "b", "op": "eq", "value": 1},
                         {"col": "xm", "op": "le", "value": 0.3, "abs": True}],
                 "gap": [1, 4], "min_run": 3}]}
    g = compile_grammar(spec)
    full_f, full_d = run_grammar(g, df)
    assert 0 < full_f.sum() < n
    for t in rng.choice(df["ts_ms"].to_numpy(), 25):
        keep = (df["ts_ms"] <= t).to_numpy()
        f, d = run_grammar(g, df[keep].reset_index(drop=True))
        assert f.tolist() == full_f[keep].tolist() and d.tolist() == full_d[keep].tolist()


@pytest.mark.parametrize(("spec", "key"), [
    ({"states": [{"all": [{"col": "a", "op": "about", "value": 1}]}]}, "states[0].all[0].op"),
    ({"states": [{"all": [{"col": "a", "op": "eq", "value": "x"}]}]},
     "states[0].all[0].value"),
    ({"states": [{"all": [{"col": "a", "op": "eq", "value": 1}]},
                 {"all": [{"col": "a", "op": "eq", "value": 1}], "gap": [3, 1]}]},
     "states[1].gap"),
    ({"states": [{"all": [{"col": "a", "op": "eq", "value": 1}], "min_run": 0}]},
     "states[0].min_run"),
    ({"states": [{"all": [{"col": "a", "op": "gt", "value": 0, "signed": True}]}]},
     "states[0].all[0].signed"),
    ({"states": []}, "spec.states"),
    ({"states": [{"all": [{"col": "a", "op": "eq", "value": 1}]}], "when": 1}, "spec"),
    ({"derive": {"m": {"op": "roll_mode", "col": "a"}},
      "states": [{"all": [{"col": "m", "op": "eq", "value": 1}]}]}, "derive.m.op"),
    ({"states": [{"all": [{"col": "a", "op": "eq", "value": 1}]}], "emit": {"hold": 0}},
     "emit.hold"),
])
def test_bad_specs_fail_naming_the_key(spec, key):
    with pytest.raises(GrammarSpecError, match=key.replace("[", r"\[").replace("]", r"\]")):
        compile_grammar(spec)


GRAMMARS = [
    {  # three states with gaps and runs, sides, every derivation, an int hold
        "sides": [{"direction": 1, "vars": {"x": "a"}}, {"direction": -1, "vars": {"x": "b"}}],
        "derive": {
            "a_med": {"op": "roll_median", "col": "a", "window": 50, "min_periods": 10},
            "a_lag": {"op": "lag", "col": "a", "window": 3},
            "b_abs": {"op": "abs", "col": "b"},
            "b_max": {"op": "roll_max", "col": "b_abs", "window": 7, "min_periods": 2},
            "c_min": {"op": "roll_min", "col": "c", "window": 5},
            "c_sum": {"op": "roll_sum", "col": "c", "window": 4, "min_periods": 4},
            "a_mean": {"op": "roll_mean", "col": "a", "window": 20, "min_periods": 5}},
        "states": [
            {"name": "s1", "min_run": 2,
             "all": [{"col": "{x}", "op": "gt", "value": 0.2, "per": "a_mean"},
                     {"col": "c_min", "op": "ge", "value": -1}]},
            {"name": "s2", "gap": [1, 5],
             "all": [{"col": "a_lag", "op": "lt", "value": 0.0, "signed": True}]},
            {"name": "s3", "gap": [2, 8], "min_run": 3,
             "all": [{"col": "b_max", "op": "le", "value": 2.5},
                     {"col": "a_med", "op": "le", "value": 1.0, "per": "b_abs"},
                     {"col": "c_sum", "op": "ne", "value": 1}]}],
        "emit": {"hold": 4}},
    {  # the same machine held while its last state's conditions stay true
        "derive": {"b_abs": {"op": "abs", "col": "b"},
                   "b_mean": {"op": "roll_mean", "col": "b_abs", "window": 30}},
        "states": [
            {"all": [{"col": "b", "op": "ge", "value": 1.0, "per": "b_mean", "abs": True}]},
            {"gap": [1, 3], "min_run": 2,
             "all": [{"col": "c", "op": "le", "value": 0}, {"col": "a", "op": "eq", "value": 0}]}],
        "emit": {"hold": "while_true"}},
]


def _random_grammar(rng: np.random.Generator) -> dict:
    """Derivations (some over others), 1-3 states of 1-2 conditions with every op, per,
    abs and signed; random runs, gaps and hold."""
    cols = ["a", "b", "c"]
    derive: dict[str, dict] = {}
    for i in range(int(rng.integers(1, 4))):
        w = int(rng.integers(1, 12))
        derive[f"d{i}"] = {"op": str(rng.choice(list(DERIVE_OPS))),
                           "col": str(rng.choice(cols + list(derive))),
                           "window": w, "min_periods": int(rng.integers(1, w + 1))}
    names = cols + list(derive)
    states = []
    for k in range(int(rng.integers(1, 4))):
        conds = []
        for _ in range(int(rng.integers(1, 3))):
            cond = {"col": str(rng.choice(names)), "op": str(rng.choice(list(OPS))),
                    "value": float(rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0]))}
            if rng.random() < 0.3:
                cond["per"] = str(rng.choice(names))
            if rng.random() < 0.2:
                cond["abs"] = True
            elif rng.random() < 0.3:
                cond["signed"] = True
            conds.append(cond)
        state = {"all": conds, "min_run": int(rng.integers(1, 4))}
        if k:
            lo = int(rng.integers(1, 4))
            state["gap"] = [lo, lo + int(rng.integers(0, 6))]
        states.append(state)
    hold = "while_true" if rng.random() < 0.5 else int(rng.integers(1, 6))
    return {"sides": [{"direction": 1}, {"direction": -1}], "derive": derive,
            "states": states, "emit": {"hold": hold}}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the batch's 0 * inf
def test_grammars_equal_annotate():
    rng = np.random.default_rng(7)
    n = 4000
    parts = []
    for coin in ("AAA", "BBB"):
        a = np.round(rng.normal(size=n), 1)
        a[rng.random(n) < 0.3] = 0.0
        b = rng.normal(size=n) * np.where(rng.random(n) < 0.05, 5.0, 1.0)
        b[500:540] = np.nan
        c = rng.integers(-1, 3, size=n).astype("float64")
        c[rng.random(n) < 0.02] = np.inf
        parts.append(pd.DataFrame({"coin": coin, "ts_ms": 1_700_000_000_000 + 1000 * np.arange(n),
                                   "a": a, "b": b, "c": c}))
    frames = pd.concat(parts, ignore_index=True)
    specs = GRAMMARS + [_random_grammar(rng) for _ in range(24)]

    def edit(data):
        base = data["experts"][0]
        data["experts"] = [{**copy.deepcopy(base), "id": f"g{i}", "spec": g}
                           for i, g in enumerate(specs)]

    model = fit_dsi(None, registry=registry_with(edit))
    batch = annotate(frames, model).annotations
    for i in range(len(GRAMMARS)):
        assert 0 < batch[f"f_g{i}"].mean() < 0.9
    rates = [batch[f"f_g{i}"].mean() for i in range(len(specs))]
    assert sum(0 < r < 1 for r in rates) >= len(specs) // 2  # most random ones fire too
    compare(batch, stream(model, frames))
