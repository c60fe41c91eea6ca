"""The trigger DSL: parser errors, the print/parse round trip, and causal evaluation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotus_core.dm.triggers import (
    And,
    Breakout,
    Cross,
    NamedLevel,
    Or,
    Price,
    Retest,
    Touch,
    TriggerRowError,
    TriggerState,
    TriggerSyntaxError,
    Within,
    evaluate_trigger,
    first_fire,
    parse_trigger,
    print_trigger,
)

# -- parsing --------------------------------------------------------------------------------


def test_seed_example_parses_to_the_expected_tree() -> None:
    e = parse_trigger(
        "breakout(lookback=20, band=2.0σ) AND retest(level=prev_high, tol=0.15%) WITHIN 6h"
    )
    assert e == Within(And(Breakout(20, 2.0), Retest(NamedLevel("prev_high"), 0.0015)),
                       6 * 3_600_000)
    assert parse_trigger("breakout(20,2s) and retest(prev_high,0.15%) within 6h") == e


def test_precedence_and_binds_tighter_than_or_and_within_scopes_left() -> None:
    a, b, c = Touch(Price(1.0)), Touch(Price(2.0)), Touch(Price(3.0))
    assert parse_trigger("touch(1) OR touch(2) AND touch(3)") == Or(a, And(b, c))
    assert parse_trigger("(touch(1) OR touch(2)) AND touch(3)") == And(Or(a, b), c)
    assert parse_trigger("touch(1) AND touch(2) WITHIN 30m") == Within(And(a, b), 1_800_000)
    assert parse_trigger("touch(1) AND (touch(2) WITHIN 30s)") == And(a, Within(b, 30_000))
    # the function form is the same node
    assert parse_trigger("touch(1) AND within(touch(2), 30s)") == And(a, Within(b, 30_000))
    assert parse_trigger("within(touch(1) OR touch(2), 1h)") == Within(Or(a, b), 3_600_000)


def test_units_and_named_arguments() -> None:
    assert parse_trigger("retest(100, 15bps)") == Retest(Price(100.0), 0.0015)
    assert parse_trigger("retest(tol=0.002, level=broken)") == Retest(NamedLevel("broken"), 0.002)
    assert parse_trigger("breakout(n=5, k=1.5sigma, dir=down)") == Breakout(5, 1.5, "down")
    assert parse_trigger("cross(61250.5, up)") == Cross(Price(61250.5), "up")
    assert parse_trigger("touch(3) WITHIN 500ms") == Within(Touch(Price(3.0)), 500)
    assert parse_trigger("touch(3) WITHIN 1.5h") == Within(Touch(Price(3.0)), 5_400_000)


@pytest.mark.parametrize(
    ("text", "pos", "expected"),
    [
        ("breakout(20", 11, "',' or ')'"),
        ("breakout(20, 2x)", 13, "a band in standard deviations"),
        ("foo(1)", 0, "breakout, retest, touch, cross or '('"),
        ("touch(1) AND", 12, "breakout, retest, touch, cross or '('"),
        ("touch(1) WITHIN 5", 16, "a duration"),
        ("retest(prev_high)", 0, "with a tol argument"),
        ("touch(1) touch(2)", 9, "AND, OR, WITHIN or end of input"),
        ("cross(1, sideways)", 9, "a direction"),
        ("breakout(20.5, 2)", 9, "a whole number of rows"),
        ("touch(nowhere)", 6, "a level"),
        ("(touch(1)", 9, "')'"),
        ("touch(1) $", 9, "a number, a name"),
        ("breakout(1, 2)", 0, "valid arguments to breakout"),
        ("touch(1, 2, 3)", 12, "takes at most 2 arguments"),
        ("touch(level=1, level=2)", 15, "a single value for level"),
        ("touch(1) WITHIN 0s", 16, "a positive whole number"),
        ("", 0, "breakout, retest, touch, cross or '('"),
    ],
)
def test_syntax_errors_name_position_and_expectation(text: str, pos: int, expected: str) -> None:
    with pytest.raises(TriggerSyntaxError) as info:
        parse_trigger(text)
    assert info.value.pos == pos, str(info.value)
    assert expected in info.value.expected, str(info.value)
    assert f"position {pos}" in str(info.value)


# -- round trip -----------------------------------------------------------------------------

_floats = st.floats(min_value=1e-6, max_value=1e7, allow_nan=False, allow_infinity=False)
_levels = st.one_of(_floats.map(Price),
                    st.sampled_from(["prev_high", "prev_low", "broken"]).map(NamedLevel))
_dirs = st.sampled_from(["up", "down", "any"])
_leaves = st.one_of(
    st.builds(Breakout, st.integers(2, 500), st.floats(0, 10, allow_nan=False), _dirs),
    st.builds(Retest, _levels, st.floats(1e-6, 0.5, allow_nan=False)),
    st.builds(Touch, _levels, st.one_of(st.just(0.0), st.floats(0, 0.5, allow_nan=False))),
    st.builds(Cross, _levels, _dirs),
)
_windows = st.one_of(st.integers(1, 10**9), st.sampled_from([1_000, 60_000, 21_600_000]))
_exprs = st.recursive(
    _leaves,
    lambda inner: st.one_of(st.builds(And, inner, inner), st.builds(Or, inner, inner),
                            st.builds(Within, inner, _windows)),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(_exprs)
def test_parse_of_print_is_identity(e) -> None:
    text = print_trigger(e)
    assert parse_trigger(text) == e, text
    assert print_trigger(parse_trigger(text)) == text


# -- evaluation -----------------------------------------------------------------------------


def _rows(mids: list[float], start: int = 1_000, step: int = 1_000) -> list[dict]:
    return [{"ts_ms": start + i * step, "mid_px": m, "bid_px": m - 0.01, "ask_px": m + 0.01}
            for i, m in enumerate(mids)]


def test_breakout_then_retest_of_the_broken_level_fires_on_the_retest_row() -> None:
    flat = [100.0 + 0.1 * ((-1) ** i) for i in range(20)]  # range 99.9 .. 100.1
    mids = flat + [101.0, 101.5, 101.2, 100.12, 100.5]
    e = parse_trigger("breakout(20, 2σ, up) AND retest(broken, 0.05%) WITHIN 10s")
    status = first_fire(e, _rows(mids))
    assert status.fired
    assert status.fired_px == 100.12  # within 0.05 % of the broken top 100.1
    assert status.fired_ts_ms == 1_000 + 23 * 1_000


def test_within_expires_a_stale_breakout() -> None:
    flat = [100.0 + 0.1 * ((-1) ** i) for i in range(20)]
    mids = flat + [101.0] + [101.5] * 30 + [100.1]
    e = parse_trigger("breakout(20, 2σ, up) AND retest(broken, 0.05%) WITHIN 10s")
    assert not first_fire(e, _rows(mids)).fired
    e_long = parse_trigger("breakout(20, 2σ, up) AND retest(broken, 0.05%) WITHIN 1m")
    assert first_fire(e_long, _rows(mids)).fired


def test_cross_touch_and_or() -> None:
    rows = _rows([99.0, 99.5, 100.5, 100.2])
    assert evaluate_trigger(parse_trigger("cross(100, up)"), rows) == [False, False, True, True]
    assert evaluate_trigger(parse_trigger("cross(100, down)"), rows) == [False] * 4
    assert evaluate_trigger(parse_trigger("touch(99.49)"), rows) == [False, True, True, True]
    assert evaluate_trigger(parse_trigger("touch(98) OR cross(100)"), rows)[2]


def test_rows_must_move_forward_and_need_the_columns() -> None:
    state = TriggerState(parse_trigger("touch(1)"))
    state.update({"ts_ms": 5, "mid_px": 2.0})
    with pytest.raises(TriggerRowError, match="increasing ts_ms"):
        state.update({"ts_ms": 5, "mid_px": 2.0})
    with pytest.raises(TriggerRowError, match="mid_px"):
        state.update({"ts_ms": 6})
    assert not state.update({"ts_ms": 7, "mid_px": math.nan}).fired  # a gap changes nothing


_walks = st.lists(st.floats(-0.004, 0.004, allow_nan=False), min_size=1, max_size=120)


@settings(max_examples=100, deadline=None)
@given(_exprs, _walks, st.data())
def test_evaluation_never_looks_past_the_row_it_is_given(e, steps, data) -> None:
    mids, px = [], 100.0
    for s in steps:
        px *= 1 + s
        mids.append(px)
    rows = _rows(mids, step=data.draw(st.sampled_from([250, 1_000, 60_000])))
    whole = evaluate_trigger(e, rows)
    cut = data.draw(st.integers(0, len(rows)))
    assert evaluate_trigger(e, rows[:cut]) == whole[:cut]
    # Changing the rows after the cut cannot change anything up to it.
    altered = rows[:cut] + [{**r, "mid_px": r["mid_px"] * 1.05} for r in rows[cut:]]
    assert evaluate_trigger(e, altered)[:cut] == whole[:cut]
    # Once fired, it stays fired.
    if True in whole:
        assert all(whole[whole.index(True):])
