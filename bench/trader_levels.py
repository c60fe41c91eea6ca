# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""Lotus's paper fills beside hftbacktest's, order by order and level by level.

Shared by bench/trader.py (one day, sparse decisions) and bench/trader_busy.py (busy
books). Input: Lotus's orders (`orders_of`), hftbacktest's result for the same orders
(bench/trader_hft.py: per order its response fields, per market order the levels its
exchange filled, taken from its own depth at the matching instant and checked against its
response), and the day's snapshots (to name why a level differs).

Market orders: every order that walked several levels in either engine is compared level
by level (price, quantity); none is left out. A difference is put down to the first level
where the two walks part, by a named rule (`RULES`); anything no rule explains is counted
as `unexplained`. Limit orders: filled fraction and time of the last fill, with margins.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from bench.report import wrap

RULES = {
    "stale_level": "hftbacktest filled at a price the arrival snapshot does not show: a level an earlier frame left in its diff-built depth",
    "stale_size": "same price, different size: hftbacktest's depth still holds an earlier frame's size at that price (the fast 5-level frame does not refresh the slow 20-level frame's deeper levels)",
    "beyond_snapshot": "the arrival snapshot (a 5-level fast frame) ran out; hftbacktest went on into deeper levels an earlier 20-level frame left",
    "crossed_stale": "hftbacktest's best price was past levels the snapshot shows (its depth still held them): stale levels of the other side, left by earlier frames, crossed the snapshot's prices and HashMapMarketDepth moves a best tick past a cross (update_bid_depth / update_ask_depth)",
    "missing_level": "Lotus filled at a snapshot level hftbacktest's walk never reached",
    "hft_100_ticks": "hftbacktest's market order stops 100 ticks past the best price and expires the rest (PartialFillExchange::ack_new)",
    "lotus_cap": "Lotus stopped at its slippage cap (mid ± max_slippage_bps) and cancelled the rest",
    "lot_rounding": "the same levels, quantities differ by less than one lot (hftbacktest rounds sizes to the lot in `hyperliquid.convert` and calls an order FILLED when under half a lot is left)",
    "taken_earlier": "an earlier paper order took part of this snapshot's level (Lotus never lets two orders take the same liquidity; hftbacktest's depth is not depleted by fills)",
    "unexplained": "no rule above",
}


def _snapshot_at(day: Any, coin: str, ts_ms: int, cache: dict) -> tuple[list, list, list, list]:
    """The last snapshot of `coin` received at or before `ts_ms` (what Lotus matched)."""
    if coin not in cache:
        meta = day.books.meta
        rows = np.flatnonzero(meta["coin"].astype(str).to_numpy() == coin)
        cache[coin] = (rows, meta["recv_ts_ms"].to_numpy(np.int64)[rows])
    rows, ts = cache[coin]
    j = int(np.searchsorted(ts, ts_ms, "right")) - 1
    return day.books.levels(int(rows[j])) if j >= 0 else ([], [], [], [])


