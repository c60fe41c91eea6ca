"""The nightly schedule materialises yesterday from the live daemon's recording directory."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from lotus_assets.definitions import build_definitions
from lotus_core.config import load_settings


def test_nightly_schedule_reads_the_live_recording_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    defs = build_definitions(load_settings())
    ctx = dg.build_schedule_context(
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=dt.datetime(2026, 1, 3, 0, 30, tzinfo=dt.UTC))
    nightly_schedule = defs.resolve_schedule_def("lotus_nightly")
    (req,) = nightly_schedule.evaluate_tick(ctx).run_requests
    assert req.partition_key == "2026-01-02"
    feed = req.run_config["resources"]["feed"]["config"]
    assert feed["feed_dir"] == str((tmp_path / "home" / "feed").resolve())
    ops = req.run_config["ops"]["microtape_frames"]["config"]
    assert ops["cadence_ms"] == load_settings().microtape.cadence_ms  # as the CLI passes it
    # the run config is valid for the job (the resource accepts the override)
    assert dg.validate_run_config(defs.resolve_job_def("lotus_daily"), req.run_config)
