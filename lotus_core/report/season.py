"""The season table of paper trading: a planted market and its null twin, each with learning
on and with learning frozen after night 1, over several seeds. Pure functions of the rows
`python -m bench economics --json PATH` keeps (one row per seed, market, arm and night, the
day's paper figures); the bench prints them and the Dagster asset `economics_season` shows
them, from this one definition.

Across seeds: the mean with a 95 % t-interval (`intervals.t_interval`); planted minus null
and learning on minus frozen are paired by seed. The targets and their thresholds are the
ones docs/dm.md states."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lotus_core.intervals import t_interval

MARKETS = ("planted", "null")
ARMS = ("on", "frozen")
FIGURES = ("net", "gross", "fees", "funding", "traded", "maker_share", "fills")
LAST_NIGHTS = 3  # the null twin's turnover target: over the season's last nights
NULL_FLOOR = -0.0005  # the null season's net P&L floor, a share of the starting equity
NULL_TURNOVER = 0.1  # the null twin's late turnover, at most this share of the planted's
RESULTS_NAME = "bench/results/economics_sealed.json"
"""Where the sealed run's rows are kept (repository-relative): what the bench's
`--from-json` re-renders and the asset reads by default."""
ROW_KEYS = frozenset({"seed", "market", "arm", "night", "net", "gross", "fees", "funding",
                      "traded", "fills", "maker_fills", "start_equity"})


class SeasonFileError(ValueError):
    """A kept season file that cannot be read as one (missing, not JSON, rows lacking)."""


def read_kept(path: Path) -> dict[str, Any]:
    """The kept rows of a season run, checked: every row holds the figures the table needs
    and names a known market and arm."""
    if not path.is_file():
        raise SeasonFileError(f"{path}: no season kept there (`python -m bench economics "
                              f"--final --json {path}` writes one)")
    try:
        kept = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SeasonFileError(f"{path}: not JSON ({e})") from e
    if not isinstance(kept, dict) or not isinstance(kept.get("rows"), list):
        raise SeasonFileError(f"{path}: no `rows` list (not a file `bench economics --json` "
                              "wrote)")
    if not kept["rows"]:
        raise SeasonFileError(f"{path}: no rows (no market of the season finished)")
    for i, r in enumerate(kept["rows"]):
        lacking = sorted(ROW_KEYS - set(r))
        if lacking:
            raise SeasonFileError(f"{path}: row {i} lacks {', '.join(lacking)}")
        if r["market"] not in MARKETS or r["arm"] not in ARMS:
            raise SeasonFileError(f"{path}: row {i} names market {r['market']!r} arm "
                                  f"{r['arm']!r} (known: {MARKETS}, {ARMS})")
    return kept


# --- the summary ------------------------------------------------------------------------------


def ci(xs: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of the finite values (NaN where there are none; an interval
    needs two)."""
    x = [float(v) for v in xs if math.isfinite(v)]
    return t_interval(x) if x else (math.nan, math.nan, math.nan)


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Figures of several days of one arm: sums, and maker share as maker fills / fills."""
    fills = sum(r["fills"] for r in rows)
    out = {k: float(sum(r[k] for r in rows)) for k in ("net", "gross", "fees", "funding",
                                                       "traded")}
    return {**out, "fills": float(fills),
            "maker_share": sum(r["maker_fills"] for r in rows) / fills if fills else math.nan}


def by_seed(rows: Sequence[dict[str, Any]], market: str, arm: str,
            nights: Sequence[int] | None = None) -> dict[int, dict[str, float]]:
    """Per seed: `totals` of the arm's days (`nights`: those nights only; None: the season)."""
    picked: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        if r["market"] == market and r["arm"] == arm and (nights is None
                                                           or r["night"] in nights):
            picked.setdefault(r["seed"], []).append(r)
    return {s: totals(rs) for s, rs in sorted(picked.items())}


