"""The lake on an object store: the same interface through pyarrow filesystems, one object
put per partition, tested on pyarrow's LocalFileSystem (under SubTreeFileSystem) and on
fsspec's in-memory filesystem, plus the Dagster IO manager writing through it."""

import uuid

import dagster as dg
import pandas as pd
import pyarrow.fs as pafs
import pytest

from lotus_core.store.lake import Lake, LakeError, ObjectLake, open_lake
from lotus_resources.lake import LakeIOManager, LakeResource


def _frame(n: int, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"ts_ms": range(offset, offset + n), "coin": ["BTC"] * n,
                         "px": [100.0 + i for i in range(n)]})


@pytest.fixture
def subtree_lake(tmp_path) -> ObjectLake:
    (tmp_path / "bucket").mkdir()
    fs = pafs.SubTreeFileSystem(str(tmp_path / "bucket"), pafs.LocalFileSystem())
    return ObjectLake(fs, "lotus/lake", url="subtree://lotus/lake")


def test_object_lake_round_trip_matches_the_filesystem_lake_byte_for_byte(subtree_lake, tmp_path):
    local = Lake(tmp_path / "local")
    for day, n in (("2026-01-02", 5), ("2026-01-03", 7)):
        subtree_lake.write("ticks", day, _frame(n))
        local.write("ticks", day, _frame(n))
    assert subtree_lake.days("ticks") == ["2026-01-02", "2026-01-03"]
    assert subtree_lake.assets() == ["ticks"]
    assert subtree_lake.exists("ticks", "2026-01-02")
    assert not subtree_lake.exists("ticks", "2026-01-04")
    pd.testing.assert_frame_equal(subtree_lake.read("ticks", "2026-01-03"), _frame(7))
    stored = tmp_path / "bucket" / "lotus" / "lake" / "ticks" / "date=2026-01-03" / "part.parquet"
    assert stored.read_bytes() == local.path("ticks", "2026-01-03").read_bytes()
    assert subtree_lake.size("ticks", "2026-01-03") == stored.stat().st_size
    # DuckDB over the store: every day with its hive `date`, same answer as the local lake
    sql = "SELECT CAST(date AS VARCHAR) d, count(*) n, sum(px) s FROM ticks GROUP BY 1 ORDER BY 1"
    pd.testing.assert_frame_equal(subtree_lake.query(sql), local.query(sql))
    assert subtree_lake.location("ticks", "2026-01-02") == \
        "subtree://lotus/lake/ticks/date=2026-01-02/part.parquet"


def test_object_lake_replaces_with_one_put_and_leaves_no_temporaries(subtree_lake, tmp_path):
    subtree_lake.write("ticks", "2026-01-02", _frame(5))
    subtree_lake.write("ticks", "2026-01-02", _frame(3, offset=10))  # re-materialised: replaced
    assert subtree_lake.read("ticks", "2026-01-02")["ts_ms"].tolist() == [10, 11, 12]
    files = sorted(p.name for p in (tmp_path / "bucket").rglob("*") if p.is_file())
    assert files == ["part.parquet"] and subtree_lake.sweep_temp_files() == 0

    def refuse(df: pd.DataFrame) -> pd.DataFrame:
        raise ValueError("schema says no")

    with pytest.raises(ValueError, match="schema says no"):
        subtree_lake.write("ticks", "2026-01-02", _frame(9), validate=refuse)
    assert len(subtree_lake.read("ticks", "2026-01-02")) == 3  # the old object stands
    with pytest.raises(LakeError, match="no ticks partition for 2026-01-09"):
        subtree_lake.read("ticks", "2026-01-09")
    with pytest.raises(LakeError, match="lowercase snake_case"):
        subtree_lake.write("Bad-Name", "2026-01-02", _frame(1))


def test_open_lake_picks_rename_for_paths_and_put_for_object_store_urls(tmp_path):
    assert isinstance(open_lake(tmp_path / "a"), Lake)
    on_file = open_lake(f"file://{tmp_path / 'b'}")
    assert isinstance(on_file, Lake) and on_file.root == tmp_path / "b"
    memory = open_lake(f"memory://lotus-test-{uuid.uuid4().hex}/lake")
    assert isinstance(memory, ObjectLake)  # fsspec's memory filesystem through pyarrow
    memory.write("ticks", "2026-01-02", _frame(4))
    assert memory.days("ticks") == ["2026-01-02"]
    assert memory.query("SELECT sum(ts_ms) s FROM ticks")["s"].iloc[0] == 6
    with pytest.raises(LakeError, match="nosuchscheme"):
        open_lake("nosuchscheme://x/y")


def test_dagster_io_manager_writes_and_reads_through_an_object_store(dagster_instance):
    root = f"memory://lotus-test-{uuid.uuid4().hex}/lake"
    days = dg.DailyPartitionsDefinition(start_date="2026-01-01")

    @dg.asset(partitions_def=days, io_manager_key="lake_io")
    def ticks(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return _frame(int(context.partition_key[-2:]))

    @dg.asset(partitions_def=days, io_manager_key="lake_io")
    def tick_count(ticks: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"n": [len(ticks)]})

    lake = LakeResource(root=root)
    result = dg.materialize([ticks, tick_count], partition_key="2026-01-03",
                            instance=dagster_instance,
                            resources={"lake_io": LakeIOManager(lake=lake)})
    assert result.success
    meta = result.asset_materializations_for_node("ticks")[0].metadata
    assert meta["path"].value.startswith(root) and meta["bytes"].value > 0
    assert open_lake(root).read("tick_count", "2026-01-03")["n"].tolist() == [3]
