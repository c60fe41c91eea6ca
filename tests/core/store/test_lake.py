"""The lake replaces partitions atomically: failures and killed writers leave the old file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

from lotus_core.store.lake import Lake, LakeError

DAY = "2026-01-02"


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"ts_ms": np.arange(n, dtype="int64"), "x": rng.normal(size=n)})


def test_rewrite_replaces_the_partition(tmp_path):
    lake = Lake(tmp_path)
    lake.write("microtape_frames", DAY, _frame(10, 1))
    lake.write("microtape_frames", DAY, _frame(3, 2))
    assert len(lake.read("microtape_frames", DAY)) == 3
    assert lake.query("select count(*) n from microtape_frames")["n"][0] == 3
    assert list(lake.partition_dir("microtape_frames", DAY).iterdir()) == [
        lake.path("microtape_frames", DAY)]


def test_failed_write_keeps_the_previous_good_file(tmp_path):
    lake = Lake(tmp_path)
    good = _frame(5, 1)
    lake.write("raw_feed", DAY, good)
    before = lake.path("raw_feed", DAY).read_bytes()
    bad = pd.DataFrame({"ts_ms": [1, 2], "x": [1.0, object()]})  # arrow cannot convert it
    with pytest.raises(Exception):  # noqa: B017 - pyarrow raises its own error types
        lake.write("raw_feed", DAY, bad)
    assert lake.path("raw_feed", DAY).read_bytes() == before
    pd.testing.assert_frame_equal(lake.read("raw_feed", DAY), good)
    assert [p.name for p in lake.partition_dir("raw_feed", DAY).iterdir()] == ["part.parquet"]


def test_validation_failure_writes_nothing(tmp_path):
    lake = Lake(tmp_path)

    def refuse(df: pd.DataFrame) -> pd.DataFrame:
        raise ValueError("column x has a NaN")

    with pytest.raises(ValueError, match="column x"):
        lake.write("raw_feed", DAY, _frame(3, 1), validate=refuse)
    assert not lake.exists("raw_feed", DAY)


def test_writer_killed_mid_write_leaves_the_old_partition(tmp_path):
    """SIGKILL a process while it writes a large partition; readers still see the old one."""
    lake = Lake(tmp_path)
    old = _frame(1000, 1)
    lake.write("microtape_frames", DAY, old)
    script = textwrap.dedent(f"""
        import numpy as np, pandas as pd
        from lotus_core.store.lake import Lake
        n = 40_000_000
        df = pd.DataFrame({{"ts_ms": np.arange(n, dtype="int64"),
                           "x": np.random.default_rng(0).normal(size=n)}})
        print("ready", flush=True)
        Lake({str(tmp_path)!r}).write("microtape_frames", {DAY!r}, df)
        print("finished", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    part_dir = lake.partition_dir("microtape_frames", DAY)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in part_dir.iterdir()):
        assert time.monotonic() < deadline, "the writer never started its temporary file"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    pd.testing.assert_frame_equal(lake.read("microtape_frames", DAY), old)
    assert lake.query("select count(*) n from microtape_frames")["n"][0] == 1000
    assert lake.sweep_temp_files() == 1
    assert [p.name for p in part_dir.iterdir()] == ["part.parquet"]


def _write_day(args: tuple[str, int]) -> int:
    root, i = args
    day = f"2026-01-{i + 1:02d}"
    Lake(root).write("microtape_frames", day, _frame(20_000 + i, i))
    return i


def test_parallel_partitions_write_safely(tmp_path):
    with ProcessPoolExecutor(max_workers=4) as pool:
        done = sorted(pool.map(_write_day, [(str(tmp_path), i) for i in range(8)]))
    assert done == list(range(8))
    lake = Lake(tmp_path)
    counts = lake.query("select strftime(date, '%Y-%m-%d') d, count(*) n "
                        "from microtape_frames group by 1 order by 1")
    assert list(counts["n"]) == [20_000 + i for i in range(8)]


def test_missing_partition_error_names_it(tmp_path):
    with pytest.raises(LakeError, match="no raw_feed partition for 2026-01-09"):
        Lake(tmp_path).read("raw_feed", "2026-01-09")
    with pytest.raises(LakeError, match="snake_case"):
        Lake(tmp_path).path("Bad-Name", DAY)
