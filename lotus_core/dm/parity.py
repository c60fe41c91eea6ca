"""Live == nightly for the Decision-Maker's tickets and the paper Trader's fills: the
comparison of the nightly `dm_trader_parity` check (lotus_assets/checks.py), which drives
the daemon's dm and trader loops over the day (`lotus_daemon.lockstep.live_day`) and hands
what they posted and filled here. Pure (no Dagster, no fabric).

Tickets are compared decision by decision (paired by decision_id; the order of the ids is
compared too): the `dm_decisions` columns a ticket carries (ts_ms, coin, action,
execution exactly; target, w0, cost_bps, edge_bps as floats) and then every field of the
ticket (the lake form: without its wall-clock `solve_ms`). Fills are paired by fill_id:
ts_ms, coin, side, venue, liquidity, order and execution ids exactly; px, qty and fee as
floats. Strings that are numbers (the ticket's `audit_refs` figures are strings, as
dm-decision-1.0 requires) compare as floats; every other string, id and time exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lotus_core.dm.alpha import iso_to_ms
from lotus_core.dm.ticket import lake_ticket_json

RTOL = 1e-6
"""Relative tolerance of a float (a weight, a cost or edge in bps, a fill's price, size or
fee). Both sides run the same code on the same inputs, but not in the same summation order
everywhere: the live DM reads the Trader's positions from its JSON snapshot in the fabric,
the nightly from the engine itself, and the allocator's solver takes what it is given to
the last bit. A last-bit difference can move a rounded figure (weights are rounded to 8
decimals, bps to 6) by one unit of its last place: 1e-6 of a figure of 1 bps or more. A
real divergence (another position, price, venue or choice) moves them by far more."""

ATOL = 1e-8
"""Absolute tolerance at zero: one unit of a ticket weight's 8th decimal."""

SHOWN = 5
"""How many mismatches a report names (the counts cover every one)."""

TICKET_EXACT = ("ts_ms", "coin", "action", "execution")
TICKET_FLOATS = ("target", "w0", "cost_bps", "edge_bps")
FILL_EXACT = ("ts_ms", "coin", "side", "venue", "liquidity", "order_id", "execution_id")
FILL_FLOATS = ("px", "qty", "fee")


@dataclass(frozen=True)
class Mismatch:
    """One difference: which ticket (decision_id) or fill (fill_id), which field."""

    kind: str  # "ticket" | "fill"
    key: str
    field: str
    nightly: Any
    live: Any

    def sentence(self) -> str:
        return (f"{self.kind} {self.key} {self.field}: nightly {_short(self.nightly)} "
                f"live {_short(self.live)}")


@dataclass
class TradeParity:
    """What was compared and every difference found (the first `SHOWN` kept whole)."""

    nightly_tickets: int = 0
    live_tickets: int = 0
    compared_tickets: int = 0
    nightly_fills: int = 0
    live_fills: int = 0
    compared_fills: int = 0
    mismatched_tickets: int = 0
    mismatched_fills: int = 0
    order: str | None = None  # where the ids' order first differs
    max_rel_diff: float = 0.0  # over the float fields both sides have
    max_rel_field: str = ""
    shown: list[Mismatch] = field(default_factory=list)
    fields_differing: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return self.mismatched_tickets == 0 and self.mismatched_fills == 0 and \
            self.order is None

    def _add(self, m: Mismatch) -> None:
        if len(self.shown) < SHOWN:
            self.shown.append(m)
        self.fields_differing.add(f"{m.kind}.{m.field}")

    def describe(self) -> str:
        counts = (f"{self.compared_tickets} tickets and {self.compared_fills} fills compared "
                  f"(nightly {self.nightly_tickets} / {self.nightly_fills}, live "
                  f"{self.live_tickets} / {self.live_fills})")
        if self.ok:
            return (f"{counts}: equal (ids, times, sides exactly; floats within rtol "
                    f"{RTOL:g}, max relative difference {self.max_rel_diff:.3g})")
        parts = [f"{self.mismatched_tickets} ticket(s) and {self.mismatched_fills} fill(s) "
                 f"differ"]
        if self.order is not None:
            parts.append(self.order)
        if self.shown:
            parts.append("first: " + "; ".join(m.sentence() for m in self.shown))
        return "; ".join(parts) + f"; {counts}"


