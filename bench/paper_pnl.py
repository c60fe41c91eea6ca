"""Why the paper P&L is what it is: each day's equity change split into trading P&L
(realised + change in unrealised), fees and funding, with the notional traded behind it.

    .venv/bin/python -m bench paper_pnl [--lake .lotus/lake]

Reads the `paper_trades` partitions of a lake (`make run` writes `.lotus/lake`): the fills
(price, quantity, fee, maker or taker) and each day's final `state` row. Per day:
- traded: the sum of |qty x px| over fills, and turnover = traded / equity at the start;
- trading P&L: change in realised + change in unrealised (before fees and funding);
- fees, funding: their change over the day (paid fees count against the day);
- bps of traded notional for the trading P&L and the fees: the edge per dollar traded
  against what a dollar of trading costs.
Prints a Markdown table (docs/dm.md quotes it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lotus_core.store.lake import Lake
from lotus_core.trader.day_pnl import day_pnl

COLUMNS = ["day", "fills", "taker share", "traded USD", "turnover", "trading P&L",
           "fees", "funding", "net (equity change)", "trading bps of traded",
           "fees bps of traded"]


def day_rows(lake: Lake) -> list[dict[str, Any]]:
    """One dict per paper_trades day, in date order (the split: lotus_core.trader.day_pnl)."""
    out: list[dict[str, Any]] = []
    for day in sorted(lake.days("paper_trades")):
        d = day_pnl(lake, day)
        if d is None:
            continue
        out.append({
            "day": day, "fills": d.fills, "taker share": 1.0 - d.maker_share,
            "traded USD": d.traded, "turnover": d.turnover, "trading P&L": d.gross,
            "fees": d.fees, "funding": d.funding, "net (equity change)": d.net,
            "trading bps of traded": d.gross_bps, "fees bps of traded": d.fees_bps})
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    def cell(k: str, v: Any) -> str:
        if k == "day":
            return str(v)
        if k == "fills":
            return f"{v:,}"
        if k in ("taker share", "turnover"):
            return f"{v:.2f}"
        return f"{v:,.2f}"
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(k, r[k]) for k in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lake", type=Path, default=Path(".lotus/lake"))
    args = ap.parse_args()
    if not (args.lake / "paper_trades").exists():
        raise SystemExit(f"{args.lake}: no paper_trades partitions (run `make run` first)")
    print(markdown(day_rows(Lake(args.lake))))


if __name__ == "__main__":
    main()
