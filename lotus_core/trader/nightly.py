"""The nightly Trader: one day's decisions replayed against the day's recorded books with
the live engine, positions carried over from the previous day's final state.

`paper_day` returns the `paper_trades` table: one row per engine output in order (fill,
order, position, exec_report, trigger_eval as canonical JSON) and a last `state` row with
the engine snapshot the next day starts from. `executor_scores` aggregates exec reports.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.fabric.envelope import canonical_json
from lotus_core.trader.config import TraderSettings
from lotus_core.trader.day_chunks import DayChunk
from lotus_core.trader.engine import Out, TraderEngine
from lotus_core.trader.learning import TrPriors
from lotus_core.trader.plan import ts_ms
from lotus_core.trader.replay import Day, Decision, replay_day, rows_in_order

COLUMNS = ["seq", "kind", "ts_ms", "coin", "decision_id", "execution_id", "data_json"]


def carried_state(previous: pd.DataFrame | None) -> dict[str, Any] | None:
    """The previous day's final engine snapshot (None: start flat)."""
    if previous is None or previous.empty:
        return None
    rows = previous[previous["kind"] == "state"]
    if rows.empty:
        return None
    return dict(json.loads(rows["data_json"].iloc[-1]))


def _row(seq: int, o: Out) -> dict[str, Any]:
    d = o.data
    ts = d.get("funding_at_ms") or d.get("ts_ms") or d.get("created_ms")
    if ts is None and (when := d.get("execution_time") or d.get("asof_ts")):
        ts = ts_ms(when)
    return {"seq": seq, "kind": o.kind, "ts_ms": int(ts or 0), "coin": str(d.get("coin")
            or d.get("symbol") or d.get("details", {}).get("symbol") or ""),
            "decision_id": str(d.get("decision_id") or ""),
            "execution_id": str(d.get("execution_id") or ""),
            "data_json": canonical_json(d).decode()}


def paper_day(settings: TraderSettings, day: Day | Iterable[DayChunk],
              decisions: list[Decision],
              previous: pd.DataFrame | None = None,
              rows: pd.DataFrame | None = None,
              priors: TrPriors | None = None) -> tuple[pd.DataFrame, TraderEngine]:
    """`priors`: the tr priors version in force for the day (`lotus_core.trader.priors`)."""
    snap = carried_state(previous)
    engine = (TraderEngine.restore(settings, snap, priors=priors) if snap
              else TraderEngine(settings, priors=priors))
    res = replay_day(engine, day, decisions, rows_in_order(rows) if rows is not None else None)
    return paper_table(res.outputs, engine), engine


_TYPES = {"seq": "int64", "ts_ms": "int64", "kind": "str", "coin": "str", "decision_id": "str",
          "execution_id": "str", "data_json": "str"}


def paper_rows(outputs: Iterable[Out], start: int = 0) -> pd.DataFrame:
    """`paper_trades` rows of the Trader's outputs, in order, the first `seq` `start` (a
    part of the day made as the replay goes)."""
    return pd.DataFrame([_row(i, o) for i, o in enumerate(outputs, start)],
                        columns=COLUMNS).astype(_TYPES)


def state_row(engine: TraderEngine, seq: int) -> pd.DataFrame:
    """The day's last `paper_trades` row: the engine's snapshot and portfolio, which the
    next day starts from."""
    state = engine.snapshot()
    state["portfolio_state"] = engine.portfolio_state()
    return pd.DataFrame([{"seq": seq, "kind": "state", "ts_ms": int(engine.now_ms), "coin": "",
                          "decision_id": "", "execution_id": "",
                          "data_json": canonical_json(state).decode()}],
                        columns=COLUMNS).astype(_TYPES)


def paper_table(outputs: list[Out], engine: TraderEngine) -> pd.DataFrame:
    """The `paper_trades` table of a day the Trader ran: one row per output, in order, and
    the final `state` row (the engine's snapshot and portfolio) the next day starts from.
    One home for the table, whether the Trader ran alone (`paper_day`) or inside the
    DM's joint replay (`lotus_core.dm.joint`; made a part at a time there:
    `lotus_core.dm.joint_tables`)."""
    return pd.concat([paper_rows(outputs), state_row(engine, len(outputs))],
                     ignore_index=True)


