"""The per-day loop summary `lotus materialize` prints: what the day produced and what the
night learned (active lessons, the priors version and what it changed), plus the
Decision-Maker's and Trader's outputs as soon as their lake tables exist."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click
import numpy as np

from lotus_core.feed.summary import missing_sentence
from lotus_core.store.lake import Lake
from lotus_core.trader.day_pnl import day_pnl

DECISIONS = "dm_decisions"  # contract: one row per ticket


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
    pnl = day_pnl(lake, day)
    if pnl is not None:  # positions carry across midnight: the day's change in equity
        out.update(fills=pnl.fills, maker_share=pnl.maker_share, gross=pnl.gross,
                   fees=pnl.fees, pnl=pnl.net)
        out["pnl_unit"] = "equity change"
    return out


def _change(f: dict[str, Any]) -> str:
    if "priors_ver" not in f:
        return "-"
    if f.get("priors_ver") == f.get("priors_before"):
        return "unchanged"
    return (f"+{f.get('patches_added', 0)} -{f.get('patches_removed', 0)} "
            f"~{f.get('patches_changed', 0)} ({f.get('patches', 0)} patches)")


_GAP = "  "  # between every two columns: no figure ever runs into the next


_Figure = Callable[[dict[str, Any]], str]


def _count(key: str) -> _Figure:
    return lambda f: f"{f[key]:,}" if key in f else "-"


def _usd(key: str) -> _Figure:
    return lambda f: f"{f[key]:+.2f}" if key in f else "-"


# (header, width, right-aligned?, figure) for each column after day and status
_COLUMNS: list[tuple[str, int, bool, _Figure]] = [
    ("coins", 5, True, _count("coins")),
    ("frames", 11, True, _count("frames")),
    ("dead", 9, True, _count("dead_letters")),
    ("windows", 7, True, _count("windows")),
    ("published", 9, True, _count("published")),
    ("explored", 8, True, _count("explored")),
    ("lessons", 7, True, _count("lessons_active")),
    ("proposed", 8, True, _count("lessons_proposed")),
    ("priors", 6, True, lambda f: f"v{f['priors_ver']}" if "priors_ver" in f else "-"),
    ("priors change", 26, False, _change),
]
_TRADING: list[tuple[str, int, bool, _Figure]] = [
    ("decisions", 9, True, _count("decisions")),
    ("fills", 7, True, _count("fills")),
    ("maker", 5, True, lambda f: f"{f['maker_share']:.0%}"
     if f.get("fills") and "maker_share" in f else "-"),
    ("gross P&L", 9, True, _usd("gross")),
    ("fees", 8, True, lambda f: f"{f['fees']:.2f}" if "fees" in f else "-"),
    ("net P&L", 9, True, _usd("pnl")),
]


def _row(cells: list[tuple[str, int, bool]]) -> str:
    return _GAP.join(f"{text:>{w}}" if right else f"{text:<{w}}"
                     for text, w, right in cells).rstrip()


def print_summary(outcomes: Sequence[Any]) -> None:
    """One line per day; trading columns appear once the DM/Trader tables exist. A failed
    day prints "-" for every figure (the lake's figures for it are an earlier run's) and
    its error on the next line; a day whose recording lacks a channel names it, and the
    features it leaves missing, on the next line."""
    trading = any("decisions" in o.figures or "fills" in o.figures for o in outcomes)
    columns = _COLUMNS + (_TRADING if trading else [])
    click.echo(_row([("day", 10, False), ("status", 6, False)]
                    + [(name, w, right) for name, w, right, _ in columns]))
    for o in outcomes:
        f = o.figures if o.success else {}
        click.echo(_row([(o.day, 10, False), ("ok" if o.success else "FAILED", 6, False)]
                        + [(show(f), w, right) for _, w, right, show in columns]))
        if not o.success:
            click.echo(f"{'':10}{_GAP}error: {o.error or 'run failed'}")
        elif f.get("missing_channels"):
            click.echo(f"{'':10}{_GAP}channels: {missing_sentence(f['missing_channels'])}")
    ok = sum(o.success for o in outcomes)
    click.echo(f"{ok}/{len(outcomes)} day(s) materialised; "
               f"{sum(o.figures.get('frames', 0) for o in outcomes):,} frames, "
               f"{sum(o.figures.get('microtape_rows', 0) for o in outcomes):,} MicroTape rows, "
               f"{sum(o.figures.get('dead_letters', 0) for o in outcomes):,} dead letters")
    click.echo("lessons = active after the night, proposed = still gathering evidence; "
               "priors = the patch-set version that scores the next day; next: `make dev` (UI), "
               "`lotus lessons --date D`, `lotus priors diff A B`")
