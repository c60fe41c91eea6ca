"""paper_trades' metadata says what happened: an execution report that filled nothing
because there was nothing to trade is counted as `already_at_target`, not `filled` (the
report itself keeps its exec-report-1.0 status); the day's fees are the day's fills'; the
portfolio's totals since the first trading day and its drawdown carry their units."""

from __future__ import annotations

from typing import Any

import pytest
from trader_kit import T0, book, kinds, settings, ticket

from lotus_assets.metadata import paper_story
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.nightly import (
    NOTHING_TO_DO,
    PaperTally,
    day_metadata,
    executor_scores,
    paper_table,
)

BIDS = [(99.0, 10.0), (98.0, 10.0)]
ASKS = [(100.0, 10.0), (101.0, 10.0)]
W = 2.0 * 99.5 / 10_000  # 2 BTC at the mid 99.5 of equity 10 000
DAY = "2026-01-02"


def _day() -> tuple[list, TraderEngine]:
    """A ticket that trades (a market order, filled), then the same target again: nothing
    to trade, one report with zero quantity."""
    eng = TraderEngine(settings(max_slippage_bps=500.0, stop_loss_bps=1000.0,
                                take_profit_bps=2000.0))
    out = eng.on_book(book(T0 - 1000, BIDS, ASKS))
    out += eng.on_decision(ticket("a", W, audit_refs={"tr.execution_strategy": "market"}), T0)
    out += eng.on_book(book(T0 + 200, BIDS, ASKS))
    out += eng.on_decision(ticket("b", W, T0 + 300), T0 + 300)
    return out, eng


class _NoEarlierDays:
    """A lake with no earlier paper_trades day (the equity curve is today's alone)."""

    def days(self, asset: str) -> list[str]:
        return []


def test_a_report_with_nothing_filled_is_not_counted_as_filled() -> None:
    out, eng = _day()
    reps = kinds(out, "exec_report")
    assert [r["status"] for r in reps] == ["filled", "filled"]  # the reports keep theirs
    assert reps[1]["executed_quantity"] == 0
    meta = day_metadata(paper_table(out, eng), eng)
    assert meta["statuses"] == {"filled": 1, NOTHING_TO_DO: 1}
    assert meta["executions"] == 2 and meta["fills"] == len(kinds(out, "fill")) > 0


def test_the_days_fees_are_its_fills_and_totals_are_named_to_date() -> None:
    out, eng = _day()
    table = paper_table(out, eng)
    tally = PaperTally()
    for lo in range(0, len(table), 2):  # folded a part at a time, as the joint replay does
        tally.add(table.iloc[lo:lo + 2])
    meta = tally.metadata(eng)
    fees = sum(f["fee"] for f in kinds(out, "fill"))
    assert fees > 0 and meta["fees_today"] == pytest.approx(fees)
    assert meta["fees_to_date"] == pytest.approx(fees)  # a flat start: the day is all
    assert {"realised_to_date", "funding_to_date"} <= set(meta)
    assert meta == day_metadata(table, eng)


def test_paper_trades_money_and_drawdown_keys_carry_their_units() -> None:
    out, eng = _day()
    table = paper_table(out, eng)
    shown = table[table["kind"].isin(["fill", "state"])]
    meta: dict[str, Any] = {**day_metadata(table, eng), "drawdown": 0.0024691358,
                            "max_drawdown": 0.0031}
    story = {k: v.value if hasattr(v, "value") else v
             for k, v in paper_story(shown, meta, _NoEarlierDays(), DAY).items()}
    for key in ("realised_to_date_usd", "fees_to_date_usd", "funding_to_date_usd",
                "unrealised_at_day_end_usd", "fees_today_usd", "peak_equity_usd"):
        assert str(story[key]).endswith(" USD"), key
    assert story["fees_today_usd"] == f"{meta['fees_today']:,.2f} USD"
    assert story["drawdown_pct"] == 0.2469 and story["max_drawdown_pct"] == 0.31
    assert "percent of that peak (0.25 %)" in story["figures_explained"]
    assert not {"realised", "unrealised", "fees", "funding", "drawdown",
                "max_drawdown"} & set(story)
    assert "already_at_target" in story["counts_explained"]


def test_an_execution_that_sent_no_order_is_not_scored_as_filled() -> None:
    """executor_scores scores the executions that traded: the repeated target's report
    (nothing sent) neither counts as an execution nor lifts the fill rate."""
    out, _ = _day()
    reps = kinds(out, "exec_report")
    scores = executor_scores(reps, "day")
    assert scores["executions"].sum() == 1
    assert executor_scores(reps[1:], "day").empty
