"""Arrow's C++ allocations go to the C library's malloc in a Lotus process
(`lotus_core`'s docstring): the pool is chosen when pyarrow loads, so each check runs in a
fresh interpreter that imports a Lotus package first, then reads Parquet through pandas."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = """
import {package}
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq, sys
path = sys.argv[1]
pd.DataFrame({{"x": np.arange(200_000), "s": [f"w{{i}}" for i in range(200_000)]}}).to_parquet(path)
t = pq.read_table(path)
print(pa.mimalloc_memory_pool().max_memory(), pa.system_memory_pool().max_memory())
"""


def _pools(package: str, tmp_path, env: dict[str, str]) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(package=package),
                          str(tmp_path / "t.parquet")], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.parametrize("package", ["lotus_core", "lotus_assets", "lotus_cli", "lotus_daemon"])
def test_a_lotus_process_reads_parquet_through_the_system_allocator(package, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    mimalloc, system = _pools(package, tmp_path, env)
    assert mimalloc == 0 and system > 1_000_000


def test_a_pool_the_caller_names_is_kept(tmp_path):
    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}
    mimalloc, _ = _pools("lotus_core", tmp_path, env)
    assert mimalloc > 1_000_000
