"""Per-step memory of `bench.scale` runs side by side: what each step added over the RSS it
started with, its peak, and its CPU, per coin count (the goal: flat in the coins).

    python -m bench step_memory base_3.json base_10.json base_30.json \
        --vs after_3.json after_10.json after_30.json

Rows: every in-process step of the first file set, largest addition first. With `--vs`,
each cell is `before / after`. Figures from in-process runs (the steps run in the
measuring process: VmHWM reset at each step's start), or with `--mode celery` from celery
runs with `--celery-child-per-step` (each step in its own pool child: its peak is the
child's VmHWM, and `tree` adds its descendants, sampled):

    python -m bench step_memory --mode celery flat.json day100.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _rows(files: list[Path], mode: str = "in_process") -> dict[int, dict[str, dict]]:
    """{coins: {step: stage figures}} of `mode`'s rows in `files` (last one wins)."""
    out: dict[int, dict[str, dict]] = {}
    for f in files:
        for row in json.loads(Path(f).read_text()):
            if row.get("mode") == mode and row.get("stages") and row.get("success", True):
                # celery: the launcher's own peak is not a step's; the run's is its largest step's
                peak = (row["peak_rss_mb"] if mode == "in_process" else
                        max(st["peak_rss_mb"] for st in row["stages"].values()))
                tree = max(st.get("tree_peak_rss_mb", 0.0) for st in row["stages"].values())
                out[int(row["coins"])] = row["stages"] | {"__run__": {
                    "peak_rss_mb": peak, "tree_peak_rss_mb": max(peak, tree),
                    "start_rss_mb": 0.0, "cpu_s": row["cpu_s"]}}
    return out


def _cell(st: dict | None, what: str) -> str:
    if st is None:
        return "-"
    if what == "added":
        return f"{st['peak_rss_mb'] - st['start_rss_mb']:+,.0f}"
    if what == "peak":
        return f"{st['peak_rss_mb']:,.0f}"
    if what == "tree":
        return f"{st.get('tree_peak_rss_mb', st['peak_rss_mb']):,.0f}"
    return f"{st['cpu_s']:.1f}"


def _ratio(figures: dict[int, dict[str, dict]], step: str, what: str) -> str:
    """The step's figure at the most coins over its figure at the fewest."""
    lo, hi = (figures[c].get(step) for c in (min(figures), max(figures)))
    if lo is None or hi is None:
        return "-"
    key = "tree_peak_rss_mb" if what == "tree" else "peak_rss_mb"
    a, b = lo.get(key, lo["peak_rss_mb"]), hi.get(key, hi["peak_rss_mb"])
    return f"{b / a:.2f}x" if a else "-"


def table(before: dict[int, dict[str, dict]], after: dict[int, dict[str, dict]] | None,
          what: str, top: int) -> str:
    coins = sorted(before)
    biggest = max(coins)
    steps = sorted((s for s in before[biggest] if s != "__run__"),
                   key=lambda s: -(before[biggest][s]["peak_rss_mb"]
                                    - before[biggest][s]["start_rss_mb"]))[:top]
    if what != "added":
        steps.append("__run__")
    ratio = after is None and what in ("peak", "tree") and len(coins) > 1
    head = "| step | " + " | ".join(f"{c} coins" for c in coins) + " |" + (
        f" {biggest} / {min(coins)} coins |" if ratio else "")
    lines = [head, "|---|" + "---|" * (len(coins) + ratio)]
    for s in steps:
        cells = []
        for c in coins:
            b = _cell(before[c].get(s), what)
            cells.append(b if after is None else
                         f"{b} / **{_cell(after.get(c, {}).get(s), what)}**")
        if ratio:
            cells.append(_ratio(before, s, what) if s != "__run__" else "")
        lines.append(f"| {'run' if s == '__run__' else '`' + s + '`'} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--vs", nargs="*", type=Path, default=None)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--mode", default="in_process", choices=("in_process", "celery"))
    args = parser.parse_args(argv)
    before = _rows(args.files, args.mode)
    after = _rows(args.vs, args.mode) if args.vs else None
    metrics = (("added", "MB a step added over the RSS it started with"),
               ("peak", "peak RSS of the step, MB (with what the process carried)"),
               ("cpu", "CPU s"))
    if args.mode == "celery":
        metrics = (("peak", "peak RSS of the step's own process (a fresh pool child), MB"),
                   ("tree", "peak RSS of the step's process with its descendants (sampled "
                    "every 0.2 s), MB"),
                   ("added", "MB over the child's RSS at its first sample"), ("cpu", "CPU s"))
    for what, title in metrics:
        print(f"\n{title}\n")
        print(table(before, after, what, args.top))


if __name__ == "__main__":
    main()
