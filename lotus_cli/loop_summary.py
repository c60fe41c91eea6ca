"""The per-day loop summary `lotus materialize` prints: what the day produced and what the
night learned (active lessons, the priors version and what it changed), plus the
Decision-Maker's and Trader's outputs as soon as their lake tables exist."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
import numpy as np

from lotus_core.store.lake import Lake

DECISIONS = "dm_decisions"  # contract: one row per ticket
TRADES = "paper_trades"     # the Trader's records; its `state` row holds the portfolio state


def _end_state(lake: Lake, day: str) -> dict[str, Any] | None:
    """The paper portfolio at the end of `day` (the Trader's `state` row), if it ran."""
    if not lake.exists(TRADES, day):
        return None
    rows = lake.read(TRADES, day, columns=["kind", "data_json"])
    state = rows[rows["kind"] == "state"]
    return json.loads(state["data_json"].iloc[-1]) if len(state) else None


def loop_figures(lake: Lake, day: str) -> dict[str, Any]:
    """What the night changed and the trading hooks (only the keys that exist)."""
    out: dict[str, Any] = {}
    if lake.exists("lessons", day):
        state = lake.read("lessons", day, columns=["state"])["state"]
        out["lessons_proposed"] = int((state == "proposed").sum())
    if lake.exists("active_priors", day):
        snap = lake.read("active_priors", day)
        patch = snap[snap["kind"] == "patch"]
        b, a = patch["before_value"], patch["after_value"]
        out["priors_before"] = int(snap["before_ver"].iloc[0]) if len(snap) else 0
        out["patches"] = int(a.notna().sum())
        out["patches_added"] = int((b.isna() & a.notna()).sum())
        out["patches_removed"] = int((b.notna() & a.isna()).sum())
        out["patches_changed"] = int((b.notna() & a.notna() & ~np.isclose(
            b.fillna(0).to_numpy(), a.fillna(0).to_numpy(), rtol=0, atol=0)).sum())
    if lake.exists(DECISIONS, day):
        out["decisions"] = len(lake.read(DECISIONS, day, columns=["decision_id"]))
    if lake.exists(TRADES, day):
        kinds = lake.read(TRADES, day, columns=["kind"])["kind"]
        out["fills"] = int((kinds == "fill").sum())
        end = _end_state(lake, day)
        if end is not None:  # positions carry across midnight: the day's change in equity
            prev = _end_state(lake, str(np.datetime64(day) - np.timedelta64(1, "D")))
            start = (prev["portfolio_state"]["equity"] if prev is not None
                     else end["portfolio"]["initial_equity"])
            out["pnl"] = float(end["portfolio_state"]["equity"]) - float(start)
            out["pnl_unit"] = "equity change"
    return out


def _change(f: dict[str, Any]) -> str:
    if "priors_ver" not in f:
        return "-"
    if f.get("priors_ver") == f.get("priors_before"):
        return "unchanged"
    return (f"+{f.get('patches_added', 0)} -{f.get('patches_removed', 0)} "
            f"~{f.get('patches_changed', 0)} ({f.get('patches', 0)} patches)")


def print_summary(outcomes: Sequence[Any]) -> None:
    """One line per day; trading columns appear once the DM/Trader tables exist."""
    trading = any("decisions" in o.figures or "fills" in o.figures for o in outcomes)
    head = (f"{'day':<12}{'status':<8}{'coins':>6}{'frames':>11}{'dead':>6}{'windows':>9}"
            f"{'published':>10}{'lessons':>9}{'proposed':>9}{'priors':>8}  {'priors change':<26}")
    if trading:
        head += f"{'decisions':>10}{'fills':>7}{'paper P&L':>11}"
    click.echo(head)
    for o in outcomes:
        f = o.figures
        line = (f"{o.day:<12}{'ok' if o.success else 'FAILED':<8}{f.get('coins', 0):>6}"
                f"{f.get('frames', 0):>11,}{f.get('dead_letters', 0):>6,}"
                f"{f.get('windows', 0):>9,}{f.get('published', 0):>10,}"
                f"{f.get('lessons_active', 0):>9,}{f.get('lessons_proposed', 0):>9,}"
                f"{'v' + str(f['priors_ver']) if 'priors_ver' in f else '-':>8}  "
                f"{_change(f):<26}")
        if trading:
            pnl = f"{f['pnl']:+.2f}" if "pnl" in f else "-"
            line += f"{f.get('decisions', 0):>10,}{f.get('fills', 0):>7,}{pnl:>11}"
        click.echo(line)
    ok = sum(o.success for o in outcomes)
    click.echo(f"{ok}/{len(outcomes)} day(s) materialised; "
               f"{sum(o.figures.get('frames', 0) for o in outcomes):,} frames, "
               f"{sum(o.figures.get('microtape_rows', 0) for o in outcomes):,} MicroTape rows, "
               f"{sum(o.figures.get('dead_letters', 0) for o in outcomes):,} dead letters")
    click.echo("lessons = active after the night, proposed = still gathering evidence; "
               "priors = the patch-set version that scores the next day; next: `make dev` (UI), "
               "`lotus lessons --date D`, `lotus priors diff A B`")
