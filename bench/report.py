"""Write one benchmark's section into BENCHMARKS.md, keeping the other sections."""

from __future__ import annotations

import gzip
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
_HEADER = ("# Benchmarks\n\nMeasured figures, written by `make bench` (`python -m bench.run`). "
           "Each section says when and on what machine it was measured, and compares against "
           "a floor measured in the same run. Timings never gate tests.\n")


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


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


def read_text(path: Path) -> str:
    """A kept result file's text, gzipped (bench/results/*.gz) or not."""
    return gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
