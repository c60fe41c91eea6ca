"""Write one benchmark's section into BENCHMARKS.md, keeping the other sections; record its
headline figure; render the summary table from the headline records."""

from __future__ import annotations

import gzip
import json
import os
import platform
import re
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from bench import catalog

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
HEADLINES = REPO / "bench" / "results" / "headline.jsonl"
_HEADER = ("# Benchmarks\n\nMeasured figures, written by the benchmarks themselves "
           "(`python -m bench NAME`). Timings never gate tests.\n")
COLUMNS = ("benchmark", "command", "figure", "spread", "goal", "measured against",
           "machine, date")


def _cpu() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return cpu


def machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{_cpu()}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def short_machine() -> str:
    """The summary table's form: "Intel Xeon, 2 cores"."""
    cpu = re.sub(r"\((R|TM)\)", "", _cpu())
    cpu = re.sub(r"\s+(Processor|CPU)\b.*$", "", cpu).strip()
    return f"{cpu}, {os.cpu_count()} cores"


def replace_block(path: Path, name: str, body: str, default: str = "") -> None:
    """Put `body` between the `<!-- bench:name -->` markers of `path` (appended with its
    markers when the file has none): the one writer of every generated section."""
    block = f"<!-- bench:{name} -->\n{body.rstrip()}\n<!-- /bench:{name} -->"
    text = path.read_text() if path.exists() else default
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else (
        text.rstrip() + "\n\n" + block + "\n")
    path.write_text(text)


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    replace_block(path, name, f"{body.rstrip()}\n\n_Measured {stamp} on {machine()}._",
                  default=_HEADER)


_UNIT = re.compile(r"^(%|[A-Za-z]{1,3})[),.;:]*$")


def wrap(text: str, width: int = 110) -> str:
    """One paragraph of a section, its words filled to `width` (Markdown joins the lines
    again): words and hyphenated names are never split, nor a number from its unit."""
    words: list[str] = []
    glued = 0  # units glued to the last number: "30.6 s", "90 %", "17.14 CPU s" stay together
    for w in text.split():
        if words and (words[-1][-1].isdigit() or 0 < glued < 2) and _UNIT.match(w):
            words[-1] += "\0" + w
            glued += 1
        else:
            words.append(w)
            glued = 0
    return textwrap.fill(" ".join(words), width=width, break_long_words=False,
                         break_on_hyphens=False).replace("\0", " ")


def read_text(path: Path) -> str:
    """A kept result file's text, gzipped (bench/results/*.gz) or not."""
    return gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()


def _command(name: str, argv: list[str]) -> str:
    """The command that measured it, as a user types it (the entry's own arguments left out)."""
    entry = catalog.get(name)
    fixed = list(entry.args) if entry else []
    if fixed and argv[:len(fixed)] == fixed:
        argv = argv[len(fixed):]
    return " ".join(["python -m bench", name, *argv])


def headline(name: str, figure: str, spread: str, *, command: str | None = None,
             title: str | None = None, goal: str | None = None, against: str | None = None,
             path: Path = HEADLINES) -> dict[str, str]:
    """Append this run's headline record for benchmark `name` (the last record of a benchmark
    is the one the summary shows). `figure` is the headline number with its unit and what it
    is of; `spread` what the runs gave around it, or why there is none ("one run"). Title,
    goal and what it is measured against come from the catalog; a figure that is not a
    registered benchmark's (`make run`) names them in its first record; later records of the
    same name reuse them."""
    entry = catalog.get(name)
    earlier = {} if entry or not path.exists() else next(
        (r for r in reversed(read_headlines(path)) if r["benchmark"] == name), {})
    title = title or (entry.title if entry else earlier.get("title"))
    goal = goal or (entry.goal if entry else earlier.get("goal"))
    against = against or (entry.against if entry else earlier.get("against"))
    if title is None or goal is None or against is None:
        raise KeyError(f"{name} is not a registered benchmark (bench/catalog.py) and has no "
                       "earlier record: give its title, goal and what it is measured against")
    record = {"benchmark": name, "title": title,
              "command": command or _command(name, sys.argv[1:]), "figure": figure,
              "spread": spread, "goal": goal, "against": against,
              "machine": short_machine(), "date": datetime.now(UTC).strftime("%Y-%m-%d")}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


def read_headlines(path: Path = HEADLINES) -> list[dict[str, str]]:
    """The latest record of each benchmark: the registered ones in the catalog's order,
    others (`make run`) first, in the order of the file."""
    latest: dict[str, dict[str, str]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not a JSON line: {exc}") from None
        missing = [k for k in ("benchmark", "title", "command", "figure", "spread", "goal",
                               "against", "machine", "date") if k not in record]
        if missing:
            raise ValueError(f"{path}:{n}: missing {', '.join(missing)}")
        latest.pop(record["benchmark"], None)  # a later record replaces it, in its place
        latest[record["benchmark"]] = record
    order = {b.name: i for i, b in enumerate(catalog.BENCHMARKS)}
    first = [r for r in latest.values() if r["benchmark"] not in order]
    return first + sorted((r for r in latest.values() if r["benchmark"] in order),
                          key=lambda r: order[r["benchmark"]])


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def summary_table(records: list[dict[str, str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in records:
        cells = (r["title"], f"`{r['command']}`", r["figure"], r["spread"], r["goal"],
                 r["against"], f"{r['machine']}, {r['date']}")
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def write_summary(doc: Path = BENCHMARKS_MD, results: Path = HEADLINES) -> str:
    """Render the headline records into the `<!-- bench:summary -->` block of `doc`."""
    body = (summary_table(read_headlines(results)) + "\n\n"
            f"_Generated by `python -m bench report` from `{_shown(results)}`: "
            "the latest record of each benchmark._")
    replace_block(doc, "summary", body, default=_HEADER)
    return body


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