def _short(v: Any, n: int = 80) -> str:
    text = repr(v)
    return text if len(text) <= n else text[: n - 3] + "..."


def _number(v: Any) -> float | None:
    """A float for a number or a string that is one (not a bool, not an id-like string)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def rel_diff(a: float, b: float) -> float:
    """|a - b| relative to the larger magnitude (0 when equal, NaN == NaN)."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def close(a: float, b: float) -> bool:
    """Equal within the tolerance (`RTOL` relative, `ATOL` absolute)."""
    return rel_diff(a, b) <= RTOL or abs(a - b) <= ATOL


class _Fields:
    """Compares one ticket's or fill's fields, tallying into the report."""

    def __init__(self, report: TradeParity, kind: str, key: str) -> None:
        self.report, self.kind, self.key = report, kind, key
        self.differs = False

    def exact(self, name: str, nightly: Any, live: Any) -> None:
        if nightly != live:
            self._differ(name, nightly, live)

    def number(self, name: str, nightly: Any, live: Any) -> None:
        a, b = _number(nightly), _number(live)
        if a is None or b is None:
            self.exact(name, nightly, live)
            return
        d = rel_diff(a, b)
        if math.isfinite(d) and d > self.report.max_rel_diff:
            self.report.max_rel_diff, self.report.max_rel_field = d, f"{self.kind}.{name}"
        if not close(a, b):
            self._differ(name, nightly, live)

    def tree(self, path: str, nightly: Any, live: Any) -> None:
        """Every leaf of two parsed JSON values: numbers (and numeric strings) as floats,
        the rest exactly; a key or item on one side only is a difference."""
        if isinstance(nightly, Mapping) and isinstance(live, Mapping):
            for k in sorted(set(nightly) | set(live)):
                sub = f"{path}.{k}" if path else str(k)
                if k not in nightly or k not in live:
                    self._differ(sub, nightly.get(k, "<absent>"), live.get(k, "<absent>"))
                else:
                    self.tree(sub, nightly[k], live[k])
        elif isinstance(nightly, list) and isinstance(live, list):
            if len(nightly) != len(live):
                self._differ(f"{path}[len]", len(nightly), len(live))
            for i, (a, b) in enumerate(zip(nightly, live, strict=False)):
                self.tree(f"{path}[{i}]", a, b)
        else:
            self.number(path, nightly, live)

    def _differ(self, name: str, nightly: Any, live: Any) -> None:
        self.differs = True
        self.report._add(Mismatch(self.kind, self.key, name, nightly, live))


