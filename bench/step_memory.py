"""Per-step memory of `bench.scale` runs side by side: what each step added over the RSS it
started with, its peak, and its CPU, per coin count (issue 32, item 3: flat in the coins).

    python -m bench.step_memory base_3.json base_10.json base_30.json \
        --vs after_3.json after_10.json after_30.json

Rows: every in-process step of the first file set, largest addition first. With `--vs`,
each cell is `before / after`. Figures only from in-process runs (the steps run in the
measuring process: VmHWM reset at each step's start)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _rows(files: list[Path]) -> dict[int, dict[str, dict]]:
    """{coins: {step: stage figures}} of the in-process rows in `files` (last one wins)."""
    out: dict[int, dict[str, dict]] = {}
    for f in files:
        for row in json.loads(Path(f).read_text()):
            if row.get("mode") == "in_process" and row.get("stages"):
                out[int(row["coins"])] = row["stages"] | {"__run__": {
                    "peak_rss_mb": row["peak_rss_mb"], "start_rss_mb": 0.0,
                    "cpu_s": row["cpu_s"]}}
    return out


def _cell(st: dict | None, what: str) -> str:
    if st is None:
        return "-"
    if what == "added":
        return f"{st['peak_rss_mb'] - st['start_rss_mb']:+,.0f}"
    if what == "peak":
        return f"{st['peak_rss_mb']:,.0f}"
    return f"{st['cpu_s']:.1f}"


def table(before: dict[int, dict[str, dict]], after: dict[int, dict[str, dict]] | None,
          what: str, top: int) -> str:
    coins = sorted(before)
    biggest = max(coins)
    steps = sorted((s for s in before[biggest] if s != "__run__"),
                   key=lambda s: -(before[biggest][s]["peak_rss_mb"]
                                    - before[biggest][s]["start_rss_mb"]))[:top]
    if what != "added":
        steps.append("__run__")
    head = "| step | " + " | ".join(f"{c} coins" for c in coins) + " |"
    lines = [head, "|---|" + "---|" * len(coins)]
    for s in steps:
        cells = []
        for c in coins:
            b = _cell(before[c].get(s), what)
            cells.append(b if after is None else
                         f"{b} / **{_cell(after.get(c, {}).get(s), what)}**")
        lines.append(f"| {'run' if s == '__run__' else '`' + s + '`'} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--vs", nargs="*", type=Path, default=None)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    before = _rows(args.files)
    after = _rows(args.vs) if args.vs else None
    for what, title in (("added", "MB a step added over the RSS it started with"),
                        ("peak", "peak RSS of the step, MB (with what the process carried)"),
                        ("cpu", "CPU s")):
        print(f"\n{title}\n")
        print(table(before, after, what, args.top))


if __name__ == "__main__":
    main()
