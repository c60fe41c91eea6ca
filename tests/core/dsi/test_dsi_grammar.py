"""The grammar engine on hand-built frames: exact semantics, causality, spec errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.dsi.grammar import (
    GrammarSpecError,
    any_in_window,
    compile_grammar,
    run_grammar,
    run_length,
)


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
