"""The nightly schedule materialises yesterday from the live daemon's recording directory."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_location.definitions import build_definitions
from lotus_sensors.schedules import daily_run_config


def test_nightly_schedule_reads_the_live_recording_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    defs = build_definitions(load_settings())
    ctx = dg.build_schedule_context(
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=dt.datetime(2026, 1, 3, 0, 30, tzinfo=dt.UTC))
    nightly_schedule = defs.resolve_schedule_def("lotus_nightly")
    (req,) = nightly_schedule.evaluate_tick(ctx).run_requests
    assert req.partition_key == "2026-01-02"
    # the nightly run is `lotus_backfill` for yesterday: its op runs the day's jobs in phases,
    # each with the shared run config (as the CLI passes it) and this feed directory
    op = req.run_config["ops"]["backfill_days"]["config"]
    assert op["feed_dir"] == str((tmp_path / "home" / "feed").resolve())
    assert dg.validate_run_config(defs.resolve_job_def("lotus_backfill"), req.run_config)
    coins = defs.resolve_job_def("lotus_coins")
    ops = daily_run_config(shared_values(load_settings()))["ops"]
    assert ops["microtape_frames"]["config"]["cadence_ms"] == load_settings().microtape.cadence_ms
    assert dg.validate_run_config(coins, {"ops": ops})
