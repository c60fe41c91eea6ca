"""Execution lessons against planted truth: generated executions where a limit order costs
4 bps less than a market order in wide spreads (and volatility confounds the choice) go
through the signal layer's lesson machinery; the lesson is found with the right sign, its
tr prior is stored as a version (SQLite), and a real TraderEngine then chooses a limit order
in a wide spread and keeps its market order in a tight one. Null data activates nothing."""

from __future__ import annotations

import json

import pandas as pd

from lotus_core.learning.priors_store import (
    diff_versions,
    latest_version,
    list_versions,
    nightly_source,
    read_snapshot,
    read_version,
    rollback,
    write_rows,
)
from lotus_core.store.opsdb import OpsDb
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.learning import (
    compile_tr,
    exec_lessons,
    exec_strands,
    load_exec_learning,
    tr_braids,
)
from lotus_core.trader.nightly import reports
from lotus_core.trader.priors import NewestTrPriors, tr_priors
from tests.core.trader.trader_kit import T0, book, kinds, settings, ticket
from tests.kits.exec_kit import window

CFG, LCFG = load_exec_learning()


def _night(delta: float, seed: int = 1):  # noqa: ANN202
    w = window(5, seed, delta_bps=delta)
    reps = [r for d in sorted(w) for r in reports(w[d])]
    strands = exec_strands(reps, CFG)
    day = sorted(w)[-1]
    lessons, q = exec_lessons(strands, pd.DataFrame(), day, CFG, LCFG)
    braids = tr_braids(lessons, CFG)
    return day, strands, lessons, braids, compile_tr(braids, q, CFG, None)


def _choice(priors, spread_ticks: int) -> dict:  # noqa: ANN001
    """The exec report of one buy decided on a BTC book `spread_ticks` ticks wide."""
    eng = TraderEngine(settings(), triggers=None, priors=priors)
    half = spread_ticks / 2
    for i in range(3):  # a few books so the volatility context is known
        eng.on_book(book(T0 - 3000 + 1000 * i, [(100_000 - half - i, 5.0)],
                         [(100_000 + half - i, 5.0)]))
    out = eng.on_decision(ticket("d1", 0.5), T0)
    out += eng.advance(T0 + 700_000)
    return kinds(out, "exec_report")[0]


def test_planted_limit_discount_in_wide_spreads_is_learned_and_steers_the_trader(tmp_path):
    day, strands, lessons, braids, compiled = _night(4.0)
    assert len(strands) == 3000 and strands["outcome_bps"].notna().all()
    active = lessons[lessons["state"] == "active"]
    assert len(active), lessons[["rule", "state", "gates"]].head()
    # only rules about the planted context, with the right sign, and a CI covering 4 bps
    for r in active.itertuples():
        lits = dict(x.split("=") for x in r.rule.split("&"))
        assert lits.get("spread") == "wide", r.rule
        assert (lits["order"] == "limit") == (r.sign > 0), (r.rule, r.sign)
        assert r.ci_lo <= 4.0 * r.sign <= r.ci_hi, (r.rule, r.ci_lo, r.ci_hi)
    assert compiled.rows["patch/*/spread=wide/order"] == 1.0  # prefer limit there
    assert [k for k in compiled.rows if k.startswith("patch/")] == ["patch/*/spread=wide/order"]

    # stored as a tr priors version (same store as sig's), read back for the next day
    with OpsDb.open(f"sqlite:///{tmp_path / 'fabric.sqlite'}") as fabric:
        v = write_rows(fabric, compiled.rows, nightly_source(day), "test night", module="tr")
        assert v.version == 1 and latest_version(fabric, "tr") == 1
        assert latest_version(fabric) == 0  # sig's versions are untouched
        again = write_rows(fabric, compiled.rows, nightly_source(day), module="tr")
        assert not again.created and len(list_versions(fabric, "tr")) == 1
        assert read_snapshot(fabric, 1, "tr")["after_json"] == compiled.rows
        before_day = tr_priors(fabric, day, cfg=CFG)  # the night of `day` is not in force on it
        next_day = tr_priors(fabric, "2026-01-10", cfg=CFG)
        live = tr_priors(fabric, None, cfg=CFG)
        assert before_day.version == 0 and next_day.version == live.version == 1

        wide, tight = _choice(next_day, 100), _choice(next_day, 1)
        m_wide, m_tight = wide["exec_metrics"], tight["exec_metrics"]
        assert m_wide["strategy"] == "limit" and m_wide["tr_choice"] == {"order": "limit"}
        assert m_tight["strategy"] == "market" and m_tight["tr_choice"] == {}
        assert m_wide["tr_priors_version"] == m_tight["tr_priors_version"] == 1
        assert "tr_priors:v1" in wide["lessons_learned"]
        assert m_wide["context"]["spread_bps"] > next_day.quantizer.edges["spread_bps"][1]
        # without priors (version 0) the configured market order is kept in a wide spread
        base = _choice(tr_priors(fabric, day, cfg=CFG), 100)["exec_metrics"]
        assert base["strategy"] == "market" and base["tr_priors_version"] == 0

        # the loop's poll (NewestTrPriors): the newest version, its rows read once
        newest = NewestTrPriors(CFG)
        held = newest.get(fabric)
        assert held == tr_priors(fabric, None, cfg=CFG) and newest.get(fabric) is held

        # reversible: a rollback to 0 is a new version without patches, the Trader obeys
        back = rollback(fabric, 0, "bad night", module="tr", scoring=None)
        assert back.version == 2 and not [k for k in back.rows if k.startswith("patch/")]
        assert diff_versions(fabric, 1, 2, "tr").removed.keys() >= {"patch/*/spread=wide/order"}
        live = tr_priors(fabric, None, cfg=CFG)
        assert live.version == 2 and _choice(live, 100)["exec_metrics"]["strategy"] == "market"
        assert newest.get(fabric) == live  # the loop's next poll takes the rollback
        assert read_version(fabric, 1, "tr").rows == compiled.rows


def test_null_executions_activate_nothing():
    for seed in (2, 3):
        _, _, lessons, braids, compiled = _night(0.0, seed)
        assert not (lessons["state"] == "active").any(), \
            lessons.loc[lessons["state"] == "active", "rule"].tolist()
        assert not (braids["state"] == "active").any() if len(braids) else True
        assert not [k for k in compiled.rows if k.startswith("patch/")]


def test_the_night_is_deterministic():
    a, b = _night(4.0)[2], _night(4.0)[2]
    pd.testing.assert_frame_equal(a, b)
    assert json.dumps(_night(4.0)[4].rows) == json.dumps(_night(4.0)[4].rows)