def paired(a: dict[int, dict[str, float]], b: dict[int, dict[str, float]],
           figure: str = "net") -> tuple[float, float, float]:
    """Mean and 95 % t-interval of a - b over the seeds both hold."""
    return ci([a[s][figure] - b[s][figure] for s in sorted(set(a) & set(b))])


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per night and over the season, each market and arm: every figure's mean and interval
    over seeds; the paired net differences (planted - null per arm, on - frozen per
    market); the targets."""
    nights = sorted({r["night"] for r in rows})
    spans: list[tuple[str, list[int] | None]] = [(str(n), [n]) for n in nights]
    spans.append(("season", None))
    table, diffs = [], []
    for label, span in spans:
        cut = {(m, a): by_seed(rows, m, a, span) for m in MARKETS for a in ARMS}
        for m in MARKETS:
            for a in ARMS:
                table.append({"night": label, "market": m, "arm": a,
                              "seeds": len(cut[m, a]),
                              **{f: ci([t[f] for t in cut[m, a].values()]) for f in FIGURES}})
        diffs.append({"night": label,
                      **{f"planted-null {a}": paired(cut["planted", a], cut["null", a])
                         for a in ARMS},
                      **{f"on-frozen {m}": paired(cut[m, "on"], cut[m, "frozen"])
                         for m in MARKETS}})
    return {"nights": nights, "table": table, "diffs": diffs, "targets": targets(rows)}


def _clear_above(t: tuple[float, float, float]) -> bool | None:
    return None if not math.isfinite(t[1]) else t[1] > 0


def targets(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target: what it asks, the figure, and met (True / False; None: not judged,
    an interval needs two seeds)."""
    nights = sorted({r["night"] for r in rows})
    late = nights[-LAST_NIGHTS:]
    planted, null = by_seed(rows, "planted", "on"), by_seed(rows, "null", "on")
    equity = ci([r["start_equity"] for r in rows if r["night"] == nights[0]])[0]
    p_net = ci([t["net"] for t in planted.values()])
    n_net = ci([t["net"] for t in null.values()])
    p_late = ci([t["traded"] for t in by_seed(rows, "planted", "on", late).values()])[0]
    n_late = ci([t["traded"] for t in by_seed(rows, "null", "on", late).values()])[0]
    on_off = {m: paired(by_seed(rows, m, "on"), by_seed(rows, m, "frozen")) for m in MARKETS}
    floor = NULL_FLOOR * equity
    covers = (None if not math.isfinite(on_off["null"][1])
              else on_off["null"][1] <= 0 <= on_off["null"][2])
    return [
        {"target": "planted season net > 0, interval clear of zero",
         "figure": fmt(p_net) + " USD", "met": _clear_above(p_net)},
        {"target": f"null season net >= {100 * NULL_FLOOR:+.2f} % of equity "
                   f"({floor:+,.2f} USD), mean",
         "figure": fmt(n_net) + " USD",
         "met": None if not math.isfinite(n_net[0]) else n_net[0] >= floor},
        {"target": f"null turnover, last {len(late)} nights < {NULL_TURNOVER:g} x planted's "
                   "(means)",
         "figure": f"{n_late:,.0f} vs {p_late:,.0f} USD",
         "met": None if not (math.isfinite(n_late) and math.isfinite(p_late))
         else n_late < NULL_TURNOVER * p_late},
        {"target": "learning on - frozen, planted season net > 0, interval clear of zero",
         "figure": fmt(on_off["planted"]) + " USD", "met": _clear_above(on_off["planted"])},
        {"target": "learning on - frozen, null season net: interval covers zero",
         "figure": fmt(on_off["null"]) + " USD", "met": covers},
    ]


# --- the report -------------------------------------------------------------------------------


def fmt(t: tuple[float, float, float], spec: str = "+,.2f") -> str:
    m, lo, hi = t
    if not math.isfinite(m):
        return "-"
    return f"{m:{spec}}" + (f" [{lo:{spec}}, {hi:{spec}}]" if math.isfinite(lo) else "")


def _met(v: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not judged (needs >= 2 seeds)"}[v]


def per_night_net(s: dict[str, Any]) -> str:
    """Net P&L by night (mean over seeds), a row per market and arm: the season at a glance
    (`markdown` has every figure of every night with its interval)."""
    nights = [str(n) for n in s["nights"]]
    cell = {(r["night"], r["market"], r["arm"]): r["net"] for r in s["table"]}
    out = ["| market | arm | " + " | ".join(nights) + " |",
           "|---|---|" + "---:|" * len(nights)]
    for m in MARKETS:
        for a in ARMS:
            out.append(f"| {m} | {a} | "
                       + " | ".join(fmt((cell[n, m, a][0], math.nan, math.nan))
                                    for n in nights) + " |")
    return "\n".join(out)


def compact(s: dict[str, Any]) -> str:
    """What BENCHMARKS.md shows (a screen): the season's figures per market and arm, net P&L
    night by night, the season's paired differences and the targets."""
    season = dict(s, table=[r for r in s["table"] if r["night"] == "season"],
                  diffs=[d for d in s["diffs"] if d["night"] == "season"])
    return markdown(season) + "\n\nNet P&L by night (USD, mean over seeds):\n\n" \
        + per_night_net(s)


def markdown(s: dict[str, Any]) -> str:
    """The per-night and season table, the paired differences and the targets."""
    out = ["| night | market | arm | seeds | net P&L | gross P&L | fees | funding | "
           "turnover (USD traded) | maker share | fills |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in s["table"]:
        bold = "**" if r["night"] == "season" else ""
        out.append(f"| {bold}{r['night']}{bold} | {r['market']} | {r['arm']} | {r['seeds']} | "
                   f"{fmt(r['net'])} | {fmt(r['gross'])} | {fmt(r['fees'])} | "
                   f"{fmt(r['funding'])} | {fmt(r['traded'], ',.0f')} | "
                   f"{fmt(r['maker_share'], '.2f')} | {fmt(r['fills'], ',.1f')} |")
    cols = [k for k in s["diffs"][0] if k != "night"]
    out += ["", "Paired net P&L differences (USD), by seed:", "",
            "| night | " + " | ".join(c.replace("-", " - ") for c in cols) + " |",
            "|---|" + "---:|" * len(cols)]
    for d in s["diffs"]:
        out.append(f"| {d['night']} | " + " | ".join(fmt(d[c]) for c in cols) + " |")
    out += ["", "| target | figure | |", "|---|---|---|"]
    out += [f"| {t['target']} | {t['figure']} | {_met(t['met'])} |" for t in s["targets"]]
    return "\n".join(out)


