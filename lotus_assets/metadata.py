"""Helpers that turn a stage's headline scalars into numeric metadata (Dagster plots those
by partition) and its tables into Markdown (rendered in the asset's materialisation panel).
`dagster/row_count` and `dagster/column_schema` come from the lake IO manager
(`lotus_resources.table_metadata`) for every table.

Every figure Lotus hands to Dagster goes through one rounding policy, `figure` (and
`rounded` for a whole metadata dict): see `figure`'s docstring."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from lotus_core.report.tables import EvalTally, markdown_table

SIGNIFICANT_DIGITS = 6
"""Significant digits of every float shown as metadata or in a metadata table."""
USD_DECIMALS = 2
"""Decimals of money: a figure or table column named `*_usd`, and `usd`'s text."""


def is_money(name: str) -> bool:
    """A figure or column named `*_usd` is money in USD (2 decimals)."""
    return str(name).endswith("_usd")


def figure(v: float | None, money: bool = False) -> float | None:
    """The one rounding policy of the researcher's surface: every float shown as metadata (a
    value, a cell of a metadata table, a number inside a dict, list or JSON value) is
    rounded to 6 significant digits (`float(f"{v:.6g}")`: 0.4908839141472421 ->
    0.490884, 1.44700121 -> 1.447, 0.0011307422461614399 -> 0.00113074, 351643.0 stays),
    never to fewer than 2 decimals (an equity of 99851.0234 plots as 99851.02, not 99851.0);
    money in USD (`money`: a figure or column named `*_usd`) to 2 decimals, and as text
    with its unit through `usd` (`99,851.02 USD`); NaN and infinities are not shown (None:
    a key is dropped, a cell or nested value is empty). Integers and booleans stay what
    they are (`rounded`). No sign is forced on a figure (a rate is `0.18`, not `+0.18`).
    Markdown tables (`lotus_core.report.tables.markdown_table`) print 2 decimals, a sign
    only on columns that are differences."""
    if v is None:
        return None
    x = float(v)
    if not math.isfinite(x):
        return None
    if money or abs(x) >= 10.0 ** (SIGNIFICANT_DIGITS - USD_DECIMALS):
        out = round(x, USD_DECIMALS)
    else:
        out = float(f"{x:.{SIGNIFICANT_DIGITS}g}")
    return out + 0.0  # -0.0 -> 0.0


def _shown(v: Any, name: str = "") -> Any:
    """A raw metadata value (or a part of one) with the policy applied; None for a float
    that is not finite."""
    if isinstance(v, dg.MetadataValue):  # text, Markdown, a path ... (shown: the numbers)
        return v
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return figure(float(v), is_money(name))
    if isinstance(v, Mapping):
        return {k: _shown(x, str(k)) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_shown(x, name) for x in v]
    return v


def shown(v: Any, name: str = "") -> Any:
    """One metadata value under the policy (`figure`), `name` its key (`*_usd`: money):
    a float, a dict or list of numbers (Dagster shows it as JSON), or a Dagster float,
    JSON or table value; anything else as it is. None: a float that is not shown."""
    if isinstance(v, dg.FloatMetadataValue):
        x = figure(v.value, is_money(name))
        return None if x is None else dg.MetadataValue.float(x)
    if isinstance(v, dg.JsonMetadataValue):
        return dg.MetadataValue.json(_shown(v.data, name))
    if isinstance(v, dg.TableMetadataValue):
        return dg.MetadataValue.table(
            [dg.TableRecord({c: _shown(x, c) for c, x in r.data.items()}) for r in v.records],
            schema=v.schema)
    return _shown(v, name)