def reports(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [json.loads(s) for s in table.loc[table["kind"] == "exec_report", "data_json"]]


NOTHING_TO_DO = "already_at_target"
"""What the day's `statuses` count an execution report that filled nothing because there
was nothing to fill (the engine's `already_at_target`: the position at its target within
a lot or the minimum order notional, so no order was sent). Its exec-report-1.0 status is
`filled` (the execution reached its target), which the report keeps: the day's counts
say `filled` only of executions that traded."""


def outcome(report: dict[str, Any]) -> str:
    """An execution report's status as the day's `statuses` count it: its status, except
    a `filled` report with nothing filled, which is `NOTHING_TO_DO`."""
    status = str(report["status"])
    if status == "filled" and not report.get("executed_quantity"):
        return NOTHING_TO_DO
    return status


EXECUTION_REPORT = {
    "maker_share": "share of the day's fills that rested and were hit",
    "passive_orders": "passive (post-only or resting) entry orders that ended today",
    "passive_fill_rate": "their filled share (filled / sent quantity, averaged per order)",
    "slippage_vs_arrival_bps": "the executions' VWAP against the mid when their first order "
                               "arrived, notional-weighted, bps (positive = worse)",
    "adverse_5s_bps": "mean mid move against a passive fill 5 s after it, bps",
    "adverse_60s_bps": "the same 60 s after it, bps (what the DM prices a passive fill at, "
                       "shrunk to the prior)",
    "passive_fills_marked": "passive fills marked at 60 s today",
    "probe_orders": "probes (virtual post-only orders at the touch, `trader.probe`) that "
                    "ended today",
    "probe_fill_rate": "their filled share",
    "probe_adverse_60s_bps": "mean mid move against a probe's fill 60 s after it, bps",
}
"""The per-day execution figures in `paper_trades`' metadata."""


@dataclass
class PaperTally:
    """What the day's metadata counts of `paper_trades`, folded over its parts."""

    fills: int = 0
    fees: float = 0.0  # the day's fills' fees, USD
    statuses: Counter[str] = field(default_factory=Counter)
    slips: list[float] = field(default_factory=list)
    maker_fills: int = 0
    slip_notional: float = 0.0  # Σ filled notional of the executions with an arrival mid
    slip_weighted: float = 0.0  # Σ notional × slippage vs the arrival mid (bps)

    def add(self, table: pd.DataFrame) -> None:
        fills = table.loc[table["kind"] == "fill", "data_json"]
        self.fills += len(fills)
        for s in fills:
            f = json.loads(s)
            self.fees += float(f.get("fee") or 0.0)
            self.maker_fills += f.get("liquidity") == "maker"
        for r in reports(table):
            self.statuses[outcome(r)] += 1
            m = r["exec_metrics"]
            if (slip := m["slippage_vs_arrival_bps"]) is not None:
                self.slips.append(slip)
                notional = float(m["vwap"]) * float(m["qty"])
                self.slip_notional += notional
                self.slip_weighted += notional * float(slip)

    def metadata(self, engine: TraderEngine) -> dict[str, Any]:
        """The day's counts (`statuses` by `outcome`) and slippage percentiles, the day's
        fees (`fees_today`), and the portfolio at the day's end: `*_to_date` are totals
        since the first trading day (carried from day to day), `unrealised` the open
        positions marked at the last mids, `drawdown` / `max_drawdown` fractions of the
        peak equity (now, and the deepest so far)."""
        slips = np.array(self.slips)
        st = engine.portfolio_state()
        q = (lambda p: float(np.percentile(slips, p)) if len(slips) else 0.0)  # noqa: E731
        return {
            "fills": self.fills,
            "executions": sum(self.statuses.values()),
            "statuses": {s: self.statuses[s] for s in sorted(self.statuses)},
            "slippage_bps": {"p05": q(5), "p50": q(50), "p95": q(95),
                             "mean": float(slips.mean()) if len(slips) else 0.0},
            "equity": st["equity"], "realised_to_date": st["realised"],
            "unrealised": st["unrealised"], "fees_to_date": st["fees"],
            "funding_to_date": st["funding"], "fees_today": self.fees,
            "peak_equity": st["peak_equity"], "drawdown": st["drawdown"],
            "max_drawdown": st["max_drawdown"], "positions": st["positions"],
            **self.execution(engine),
        }

    def execution(self, engine: TraderEngine) -> dict[str, float | int | None]:
        """How the day's orders met the book (`EXECUTION_REPORT`'s figures): the passive
        and probe records' parts added today (the records now minus as the day began)."""
        day = engine.passive.since(engine.passive_day_start)
        probed = engine.probed.since(engine.probed_day_start)

        def ratio(a: float, b: float) -> float | None:
            return a / b if b > 0 else None

        return {
            "maker_share": ratio(self.maker_fills, self.fills),
            "passive_orders": int(day.orders),
            "passive_fill_rate": ratio(day.filled, day.orders),
            "slippage_vs_arrival_bps": ratio(self.slip_weighted, self.slip_notional),
            "adverse_5s_bps": ratio(day.adverse_5s, day.marked_5s),
            "adverse_60s_bps": ratio(day.adverse_60s, day.marked_60s),
            "passive_fills_marked": int(day.marked_60s),
            "probe_orders": int(probed.orders),
            "probe_fill_rate": ratio(probed.filled, probed.orders),
            "probe_adverse_60s_bps": ratio(probed.adverse_60s, probed.marked_60s),
        }


def day_metadata(table: pd.DataFrame, engine: TraderEngine) -> dict[str, Any]:
    tally = PaperTally()
    tally.add(table)
    return tally.metadata(engine)


SCORE_COLUMNS = ["window", "strategy", "venue", "coin", "executions", "fill_rate",
                 "mean_slippage_bps", "p95_slippage_bps", "mean_adherence", "fees", "pnl"]


def executor_scores(reps: list[dict[str, Any]], window: str) -> pd.DataFrame:
    """Per strategy, venue and coin: fill rate (filled / wanted quantity), mean and 95th
    percentile slippage vs the arrival mid (bps, positive worse), mean adherence, fees, P&L.
    An execution that sent no order (`NOTHING_TO_DO`: the position already at its target)
    is not scored: counted as filled it would raise the fill rate of the strategy that did
    nothing."""
    rows = []
    for r in reps:
        m = r["exec_metrics"]
        if r["status"] == "failed" or outcome(r) == NOTHING_TO_DO:
            continue
        wanted = m["qty"] if r["status"] == "filled" else None
        strategy = m["strategy"] if m["purpose"] == "entry" else f"exit:{m['reason']}"
        rows.append({"strategy": strategy,
                     "venue": r.get("venue", "none"), "coin": r["symbol"],
                     "filled": m["qty"], "wanted": wanted, "status": r["status"],
                     "slip": m["slippage_vs_arrival_bps"], "adh": r["adherence_score"],
                     "fees": m["fees"], "pnl": r["pnl_impact"]})
    if not rows:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    df = pd.DataFrame(rows)
    out = []
    for (s, v, c), g in df.groupby(["strategy", "venue", "coin"], sort=True):
        slips = g["slip"].dropna().to_numpy(float)
        out.append({"window": window, "strategy": s, "venue": v, "coin": c,
                    "executions": len(g), "fill_rate": float((g["status"] == "filled").mean()),
                    "mean_slippage_bps": float(slips.mean()) if len(slips) else np.nan,
                    "p95_slippage_bps": float(np.percentile(slips, 95)) if len(slips) else np.nan,
                    "mean_adherence": float(g["adh"].mean()), "fees": float(g["fees"].sum()),
                    "pnl": float(g["pnl"].sum())})
    return pd.DataFrame(out, columns=SCORE_COLUMNS)