def _same(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol


def classify(lotus: list[tuple[float, float]], hft: list[tuple[float, float]],
             snap_px: list[float], snap_sz: list[float], side: int, tick: float, lot: float,
             lotus_capped: bool, hft_best: float | None) -> tuple[str, int, int]:
    """(rule, levels compared, levels identical) for one market order's two walks."""
    half = 0.5 * tick
    qtol = 1e-9 * max(1.0, max((q for _, q in lotus + hft), default=1.0))
    n = max(len(lotus), len(hft))
    same = sum(1 for (lp, lq), (hp, hq) in zip(lotus, hft, strict=False)
               if _same(lp, hp, half) and _same(lq, hq, qtol))
    if same == n and len(lotus) == len(hft):
        return "identical", n, same
    size_at = {round(p / tick): s for p, s in zip(snap_px, snap_sz, strict=True)}
    for i in range(n):
        lv = lotus[i] if i < len(lotus) else None
        hv = hft[i] if i < len(hft) else None
        if lv is not None and hv is not None and _same(lv[0], hv[0], half) and _same(lv[1], hv[1], qtol):
            continue
        if hv is None:  # hftbacktest stopped first
            assert lv is not None
            if hft_best is not None and abs(lv[0] - hft_best) / tick > 99.5:
                return "hft_100_ticks", n, same
            if abs(sum(q for _, q in lotus) - sum(q for _, q in hft)) < lot:
                return "lot_rounding", n, same
            return "missing_level", n, same
        if lv is None:  # Lotus stopped first
            if lotus_capped:
                return "lotus_cap", n, same
            if abs(sum(q for _, q in lotus) - sum(q for _, q in hft)) < lot:
                return "lot_rounding", n, same
            return ("beyond_snapshot" if (side > 0 and hv[0] > snap_px[-1] + half)
                    or (side < 0 and hv[0] < snap_px[-1] - half) else "unexplained"), n, same
        hk, lk = round(hv[0] / tick), round(lv[0] / tick)
        if hk != lk:
            if hk not in size_at:
                better = (hk < lk) if side > 0 else (hk > lk)
                if better or not snap_px:
                    return "stale_level", n, same
                beyond = (hv[0] > snap_px[-1] + half) if side > 0 else (hv[0] < snap_px[-1] - half)
                return ("beyond_snapshot" if beyond else "stale_level"), n, same
            skipped = (hk > lk) if side > 0 else (hk < lk)  # hft's price worse than Lotus's
            return ("crossed_stale" if skipped else "missing_level"), n, same
        # same price, different quantity
        if abs(lv[1] - hv[1]) < lot * (1 - 1e-9):
            return "lot_rounding", n, same
        snap = size_at.get(lk)
        if snap is not None and lv[1] < snap - qtol and i < len(lotus) - 1:
            return "taken_earlier", n, same
        if snap is not None and not _same(hv[1], min(snap, hv[1] + lv[1]), qtol):
            return "stale_size", n, same
        if snap is not None and lv[1] < snap - qtol and i == len(lotus) - 1 and lotus_capped:
            return "lotus_cap", n, same
        return "stale_size", n, same
    return "unexplained", n, same


def compare_market(orders: list[dict], hft_orders: list[list[float]], hft_levels: list[list[float]],
                   day: Any, coin: str, tick: float, lot: float, latency_ms: int,
                   out: dict[str, Any]) -> None:
    """Add one coin's market orders to `out` (counts by rule, levels compared)."""
    walks: dict[int, list[tuple[float, float]]] = {}
    for k, t, q, ts in hft_levels:
        walks.setdefault(int(k), []).append((float(t) * ts, float(q)))
    cache: dict = {}
    for k, (o, h) in enumerate(zip(orders, hft_orders, strict=True)):
        if o["kind"] != "market":
            continue
        out["n"] += 1
        lw = [(f["px"], f["qty"]) for f in o["fills"]]
        hw = walks.get(k, [])
        hq = h[0] if h[0] == h[0] else 0.0
        # hftbacktest's walk (its depth, its loop) against its own response
        if hw:
            tot_ok = abs(sum(q for _, q in hw) - hq) <= 1e-9 * max(hq, 1.0)
            last_ok = abs(hw[-1][0] - h[1]) <= 0.5 * tick and abs(hw[-1][1] - h[2]) <= 1e-9 * max(h[2], 1.0)
            out["walk_checked"] += 1
            out["walk_matches_response"] += tot_ok and last_ok
        elif hq <= 0:
            out["walk_checked"] += 1
            out["walk_matches_response"] += 1
        lq, hq2 = sum(q for _, q in lw), sum(q for _, q in hw)
        out["same_qty"] += abs(lq - hq2) <= 1e-9 * max(lq, 1.0)
        multi = len(lw) > 1 or len(hw) > 1
        if not multi:
            out["single"] += 1
            if lw and hw:
                same = abs(lw[0][0] - hw[0][0]) < 0.5 * tick and abs(lw[0][1] - hw[0][1]) <= 1e-9 * max(lq, 1.0)
                out["single_identical"] += same
                if not same:
                    bid_px, bid_sz, ask_px, ask_sz = _snapshot_at(day, coin, o["arrive_ms"], cache)
                    px, sz = (ask_px, ask_sz) if o["side"] > 0 else (bid_px, bid_sz)
                    rule, _, _ = classify(lw, hw, px, sz, o["side"], tick, lot,
                                          o.get("reason") == "slippage_cap", hw[0][0] if hw else None)
                    out["single_rules"][rule] += 1
            elif not lw and not hw:
                out["single_identical"] += 1
            else:
                out["single_rules"]["lotus_cap" if not lw else "unexplained"] += 1
            continue
        out["multi"] += 1
        bid_px, bid_sz, ask_px, ask_sz = _snapshot_at(day, coin, o["arrive_ms"], cache)
        px, sz = (ask_px, ask_sz) if o["side"] > 0 else (bid_px, bid_sz)
        rule, n, same = classify(lw, hw, px, sz, o["side"], tick, lot,
                                 o.get("reason") == "slippage_cap", hw[0][0] if hw else None)
        out["rules"][rule] += 1
        out["levels"] += n
        out["levels_identical"] += same
        if rule not in ("identical",) and len(out["examples"]) < 3 and rule != "stale_size":
            out["examples"].append({"coin": coin, "arrive_ms": o["arrive_ms"], "side": o["side"],
                                    "rule": rule, "lotus": lw[:4], "hft": hw[:4],
                                    "snapshot": list(zip(px[:4], sz[:4], strict=False))})


def new_market() -> dict[str, Any]:
    return {"n": 0, "single": 0, "single_identical": 0, "single_rules": Counter(), "multi": 0,
            "rules": Counter(), "levels": 0, "levels_identical": 0, "same_qty": 0,
            "walk_checked": 0, "walk_matches_response": 0, "examples": []}


def _lotus_cause(o: dict, f: dict, trades: dict, day: Any, cache: dict) -> str:
    """How Lotus's first fill of a limit order came: the book crossed it, a trade went
    through its price, trades ate its queue, or cancellations ahead of it did."""
    coin, ts, lp, tick = o["coin"], f["ts_ms"], o["limit_px"], o["tick"]
    tr = trades.get((coin, ts))
    if tr:
        through = any((p < lp - 0.5 * tick) if o["side"] > 0 else (p > lp + 0.5 * tick) for p, _ in tr)
        if through:
            return "trade_through"
        if any(abs(p - lp) < 0.5 * tick for p, _ in tr):
            return "queue_trades"
    bid_px, _, ask_px, _ = _snapshot_at(day, coin, ts, cache)
    opp = ask_px if o["side"] > 0 else bid_px
    if opp and ((opp[0] <= lp + 0.5 * tick) if o["side"] > 0 else (opp[0] >= lp - 0.5 * tick)):
        return "book_crossed"
    return "queue_cancels"


def compare_limit(orders: list[dict], hft_orders: list[list[float]], day: Any, tick: float,
                  out: dict[str, Any], frac_margin: float, time_margin_s: float) -> None:
    """Add one coin's limit orders to `out`: per Lotus fill cause, how hftbacktest did."""
    t = day.trades
    coin = orders[0]["coin"] if orders else ""
    sel = t["coin"].astype(str).to_numpy() == coin
    trades: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for ts, p, s in zip(t["recv_ts_ms"].to_numpy(np.int64)[sel].tolist(), t["px"].to_numpy()[sel].tolist(),
                        t["sz"].to_numpy()[sel].tolist(), strict=True):
        trades.setdefault((coin, ts), []).append((p, s))
    cache: dict = {}
    for o, h in zip(orders, hft_orders, strict=True):
        if o["kind"] != "limit":
            continue
        o = {**o, "tick": tick}
        q = sum(f["qty"] for f in o["fills"])
        fl = q / o["qty"]
        hq = h[0] if h[0] == h[0] else 0.0
        fh = min(hq, o["qty"]) / o["qty"]
        cause = _lotus_cause(o, o["fills"][0], trades, day, cache) if o["fills"] else "unfilled"
        if fl > 0 and fh > 0:
            tl = max(f["ts_ms"] for f in o["fills"]) / 1000
            th = (h[4] if h[3] == 3 else (h[6] if h[6] == h[6] else h[4])) / 1e9
            dt = tl - th
            out["dt_last_fill_s"].append(dt)
            frac_diff = abs(fl - fh) > frac_margin
            time_diff = abs(dt) > time_margin_s
            key = ("agree" if not frac_diff and not time_diff else
                   "fraction" if frac_diff and not time_diff else
                   "time" if time_diff and not frac_diff else "both")
            if time_diff:
                out["time_lotus_later"] += dt > 0
                out["why_time"][_why_time(o, th, dt, trades, day, cache)] += 1
        else:
            key = "lotus_only" if fl > 0 else "hft_only" if fh > 0 else "neither"
            if key == "hft_only":
                th = (h[4] if h[3] == 3 else (h[6] if h[6] == h[6] else h[4])) / 1e9
                out["why_hft_only"][_why_time(o, th, 1.0, trades, day, cache)] += 1
        row = out["by_cause"].setdefault(cause, Counter())
        row[key] += 1
        row["n"] += 1
        out["n"] += 1
        out["frac_lotus"].append(fl)
        out["frac_hft"].append(fh)


def new_limit() -> dict[str, Any]:
    return {"n": 0, "by_cause": {}, "dt_last_fill_s": [], "frac_lotus": [], "frac_hft": [],
            "time_lotus_later": 0, "why_time": Counter(), "why_hft_only": Counter()}


def _why_time(o: dict, th_s: float, dt: float, trades: dict, day: Any, cache: dict) -> str:
    """Why the last fills of one limit order are more than the margin apart."""
    if dt < 0:
        return "lotus_earlier"
    ts = int(round(th_s * 1000))
    lp, tick, coin = o["limit_px"], o["tick"], o["coin"]
    bid_px, _, ask_px, _ = _snapshot_at(day, coin, ts, cache)
    opp = ask_px if o["side"] > 0 else bid_px
    crossed = bool(opp) and ((opp[0] <= lp + 0.5 * tick) if o["side"] > 0
                             else (opp[0] >= lp - 0.5 * tick))
    through = any((p < lp - 0.5 * tick) if o["side"] > 0 else (p > lp + 0.5 * tick)
                  for p, _ in trades.get((coin, ts), ()))
    return "hft_same_book" if crossed or through else "hft_stale"


def market_table(mk: dict[str, Any]) -> str:
    """The market orders in brief: how many walked several levels, and the first difference
    of each order by rule, a column for each rule some order needed (`unexplained` always);
    the rules are RULES (docs/trader.md, "Fill comparison with hftbacktest")."""
    multi, single = Counter(mk["rules"]), Counter(mk["single_rules"])
    single["identical"] = mk["single_identical"]
    names = ["identical"] + [r for r in RULES if r == "unexplained" or multi[r] or single[r]]
    head = wrap(f"Market orders {mk['n']}: **{mk['multi']} walked several levels in at least one "
                f"engine, all compared level by level** ({mk['levels']} levels, "
                f"{mk['levels_identical']} identical), {mk['single']} one level; the same total "
                f"quantity on {mk['same_qty']}; hftbacktest's walk matches its response on "
                f"{mk['walk_matches_response']} of {mk['walk_checked']}. First differences by rule "
                "(docs/trader.md):") + "\n\n"
    lines = ["| market orders | " + " | ".join(names) + " |",
             "| --- |" + " ---: |" * len(names),
             "| several levels | " + " | ".join(str(multi[r]) for r in names) + " |",
             "| one level | " + " | ".join(str(single[r]) for r in names) + " |"]
    return head + "\n".join(lines)


CAUSES = {"book_crossed": "the book crossed the price", "trade_through": "a trade through the price",
          "queue_trades": "trades at the price ate the queue", "queue_cancels": "cancellations ahead (queue model)",
          "unfilled": "Lotus did not fill"}


def limit_table(lim: dict[str, Any], frac_margin: float, time_margin_s: float) -> str:
    cols = ["agree", "fraction", "time", "both", "lotus_only", "hft_only", "neither"]
    lines = ["| Lotus's first fill came from | orders | agree | fraction differs | time differs | both differ | Lotus only | hftbacktest only | neither |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    tot: Counter = Counter()
    for cause, label in CAUSES.items():
        row = lim["by_cause"].get(cause)
        if not row:
            continue
        tot.update(row)
        lines.append(f"| {label} | {row['n']} | " + " | ".join(str(row.get(c, 0)) for c in cols) + " |")
    n = max(tot["n"], 1)
    lines.append(f"| **all** | {tot['n']} | " + " | ".join(f"{tot.get(c, 0)} ({tot.get(c, 0) / n:.0%})" for c in cols) + " |")
    differ = tot["fraction"] + tot["time"] + tot["both"] + tot["lotus_only"] + tot["hft_only"]
    why = lim.get("why_time", {})
    why_only = lim.get("why_hft_only", {})
    return wrap(
        f"Limit orders {tot['n']} (margins: filled fraction {frac_margin:.0%}, last fill "
        f"{time_margin_s:g} s): **{differ} ({differ / n:.0%}) beyond a margin**; of the "
        f"{tot['time'] + tot['both']} apart in time, hftbacktest filled first at a snapshot short "
        f"of the price (stale or intermediate levels) on {why.get('hft_stale', 0)}, at one that "
        f"reached it on {why.get('hft_same_book', 0)}, Lotus first on "
        f"{why.get('lotus_earlier', 0)}; hftbacktest alone filled {why_only.get('hft_stale', 0)} "
        f"at stale levels, {why_only.get('hft_same_book', 0)} otherwise.") + "\n\n" + "\n".join(lines)
