"""numba's on-disk cache of the compiled kernels works across processes, as Dagster's step
subprocesses and the daemon's processes need: a first process compiles and writes, a second
loads, with PYTHONDONTWRITEBYTECODE set (numba's cache does not read it). And a process
that runs no kernel does not import numba (~0.3 s of CPU): every Dagster step subprocess
loads the code location."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CALLS = """
import numpy as np
from lotus_core.dsi.forest import forest_depth, forest_depths
from lotus_core.filters import ewm
from lotus_core.microtape.outliers import robust_thresholds, thresholds_kernel
from lotus_core.microtape.params import MicroTapeParams
robust_thresholds(np.ones(200), MicroTapeParams())
x, roots = np.zeros((1, 2)), np.zeros(1, np.int64)
node, val = np.array([[0, -1, -1, 0]], np.int64), np.ones(1)
forest_depths(x, roots, node, val, np.empty(1))
forest_depth(x, roots, node, val)
ewm(np.ones(3), span=2)
from lotus_core.row_kernels import ewm_kernel
kernels = (thresholds_kernel, forest_depths, forest_depth, ewm_kernel)
print(sum(sum(k.stats.cache_hits.values()) for k in kernels),
      sum(sum(k.stats.cache_misses.values()) for k in kernels))
"""


def test_the_compiled_kernels_are_cached_across_processes(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": str(ROOT)}

    def run() -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", CALLS], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        return int(out[0]), int(out[1])

    assert run() == (0, 4)  # compiled and written
    assert run() == (4, 0)  # loaded: no compile


def test_the_code_location_does_not_import_numba() -> None:
    code = ("import sys, lotus_location.definitions, lotus_core.live.engine; "
            "assert 'numba' not in sys.modules, 'numba imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
