"""The vision module's reader on sealed rendered charts: digitiser error, OCR accuracy, the
time axis and each pattern flag's precision and recall, with intervals.

    python -m bench vis [--charts 240] [--seed-base 1000000] [--json PATH]

The charts come from seeds the reader was never tuned on (lotus_core/vis/measure.py says
how they are drawn and scored). Writes its section of BENCHMARKS.md and its headline.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

from bench.report import headline, wrap, write_section
from lotus_core.vis.measure import SEALED_SEED_BASE, measure
from lotus_core.vis.ocr import engine_version
from lotus_core.vis.patterns import FLAGS


def _cpu() -> float:
    a, b = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _ci(ci: Any, scale: float = 1.0, digits: int = 2) -> str:
    lo, hi = ci
    return f"[{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def _time_rows(t: dict[str, Any]) -> list[str]:
    rows = [f"| time axis read (points given times) | {_pct(t['share'])} ({t['k']} / {t['n']}) "
            f"| {_ci(t['ci'], 100, 0)} % |"]
    if t["err_bars"]["p50"] is None:
        return rows
    b, sec = t["err_bars"], t["err_s"]
    rows += [f"| point time error, median ({t['points']} points) | {b['p50']:.3f} bars "
             f"({sec['p50']:.0f} s) | {_ci(b['p50_ci'], 1, 3)} bars |",
             f"| point time error, p95 | {b['p95']:.3f} bars ({sec['p95']:.0f} s); "
             f"{t['wrong_day']} chart(s) dated half a day or more off | "
             f"{_ci(b['p95_ci'], 1, 3)} bars |"]
    per = "; ".join(f"{float(k) / 60:g} min bars, {v['charts']} chart(s): {v['p50']:.1f} s, "
                    f"{v['p95']:.1f} s" for k, v in t["by_bar_s"].items())
    rows.append(f"| point time error by bar length: median, p95 | {per} | - |")
    for form, what in (("month names", "dates written `Jan 5`"),
                       ("another zone", "labels in another zone, tagged `UTC+2`")):
        f = t["by_form"][form]
        if not f["n"]:
            continue
        e = f["err_bars"]
        err = "-" if e["p50"] is None else f"median point error {e['p50']:.3f} bars"
        rows.append(f"| {what}: time axis read | {f['k']} / {f['n']} charts; {err} | "
                    f"{_ci(f['ci'], 100, 0)} % read; "
                    f"{_ci(e['p50_ci'], 1, 3)} bars |")
    return rows


def report(r: dict[str, Any], args: argparse.Namespace, cpu_s: float) -> str:
    n = r["charts"]
    lines = [
        "## Vision: reading rendered charts",
        "",
        wrap(f"`python -m bench vis --charts {n} --seed-base {args.seed_base}`: {n} charts "
             f"drawn by `lotus_core.vis.render` from seeds the reader was not tuned on (six "
             f"planted patterns x candles/line x light/dark x PNG/JPEG q85, dates `2026-01-05` "
             f"or `Jan 5`, labels in UTC or a tagged zone), read by "
             f"`lotus_core.vis.read` with tesseract {engine_version()}; {cpu_s:.0f} CPU s "
             f"({cpu_s / n:.2f} s a chart, tesseract included). Intervals: bootstrap 95 % of "
             f"the mean for errors, Wilson 95 % for shares."),
        "",
        "| step | figure | 95 % interval |",
        "|---|---|---|",
        f"| charts read (not refused as unreadable) | {r['read']} / {n} | "
        f"{_ci(r['read_ci'], 100, 0)} % |",
    ]
    for kind in ("candles", "line"):
        e = r[f"{kind}_err_bps"]
        if e["mean"] is None:
            continue
        extra = (f"; {100 * e['candles_found']:.1f} % of drawn candles found"
                 if e.get("candles_found") is not None else "")
        lines.append(f"| {kind}: mean abs close error | {e['mean']:.2f} bps "
                     f"({e['mean_px']:.2f} px; median chart {e['median']:.2f} bps, p95 "
                     f"{e['p95']:.2f} bps; {e['scored']} of {e['of']} charts{extra}) | "
                     f"{_ci(e['mean_ci'])} bps |")
    for key, what in (("symbol_ok", "symbol read right"), ("timeframe_ok", "timeframe read right"),
                      ("axis_ok", "every axis label read, none wrong")):
        s = r[key]
        lines.append(f"| {what} | {_pct(s['share'])} ({s['k']} / {s['n']}) | "
                     f"{_ci(s['ci'], 100, 0)} % |")
    a = r["axis_labels"]
    lines.append(f"| axis labels read (of all drawn) | {_pct(a['recall'])} ({a['read']} / "
                 f"{a['truth']}) | {_ci(a['recall_ci'], 100, 0)} % |")
    lines.append(f"| wrong values among the labels the fit kept | {a['wrong_in_fit']} | "
                 f"{_ci(a['wrong_share_ci'], 100, 1)} % |")
    lines += _time_rows(r["time_axis"])
    lines += ["", "| flag | precision | recall | tp / fp / fn |", "|---|---|---|---|"]
    for f in FLAGS:
        x = r["flags"][f]
        lines.append(f"| {f} | {_pct(x['precision'])} {_ci(x['precision_ci'], 100, 0)} | "
                     f"{_pct(x['recall'])} {_ci(x['recall_ci'], 100, 0)} | "
                     f"{x['tp']} / {x['fp']} / {x['fn']} |")
    lines += ["", wrap("Trend, range and breakout flags are scored against the planted "
                       "pattern; higher_highs and lower_lows against their own definition on "
                       "the true closes. Unreadable reasons seen: "
                       + ("; ".join(r["unreadable_reasons"]) or "none") + ". Time axis: bars "
                       "of the title's timeframe from a seeded start, labels HH:MM (dates when "
                       "a label step reaches a day), in the chart's zone, read with `at` = the "
                       "last bar's close; "
                       "the point errors are pooled over the charts whose axis was read and "
                       "their intervals resample whole charts. Why a time axis was not read: "
                       + ("; ".join(r["time_axis"]["reasons"]) or "always read") + ".")]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench vis", description=__doc__.split("\n")[0])
    ap.add_argument("--charts", type=int, default=240)
    ap.add_argument("--seed-base", type=int, default=SEALED_SEED_BASE)
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    c0, t0 = _cpu(), time.time()
    r = measure(charts=args.charts, seed_base=args.seed_base)
    cpu_s = _cpu() - c0
    r["cpu_s"], r["wall_s"] = cpu_s, time.time() - t0
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    body = report(r, args, cpu_s)
    write_section("vis", body)
    c, ln = r["candles_err_bps"], r["line_err_bps"]
    flags = r["flags"]
    worst_p = min((v["precision"] for v in flags.values() if v["precision"] is not None),
                  default=None)
    worst_r = min((v["recall"] for v in flags.values() if v["recall"] is not None),
                  default=None)
    headline("vis",
             f"close error {c['mean']:.2f} bps candles, {ln['mean']:.2f} bps line; symbol "
             f"{_pct(r['symbol_ok']['share'])}, axis labels {_pct(r['axis_labels']['recall'])}; "
             f"flags precision ≥ {_pct(worst_p)}, recall ≥ {_pct(worst_r)}; time axis "
             f"{_pct(r['time_axis']['share'])}",
             f"{r['charts']} sealed charts; bootstrap/Wilson 95 % intervals in the section")
    print(body)


if __name__ == "__main__":
    main()
