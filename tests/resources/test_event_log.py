"""The embedded default's event log keeps its connections open and changes nothing else:
the same events in the same files, read by another instance on the same home."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from lotus_resources.event_log import OPEN_SHARDS, PooledSqliteEventLogStorage, runs_dir

REPO = Path(__file__).resolve().parents[2]


@dg.asset
def numbers() -> list[int]:
    return [1, 2, 3]


@dg.asset
def total(numbers: list[int]) -> int:
    return sum(numbers)


JOB = dg.define_asset_job("sum_job", [numbers, total])
DEFS = dg.Definitions(assets=[numbers, total], jobs=[JOB])


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")  # the embedded default's
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _events(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [e.dagster_event.event_type_value for e in instance.all_logs(run_id)
            if e.dagster_event is not None]


def test_runs_store_their_events_where_dagster_does_and_another_instance_reads_them(
        tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        runs = [DEFS.resolve_job_def("sum_job").execute_in_process(instance=instance)
                for _ in range(OPEN_SHARDS + 2)]  # more runs than engines kept open
        assert all(r.success for r in runs)
        written = {r.run_id: _events(instance, r.run_id) for r in runs}
        assert len(instance.event_log_storage._engines) <= OPEN_SHARDS
    assert all("PIPELINE_SUCCESS" in kinds and "ASSET_MATERIALIZATION" in kinds
               for kinds in written.values())
    for r in runs:  # one database per run, as Dagster's default lays them out
        assert (Path(runs_dir(str(home))) / f"{r.run_id}.db").is_file()
    with dg.DagsterInstance.from_config(str(home)) as again:  # a second process's view
        assert {r.run_id: _events(again, r.run_id) for r in runs} == written
        latest = again.get_latest_materialization_event(dg.AssetKey("total"))
        assert latest is not None and latest.run_id == runs[-1].run_id


def test_the_same_events_as_dagsters_own_sqlite_log(tmp_path, monkeypatch):
    pooled_home = _home(tmp_path, monkeypatch)
    plain_home = tmp_path / "plain"
    plain_home.mkdir()
    kinds = []
    for home in (pooled_home, plain_home):
        with dg.DagsterInstance.from_config(str(home)) as instance:
            result = DEFS.resolve_job_def("sum_job").execute_in_process(instance=instance)
            kinds.append(_events(instance, result.run_id))
    assert kinds[0] == kinds[1] and len(kinds[0]) > 10


def test_wiping_closes_the_open_databases_first(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = DEFS.resolve_job_def("sum_job").execute_in_process(instance=instance)
        assert instance.event_log_storage._engines
        instance.event_log_storage.wipe()
        assert result.run_id not in instance.event_log_storage._engines  # closed, unlinked
        assert not (Path(runs_dir(str(home))) / f"{result.run_id}.db").exists()
        assert _events(instance, result.run_id) == []


def test_shards_are_in_wal_mode_without_an_fsync_per_commit(tmp_path, monkeypatch):
    """Each run's shard and the index are WAL databases (Dagster's choice), and the pooled
    connections commit with `synchronous=NORMAL` (1), not SQLite's FULL (2)."""
    home = _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = DEFS.resolve_job_def("sum_job").execute_in_process(instance=instance)
        storage = instance.event_log_storage
        for shard in (result.run_id, "index"):
            with storage._connect(shard) as conn:
                mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
                sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            assert (shard, mode, sync) == (shard, "wal", 1)