def live_ticket_row(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """The `dm_decisions` columns a posted ticket carries (`decisions_frame`'s, from the
    ticket's own fields: asof_ts, its one target, `audit_refs`)."""
    refs = ticket.get("audit_refs") or {}
    targets = ticket.get("targets") or {}
    coin = next(iter(targets), None)
    return {"decision_id": str(ticket.get("decision_id")),
            "ts_ms": iso_to_ms(str(ticket["asof_ts"])), "coin": coin,
            "action": refs.get("action"), "execution": refs.get("execution"),
            "target": targets.get(coin), "w0": refs.get("w0"),
            "cost_bps": refs.get("cost_bps"), "edge_bps": refs.get("edge_bps")}


def _order(kind: str, nightly: Sequence[str], live: Sequence[str]) -> str | None:
    """Where the ids both sides have first come in another order (None: the same order;
    an id on one side only is counted as missing or extra, not here)."""
    both = set(nightly) & set(live)
    a = [k for k in nightly if k in both]
    b = [k for k in live if k in both]
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            return f"{kind} order differs at #{i}: nightly {x} live {y}"
    return None


def _paired(report: TradeParity, kind: str, id_field: str,
            nightly: Sequence[tuple[str, Mapping[str, Any]]],
            live: Mapping[str, Mapping[str, Any]], where: tuple[str, str],
            fields: Callable[[_Fields, Mapping[str, Any], Mapping[str, Any]], None]) -> int:
    """Each nightly item with the live one of its id, compared field by field (`fields`),
    then the live ids no nightly item has; the items that differ. `where`: how a side's
    missing item is named (live, nightly)."""
    differ, seen = 0, set()
    for key, item in nightly:
        seen.add(key)
        f = _Fields(report, kind, key)
        got = live.get(key)
        if got is None:
            f.exact(id_field, key, where[0])
        else:
            fields(f, item, got)
        differ += f.differs
    for key in live:
        if key not in seen:
            _Fields(report, kind, key).exact(id_field, where[1], key)
            differ += 1
    return differ


def compare_tickets(report: TradeParity, nightly: pd.DataFrame,
                    live: Sequence[Mapping[str, Any]]) -> None:
    """`nightly`: the day's `dm_decisions` (any order; `seq` orders it); `live`: the
    DM_DECISION payloads in the order the dm loop posted them."""
    if "seq" in nightly.columns:
        nightly = nightly.sort_values("seq", kind="stable")
    rows = nightly.to_dict("records")
    report.nightly_tickets, report.live_tickets = len(rows), len(live)
    by_id = {str(t.get("decision_id")): t for t in live}
    report.order = _order("ticket", [str(r["decision_id"]) for r in rows], list(by_id))

    def fields(f: _Fields, r: Mapping[str, Any], ticket: Mapping[str, Any]) -> None:
        report.compared_tickets += 1
        got = live_ticket_row(ticket)
        for name in TICKET_EXACT:
            f.exact(name, r[name], got[name])
        for name in TICKET_FLOATS:
            f.number(name, r[name], got[name])
        f.tree("ticket", json.loads(str(r["ticket_json"])),
               json.loads(lake_ticket_json(json.dumps(dict(ticket)))))

    report.mismatched_tickets += _paired(
        report, "ticket", "decision_id", [(str(r["decision_id"]), r) for r in rows], by_id,
        ("<not posted live>", "<not in dm_decisions>"), fields)


def nightly_fills(paper: pd.DataFrame) -> list[dict[str, Any]]:
    """The fills of a `paper_trades` partition (its `fill` rows' data), in (ts_ms,
    fill_id) order: the order the live loop's store reads them in."""
    fills = [json.loads(t) for t in paper.loc[paper["kind"] == "fill", "data_json"]]
    return sorted(fills, key=lambda f: (int(f["ts_ms"]), str(f["fill_id"])))


def compare_fills(report: TradeParity, nightly: Sequence[Mapping[str, Any]],
                  live: Iterable[Mapping[str, Any]]) -> None:
    """`nightly`: `nightly_fills`; `live`: the trader loop's `trader_fills` rows."""
    live = list(live)
    report.nightly_fills, report.live_fills = len(nightly), len(live)
    by_id = {str(f["fill_id"]): f for f in live}
    order = _order("fill", [str(f["fill_id"]) for f in nightly], list(by_id))
    if report.order is None:
        report.order = order

    def fields(f: _Fields, n: Mapping[str, Any], got: Mapping[str, Any]) -> None:
        report.compared_fills += 1
        for name in FILL_EXACT:
            f.exact(name, n.get(name), got.get(name))
        for name in FILL_FLOATS:
            f.number(name, n.get(name), got.get(name))

    report.mismatched_fills += _paired(
        report, "fill", "fill_id", [(str(n["fill_id"]), n) for n in nightly], by_id,
        ("<not filled live>", "<not in paper_trades>"), fields)


def compare_day(decisions: pd.DataFrame, paper: pd.DataFrame,
                live_tickets: Sequence[Mapping[str, Any]],
                live_fills: Iterable[Mapping[str, Any]]) -> TradeParity:
    """The day's nightly `dm_decisions` and `paper_trades` against what the live loops
    posted and filled."""
    report = TradeParity()
    compare_tickets(report, decisions, live_tickets)
    compare_fills(report, nightly_fills(paper), live_fills)
    return report
