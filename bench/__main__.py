"""The benchmark runner.

    python -m bench --list            the benchmarks, each with what it is measured against
    python -m bench NAME [ARGS...]    run one (NAME --help: its own options)
    python -m bench quick [ARGS...]   the quick set, one after another (`make bench`)
    python -m bench report            the summary table of BENCHMARKS.md, from the headline
                                      records in bench/results/headline.jsonl
    python -m bench report --record NAME --figure F --spread S [--command C]
                                      add a headline record by hand (a figure that is a
                                      comparison of several runs, such as step_alone's)

Each benchmark runs as `python -m bench.<module>` in a process of its own (its peak memory
is its own), writes its section of BENCHMARKS.md and appends its headline record.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bench import catalog

REPO = Path(__file__).resolve().parent.parent


def listing() -> str:
    width = max(len(b.name) for b in catalog.BENCHMARKS)
    lines = [f"{b.name:<{width}}  {b.title}; against {b.against}"
             + ("  [quick]" if b.quick else "") for b in catalog.BENCHMARKS]
    lines += ["", "tools (no peer, no headline):"]
    lines += [f"{name:<{width}}  {what}" for name, what in catalog.TOOLS.items()]
    return "\n".join(lines)


def command_of(name: str, args: list[str]) -> list[str]:
    """The process that runs benchmark (or tool) `name` with the user's `args`."""
    entry = catalog.get(name)
    if entry is not None:
        return [sys.executable, "-m", f"bench.{entry.module_name}", *entry.args, *args]
    if name in catalog.TOOLS:
        return [sys.executable, "-m", f"bench.{name}", *args]
    raise KeyError(name)


def run(name: str, args: list[str]) -> int:
    return subprocess.run(command_of(name, args), cwd=REPO).returncode


def quick(args: list[str]) -> int:
    for b in catalog.BENCHMARKS:
        if b.quick:
            print(f"== {b.name}", flush=True)
            code = run(b.name, args)
            if code:
                return code
    return 0


def report(argv: list[str]) -> int:
    from bench.report import BENCHMARKS_MD, HEADLINES, headline, write_summary

    ap = argparse.ArgumentParser(prog="python -m bench report",
                                 description="Render the summary table of BENCHMARKS.md from "
                                 "the headline records (or add one by hand).")
    ap.add_argument("--results", type=Path, default=HEADLINES)
    ap.add_argument("--doc", type=Path, default=BENCHMARKS_MD)
    ap.add_argument("--record", metavar="NAME", help="add a record for NAME, then render")
    ap.add_argument("--figure")
    ap.add_argument("--spread")
    ap.add_argument("--command")
    ap.add_argument("--title", help="for a figure that is not a registered benchmark's")
    ap.add_argument("--goal", help="for a figure that is not a registered benchmark's")
    ap.add_argument("--against", help="for a figure that is not a registered benchmark's")
    a = ap.parse_args(argv)
    if a.record:
        if not (a.figure and a.spread):
            ap.error("--record needs --figure and --spread")
        try:
            headline(a.record, a.figure, a.spread, command=a.command, title=a.title,
                     goal=a.goal, against=a.against, path=a.results)
        except KeyError as exc:
            ap.error(str(exc.args[0]))
    print(write_summary(a.doc, a.results))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n\n" + listing())
        return 0
    name, rest = argv[0], argv[1:]
    if name == "--list":
        print(listing())
        return 0
    if name == "report":
        return report(rest)
    if name == "quick":
        return quick(rest)
    try:
        return run(name, rest)
    except KeyError:
        print(f"unknown benchmark {name!r}; `python -m bench --list` lists them",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
