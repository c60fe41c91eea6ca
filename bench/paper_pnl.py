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
import json
from pathlib import Path
from typing import Any

from lotus_core.store.lake import Lake

COLUMNS = ["day", "fills", "taker share", "traded USD", "turnover", "trading P&L",
           "fees", "funding", "net (equity change)", "trading bps of traded",
           "fees bps of traded"]


def _state(table: Any) -> dict[str, Any]:
    return dict(json.loads(table.loc[table["kind"] == "state", "data_json"].iloc[-1]))


def day_rows(lake: Lake) -> list[dict[str, Any]]:
    """One dict per paper_trades day, in date order (positions carry across days)."""
    out: list[dict[str, Any]] = []
    prev: dict[str, Any] | None = None
    for day in sorted(lake.days("paper_trades")):
        table = lake.read("paper_trades", day)
        end = _state(table)
        ps, pf = end["portfolio_state"], end["portfolio"]
        start = (prev["portfolio_state"] if prev is not None else
                 {"equity": pf["initial_equity"], "realised": 0.0, "unrealised": 0.0,
                  "fees": 0.0, "funding": 0.0})
        fills = [json.loads(s) for s in table.loc[table["kind"] == "fill", "data_json"]]
        traded = sum(abs(f["qty"] * f["px"]) for f in fills)
        trading = (ps["realised"] - start["realised"]) + (ps["unrealised"] - start["unrealised"])
        fees = ps["fees"] - start["fees"]
        out.append({
            "day": day, "fills": len(fills),
            "taker share": (sum(f.get("liquidity") == "taker" for f in fills) / len(fills)
                            if fills else float("nan")),
            "traded USD": traded, "turnover": traded / float(start["equity"]),
            "trading P&L": trading, "fees": fees,
            "funding": ps["funding"] - start["funding"],
            "net (equity change)": ps["equity"] - start["equity"],
            "trading bps of traded": 1e4 * trading / traded if traded else float("nan"),
            "fees bps of traded": 1e4 * fees / traded if traded else float("nan")})
        prev = end
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
