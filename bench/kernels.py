"""The live path's compile bill: `warm_kernels`' seconds in a score process's position (the
scorer's stack imported, numba not yet), first with an empty numba cache (every kernel
compiled and written, as on a fresh clone), then in a second process over the same cache
(loaded), each pair in a fresh cache directory; the medians and the kernels' cache hits and
misses, which say the first run compiled and the second loaded.

    .venv/bin/python -m bench kernels [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import json
import lotus_daemon.loops.score  # the score process's imports, before it warms
from lotus_core.live.kernels import warm_kernels
seconds = warm_kernels()
from numba.core.registry import CPUDispatcher
import sys
hits = misses = 0
for name, mod in list(sys.modules.items()):
    if name.startswith("lotus"):
        for obj in vars(mod).values():
            if isinstance(obj, CPUDispatcher):
                hits += sum(obj.stats.cache_hits.values())
                misses += sum(obj.stats.cache_misses.values())
print(json.dumps({"seconds": seconds, "hits": hits, "misses": misses}))
"""


def cpu_model() -> str:
    """lscpu's model name (platform's processor where /proc/cpuinfo says nothing)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def warm_once(cache: Path) -> dict[str, float]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="pairs of processes (default 3)")
    args = ap.parse_args()
    first, cached = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="lotus-numba-") as cache:
            a, b = warm_once(Path(cache)), warm_once(Path(cache))
        print(json.dumps({"first_run": a, "cached": b}), flush=True)
        first.append(a["seconds"])
        cached.append(b["seconds"])
    print(json.dumps({"machine": f"{cpu_model()}, {os.cpu_count()} cores", "runs": args.runs,
                      "first_run_s": round(statistics.median(first), 2),
                      "cached_s": round(statistics.median(cached), 2)}))


if __name__ == "__main__":
    main()
