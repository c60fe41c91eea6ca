"""Run every benchmark and write their sections of BENCHMARKS.md."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["bench.microtape", "bench.router", "bench.signals", "bench.lessons", "bench.dm",
              "bench.trader", "bench.closed_loop"]


def main() -> None:
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        subprocess.run([sys.executable, "-m", module, *sys.argv[1:]], check=True)


if __name__ == "__main__":
    main()