def rounded(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A metadata dict as Dagster should get it: every float in it (nested too) under the
    policy (`figure`); a top-level float that is not finite is left out."""
    out: dict[str, Any] = {}
    for key, v in meta.items():
        x = shown(v, key)
        if x is None and v is not None:
            continue
        out[key] = x
    return out


def numeric(values: Mapping[str, float | int | None]) -> dict[str, Any]:
    """Scalars as numeric metadata (int or float under `figure`'s policy; NaN/None
    skipped): plotted by partition."""
    out: dict[str, Any] = {}
    for key, v in values.items():
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_, int, np.integer)):
            out[key] = dg.MetadataValue.int(int(v))
        elif (x := figure(float(v), is_money(key))) is not None:
            out[key] = dg.MetadataValue.float(x)
    return out


def md(text: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(text)


def usd(v: float) -> dg.MetadataValue:
    """Money as text with its unit and thousands separators (`99,851.02 USD`)."""
    return dg.MetadataValue.text(f"{v:,.{USD_DECIMALS}f} USD")


def _cell(v: object, column: str = "") -> str | int | float | bool | None:
    """A table cell under the policy (`_shown`; a `*_usd` column is money); anything that
    is not a number, as text."""
    out = None if v is None else _shown(v, column)
    return out if out is None or isinstance(out, bool | int | float) else str(v)


def _type(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "bool"
    if pd.api.types.is_integer_dtype(s):
        return "int"
    if pd.api.types.is_float_dtype(s):
        return "float"
    return "string"


def schema(df: pd.DataFrame, descriptions: Mapping[str, str]) -> dg.TableSchema:
    """Every column of `df` with its type and what it means."""
    return dg.TableSchema(columns=[dg.TableColumn(name=str(c), type=_type(df[c]),
                                                  description=descriptions.get(str(c)))
                                   for c in df.columns])


def table_of(df: pd.DataFrame, descriptions: Mapping[str, str],
             max_rows: int = 50) -> dg.MetadataValue:
    """The rows of `df` (the first `max_rows`, floats under `figure`'s policy: 6
    significant digits, a `*_usd` column 2 decimals) as a Dagster table with a described
    schema: the UI shows rows, not just column names."""
    head = df.head(max_rows)
    names = [str(c) for c in head.columns]
    records = [dg.TableRecord({c: _cell(v, c) for c, v in zip(names, row, strict=True)})
               for row in head.itertuples(index=False)]
    return dg.MetadataValue.table(records, schema=schema(df, descriptions))


# --- each stage's own story (short calls from the asset modules) ---------------------------

def lessons_story(out: pd.DataFrame, previous: pd.DataFrame | None) -> dict[str, Any]:
    """The night's active and changed lessons as a table and a forest plot, plus counts."""
    from lotus_core.report.columns import LESSONS
    from lotus_core.report.tables import lessons_forest, lessons_table, night_lessons

    state = out["state"].astype(str) if len(out) else pd.Series(dtype="str")
    changed = night_lessons(out, previous) if len(out) else out
    meta = numeric({"lessons_active": int((state == "active").sum()),
                    "lessons_proposed": int((state == "proposed").sum()),
                    "lessons_changed": int((changed["state"] != "active").sum())
                    if len(changed) else 0})
    meta["lessons_table"] = md(lessons_table(out, previous))
    meta["lessons_forest"] = md(lessons_forest(out, previous))
    meta["lessons_columns"] = dg.MetadataValue.table_schema(schema(out, LESSONS))
    return meta


def braids_story(out: pd.DataFrame) -> dict[str, Any]:
    from lotus_core.report.tables import braids_table

    active = out[out["state"] == "active"] if len(out) else out
    meta = numeric({"braids_active": len(active)})
    meta["braids_table"] = md(braids_table(out))
    return meta


def priors_story(out: pd.DataFrame) -> dict[str, Any]:
    from lotus_core.report.tables import priors_diff, priors_table

    d = priors_diff(out)
    patch = out[out["kind"] == "patch"] if len(out) else out
    meta = numeric({"patches_after": int(patch["after_value"].notna().sum()) if len(out) else 0,
                    "keys_changed": len(d)})
    meta["priors_diff"] = md(priors_table(out))
    return meta


def eval_story(tally: EvalTally) -> dict[str, Any]:
    """Hit rates and net returns by detector and horizon as a table; the published hit rate
    and net return per horizon as numbers (plotted by partition). From signal_eval's rows
    folded (`EvalTally`): the step never holds the day's rows."""
    meta: dict[str, Any] = {"hit_rates_table": md(markdown_table(
        tally.hit_rates(), max_rows=80, signed=("mean_net_bps", "published_net_bps")))}
    published = tally.per_horizon(published=True)
    for h, (n, hits, net) in published.items():
        meta.update(numeric({f"published_hit_rate_{h}s": hits / n,
                             f"published_net_bps_{h}s": net / n}))
    n = sum(k for k, _, _ in published.values())
    meta.update(numeric({"published_hit_rate": sum(h for _, h, _ in published.values()) / n
                         if n else None,
                         "pending_rows": sum(v for k, v in tally.status.items()
                                             if k != "done")}))
    return meta


# --- the Decision-Maker and the paper Trader ---------------------------------------------

TICKETS_SHOWN = 50
FILLS_SHOWN = 50


def _clock(ts_ms: pd.Series) -> list[str]:
    return pd.to_datetime(ts_ms.astype("int64"), unit="ms", utc=True).dt.strftime(
        "%H:%M:%S").tolist()


def _hours(ts_ms: pd.Series, day: str) -> np.ndarray:
    start = pd.Timestamp(day, tz="UTC").value // 1_000_000
    return (ts_ms.to_numpy(dtype=np.int64) - start) / 3_600_000.0


STORY_COLUMNS = ["ts_ms", "coin", "action", "target", "w0"]
"""What `dm_story` reads of every ticket (a ticket's notes are read for the rows shown)."""


def dm_story(table: pd.DataFrame, day: str,
             notes: Callable[[np.ndarray], list[str]] | None = None) -> dict[str, Any]:
    """The day's tickets as rows (time, coin, action, target, w0, reason) and a plot of the
    target weight per coin through the trading day, trades marked. `table`: the tickets'
    STORY_COLUMNS (or all); `notes(positions)`: the reasons of the tickets at those row
    positions (default: from `table`'s ticket_json)."""
    from lotus_core.dm.joint_tables import ticket_notes
    from lotus_core.report.columns import DM_TICKETS
    from lotus_core.report.svg import coin_colour, image_md, timeline

    if notes is None:
        def notes(at: np.ndarray) -> list[str]:
            return ticket_notes(table["ticket_json"].iloc[at])

    view = pd.DataFrame({"time": _clock(table["ts_ms"]), "coin": table["coin"].astype(str),
                         "action": table["action"].astype(str),
                         "target": table["target"].astype(float),
                         "w0": table["w0"].astype(float),
                         "change": (table["target"] - table["w0"]).astype(float)})
    trades = view[view["action"] == "trade"]
    shown = pd.concat([trades, view[view["action"] != "trade"]]).head(TICKETS_SHOWN) \
        .sort_index() if len(view) > TICKETS_SHOWN else view
    shown = shown.assign(reason=notes(shown.index.to_numpy()))
    hours = _hours(table["ts_ms"], day)
    series, marks = {}, {}
    for coin in sorted(view["coin"].unique()):
        m = (view["coin"] == coin).to_numpy()
        t = (view["action"] == "trade").to_numpy() & m
        series[coin] = (hours[m].tolist(), view.loc[m, "target"].tolist())
        marks[coin] = (hours[t].tolist(), view.loc[t, "target"].tolist())
    lo = float(np.floor(hours.min())) if len(hours) else 0.0
    hi = float(np.ceil(hours.max())) if len(hours) else 24.0
    svg = timeline(series, f"DM target weight per coin, {day}", "hour of the trading day (UTC)",
                   "target weight (fraction of equity)",
                   {c: coin_colour(c) for c in series}, marks,
                   (lo, hi if hi > lo else lo + 1.0), "ticket that trades")
    return {
        "tickets_table": table_of(shown, DM_TICKETS, TICKETS_SHOWN),
        "tickets_shown": dg.MetadataValue.text(
            f"{len(shown)} of {len(view)} tickets ({len(trades)} trades"
            + (", trades first, then holds, in time order)" if len(view) > TICKETS_SHOWN
               else ", in time order)")),
        "targets_plot": md(image_md(svg, "DM target weights through the day")),
    }


def _state(rows: pd.DataFrame) -> dict[str, Any] | None:
    import json

    st = rows[rows["kind"] == "state"]
    return dict(json.loads(st["data_json"].iloc[-1])) if len(st) else None


def equity_by_day(store: Any, day: str, today: pd.DataFrame,
                  days_back: int = 30) -> pd.DataFrame:
    """End-of-day paper equity and the day's P&L for the last `days_back` trading days up
    to `day`, read from the lake's earlier paper_trades partitions (today's from `today`).
    P&L is the equity change vs the previous day's end (the initial equity on a flat
    start), as `lotus materialize` prints it."""
    earlier = sorted(d for d in store.days("paper_trades") if d < day)[-days_back:]
    rows: list[dict[str, Any]] = []
    prev_end: float | None = None
    for d in [*earlier, day]:
        frame = today if d == day else store.read("paper_trades", d,
                                                  columns=["kind", "data_json"])
        st = _state(frame)
        if st is None:
            continue
        end = float(st["portfolio_state"]["equity"])
        start = prev_end if prev_end is not None else float(st["portfolio"]["initial_equity"])
        rows.append({"day": d, "equity_usd": end, "day_pnl_usd": end - start,
                     "fills": int((frame["kind"] == "fill").sum())})
        prev_end = end
    out = pd.DataFrame(rows, columns=["day", "equity_usd", "day_pnl_usd", "fills"])
    return out.tail(days_back).reset_index(drop=True)


def paper_story(table: pd.DataFrame, meta: Mapping[str, Any], store: Any,
                day: str) -> dict[str, Any]:
    """The Trader's day for a person: money rounded with units, the day's P&L and fees,
    totals since the first trading day named `*_to_date_usd`, the drawdown in percent of
    the peak equity, what the counts count, the fills as rows and the equity curve across
    trading days (`rounded`: the surface's rounding policy)."""
    import json

    from lotus_core.report.columns import EQUITY, FILLS
    from lotus_core.report.svg import image_md, lines

    fills = table[table["kind"] == "fill"]
    data = [json.loads(s) for s in fills["data_json"]]
    view = pd.DataFrame({
        "time": _clock(fills["ts_ms"]), "coin": [str(f.get("coin", "")) for f in data],
        "side": ["buy" if int(f.get("side", 0)) > 0 else "sell" for f in data],
        "qty": [float(f.get("qty", np.nan)) for f in data],
        "px": [float(f.get("px", np.nan)) for f in data],
        "notional_usd": [float(f.get("qty", np.nan)) * float(f.get("px", np.nan))
                         for f in data],
        "fee_usd": [float(f.get("fee", np.nan)) for f in data],
        "liquidity": [str(f.get("liquidity", "")) for f in data],
        "venue": [str(f.get("venue", "")) for f in data]},
        columns=list(FILLS))
    curve = equity_by_day(store, day, table)
    pnl = float(curve["day_pnl_usd"].iloc[-1]) if len(curve) else 0.0
    labels = [d[5:] for d in curve["day"]]
    svg = lines(labels, {"end-of-day equity": curve["equity_usd"].tolist()},
                f"Paper equity at the end of each trading day, up to {day}", "equity (USD)",
                colours={"end-of-day equity": "#1f77b4"}, value_format="thousands")
    pnl_svg = lines(labels, {"day P&L": curve["day_pnl_usd"].tolist()},
                    f"Paper P&L per trading day, up to {day}", "P&L (USD per day)",
                    reference=0.0, colours={"day P&L": "#2ca02c"},
                    reference_label="zero", value_format="thousands")
    dd, max_dd = float(meta["drawdown"]), float(meta["max_drawdown"])
    out: dict[str, Any] = {
        "equity": dg.MetadataValue.float(float(meta["equity"])),
        "equity_usd": usd(float(meta["equity"])),
        "day_pnl": dg.MetadataValue.float(pnl),
        "day_pnl_usd": usd(pnl),
        "fills": dg.MetadataValue.int(int(meta["fills"])),
        "execution_reports": dg.MetadataValue.int(int(meta["executions"])),
        "counts_explained": dg.MetadataValue.text(
            "fills: fill events (one per venue fill of an order slice); execution_reports: "
            "one per execution the Trader finished (an entry plan or an exit), whatever its "
            "outcome; statuses counts them by outcome: filled (traded to its target), "
            "partial, cancelled (nothing filled), failed (refused), already_at_target "
            "(nothing to trade, no order sent): most tickets that end without trading "
            "still report once"),
        "realised_to_date_usd": usd(float(meta["realised_to_date"])),
        "unrealised_at_day_end_usd": usd(float(meta["unrealised"])),
        "fees_to_date_usd": usd(float(meta["fees_to_date"])),
        "funding_to_date_usd": usd(float(meta["funding_to_date"])),
        "fees_today_usd": usd(float(meta["fees_today"])),
        "peak_equity_usd": usd(float(meta["peak_equity"])),
        "drawdown_pct": dg.MetadataValue.float(round(100.0 * dd, 4)),
        "max_drawdown_pct": dg.MetadataValue.float(round(100.0 * max_dd, 4)),
        "figures_explained": dg.MetadataValue.text(
            "at the day's end: *_to_date_usd are totals since the paper Trader's first "
            "trading day (carried from day to day; funding received, negative: paid); "
            "unrealised_at_day_end_usd the open positions marked at the day's last mids; "
            "fees_today_usd the fees of this day's fills; day_pnl the equity change over "
            "the day; drawdown_pct the equity below its peak so far (peak_equity_usd), "
            f"percent of that peak ({100.0 * dd:.2f} %), max_drawdown_pct the deepest so "
            f"far ({100.0 * max_dd:.2f} %)"),
        "slippage_bps": dict(meta["slippage_bps"]),
        "fills_table": table_of(view, FILLS, FILLS_SHOWN),
        "equity_by_day": table_of(curve, EQUITY, 30),
        "equity_curve": md(image_md(svg, "paper equity by trading day")),
        "pnl_by_day": md(image_md(pnl_svg, "paper P&L by trading day")),
    }
    return rounded(out)
