"""Each shared value, changed in a user `lotus.yaml`, is seen by every consumer: the CLI
(`lotus config`), the code location's partition mappings (the lake windows the assets load),
the `lotus_daily` job's run config (the launchpad's default), the nightly schedule's runs
and the run config `lotus materialize` passes. And importing the code location reads no
settings: only loading it does."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from lotus_assets.day_plan import materialize_day
from lotus_assets.partitions import SIZED_BY
from lotus_cli.main import cli
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_sensors.schedules import daily_run_config

USER_YAML = """\
microtape: {cadence_ms: 500}
learning: {window_days: 5}
scoring: {history_days: 2}
dsi: {history_days: 4}
"""

# (asset, upstream) -> the offsets the user file implies
WINDOWS = {
    ("lesson_atoms", "signal_events_days"): (-4, 0),  # window_days 5, tonight included
    ("lessons", "signal_eval_days"): (-4, 0),
    ("braids", "signal_events_days"): (-4, 0),
    ("meta_braids", "signal_eval_days"): (-4, 0),
    ("scoring_day", "detector_windows_days"): (-2, -1),  # history_days 2, earlier days only
    ("detector_audits", "detector_windows_days"): (-2, -1),
    ("dsi_model", "microtape_days"): (-4, -1),  # dsi.history_days 4, earlier days only
}


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "lotus.yaml").write_text(USER_YAML)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOTUS_CONFIG", raising=False)
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    return tmp_path


def test_every_consumer_sees_each_shared_value(user_dir: Path) -> None:
    from lotus_location.definitions import defs

    values = shared_values(load_settings())
    assert (values.cadence_ms, values.window_days, values.history_days,
            values.dsi_history_days) == (500, 5, 2, 4)

    out = CliRunner().invoke(cli, ["config"])
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output)["shared"]
    assert (shown["cadence_ms"], shown["window_days"], shown["history_days"],
            shown["dsi_history_days"]) == (500, 5, 2, 4)

    loaded = defs()  # the code location, as `dg dev` loads it
    job = loaded.resolve_job_def("lotus_daily")
    for graph in (loaded.resolve_asset_graph(), job.asset_layer.asset_graph):
        for (asset, up), offsets in WINDOWS.items():
            mapping = graph.get(dg.AssetKey(asset)).assets_def.get_partition_mapping(
                dg.AssetKey(up))
            assert isinstance(mapping, dg.TimeWindowPartitionMapping), (asset, up)
            assert (mapping.start_offset, mapping.end_offset) == offsets, (asset, up)
        # the window the lake IO manager is handed for one day
        keys = graph.get_parent_partition_keys_for_child(
            "2026-01-10", dg.AssetKey("signal_events_days"), dg.AssetKey("lesson_atoms"))
        assert sorted(keys.partitions_subset.get_partition_keys()) == [
            "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09", "2026-01-10"]

    ops = {"ops": {"microtape_frames": {"config": {"cadence_ms": 500}}}}
    assert daily_run_config(values) == ops  # what `lotus materialize` passes (each job its part)
    coins = loaded.resolve_job_def("lotus_coins")  # the day x coin job holds the MicroTape
    key = dg.MultiPartitionKey({"date": "2026-01-03", "coin": "BTC"})
    assert coins.partitioned_config.get_run_config_for_partition_key(key) == ops
    assert job.partitioned_config.get_run_config_for_partition_key("2026-01-03") == {"ops": {}}
    schedule = loaded.resolve_schedule_def("lotus_nightly")
    ctx = dg.build_schedule_context(repository_def=loaded.get_repository_def(),
                                    scheduled_execution_time=datetime(2026, 1, 4, 0, 30,
                                                                      tzinfo=UTC))
    (request,) = schedule.evaluate_tick(ctx).run_requests
    assert request.partition_key == "2026-01-03"  # yesterday
    assert schedule.job_name == "lotus_backfill"  # which runs the day's jobs in phases
    assert set(request.run_config["ops"]) == {"backfill_days"}


def _ops_with_field(job: dg.JobDefinition, field: str) -> set[str]:
    """The ops of `job` whose config schema has `field`."""
    out = set()
    for node in job.graph.node_defs:
        schema = node.config_schema
        fields = getattr(schema.config_type, "fields", {}) if schema is not None else {}
        if field in fields:
            out.add(node.name)
    return out


def test_the_settings_yaml_files_reach_every_op_that_reads_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`scoring.config` / `learning.config` / `scoring.detectors` / `scoring.curators` in a
    user lotus.yaml reach each nightly op whose config names a scoring.yaml, a
    learning.yaml, a detectors.yaml or a curators.yaml (found from the job, not listed
    here) by the one road `lotus materialize`, the schedule and the launchpad share, as
    they reach the live engine (SharedValues): before, the nightly ops read the packaged
    files."""
    import lotus_core.curators as curators_pkg
    import lotus_core.learning as learning_pkg
    import lotus_core.signals as signals_pkg
    from lotus_location.definitions import defs

    files = {"scoring_path": (signals_pkg, "scoring.yaml"),
             "learning_path": (learning_pkg, "learning.yaml"),
             "detectors_path": (signals_pkg, "detectors.yaml"),
             "curators_path": (curators_pkg, "curators.yaml")}
    paths = {}
    for field, (pkg, name) in files.items():
        paths[field] = str(tmp_path / f"my_{name}")
        Path(paths[field]).write_text((Path(pkg.__file__).parent / name).read_text())
    (tmp_path / "lotus.yaml").write_text(
        f"scoring: {{config: {paths['scoring_path']}, detectors: {paths['detectors_path']}, "
        f"curators: {paths['curators_path']}}}\n"
        f"learning: {{config: {paths['learning_path']}}}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOTUS_CONFIG", raising=False)
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    values = shared_values(load_settings())
    assert {field: getattr(values, field) for field in files} == paths

    loaded = defs()
    job, coin_job = loaded.resolve_job_def("lotus_daily"), loaded.resolve_job_def("lotus_coins")
    config = daily_run_config(values)
    ops = config["ops"]
    for field, path in paths.items():
        readers = _ops_with_field(job, field) | _ops_with_field(coin_job, field)
        assert readers, field
        assert {op for op, c in ops.items() if c["config"].get(field) == path} == readers
    assert {"detector_audits", "scoring_day", "lessons"} <= _ops_with_field(
        job, "scoring_path")
    # a run per coin
    assert {"detector_windows", "score_signals"} <= _ops_with_field(coin_job, "scoring_path")
    assert {"detector_audits", "detector_cards"} <= _ops_with_field(job, "detectors_path")
    assert "score_signals" in _ops_with_field(coin_job, "curators_path")
    # lotus_daily's part of the shared config (the day x coin ops' is lotus_coins')
    coin_ops = {n.name for n in coin_job.graph.node_defs}
    daily = {**config, "ops": {k: v for k, v in ops.items() if k not in coin_ops}}
    assert dg.validate_run_config(job, daily)
    assert job.partitioned_config.get_run_config_for_partition_key("2026-01-03") == daily


def _sized_windows(graph: object) -> dict[tuple[str, str], tuple[int, int]]:
    """(asset, upstream) -> offsets of every shared-size window (`sized_window_in`)."""
    out = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        a = node.assets_def
        for name, up in a.node_keys_by_input_name.items():
            if SIZED_BY in (a.node_def.input_def_named(name).metadata or {}):
                mapping = a.get_partition_mapping(up)
                out[key.to_user_string(), up.to_user_string()] = (mapping.start_offset,
                                                                  mapping.end_offset)
    return out


# (asset, upstream) -> the offsets of the packaged values: scoring.yaml's history_days 7,
# learning.yaml's window_days 14, DsiSettings' history_days 3
DEFAULT_WINDOWS = {
    ("dsi_model", "microtape_days"): (-3, -1),
    ("scoring_day", "detector_windows_days"): (-7, -1),
    ("detector_audits", "detector_windows_days"): (-7, -1),
    **{(asset, up): (-13, 0) for asset in ("lesson_atoms", "lessons", "braids", "meta_braids")
       for up in ("signal_events_days", "signal_eval_days", "signal_eval_late")},
    ("exec_lessons", "paper_trades"): (-13, 0),
}
VIS_WINDOWS = {("vis_lessons", "vis_strands"): (-13, 0),  # the chart lessons: in the location,
               ("vis_lessons", "vis_eval"): (-13, 0)}     # in lotus_vis, not lotus_daily


def test_the_default_settings_size_every_window_as_the_packaged_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shared-size window of the code location built for the default settings (the
    windows found from the assets, so a new one must be listed), in the location and its
    job: the sizes the packaged files give."""
    from lotus_location.definitions import build_definitions

    monkeypatch.chdir(tmp_path)  # no ./lotus.yaml
    loaded = build_definitions(load_settings(overrides={"home": str(tmp_path / "home")},
                                             env={}))
    job = loaded.resolve_job_def("lotus_daily")
    assert _sized_windows(loaded.resolve_asset_graph()) == {**DEFAULT_WINDOWS, **VIS_WINDOWS}
    assert _sized_windows(job.asset_layer.asset_graph) == DEFAULT_WINDOWS


def test_an_unsized_window_is_refused_before_anything_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ASSETS` carries placeholder windows (nothing read on import): materialising it
    unsized is refused, naming the assets and what sizes them."""
    from lotus_assets.chain import ASSETS, sized_assets
    from lotus_assets.partitions import unsized_windows

    monkeypatch.chdir(tmp_path)  # no ./lotus.yaml
    with pytest.raises(dg.DagsterInvalidDefinitionError,
                       match=r"scoring_day \(history_days\).*lesson_atoms \(window_days\)"):
        materialize_day(ASSETS, "2026-01-03")
    assert unsized_windows(sized_assets(shared_values(load_settings(env={})))) == []


def test_importing_the_code_location_reads_no_settings(tmp_path: Path) -> None:
    """A broken lotus.yaml does not break the import, only the load (naming the key)."""
    (tmp_path / "lotus.yaml").write_text("learning: {window_days: 0}\n")
    code = ("import lotus_location.definitions as d\n"
            "try:\n    d.defs()\nexcept Exception as exc:\n    print('LOAD', exc)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "LOAD" in run.stdout and "learning.window_days" in run.stdout


# --- the configured scoring.yaml / learning.yaml below the ops ----------------------------

SCORING_EDITS = {  # packaged line -> the user's file (each value differs from the packaged one)
    "history_days: 7 ": "history_days: 3 ",
    "  theta_min: 0.05 ": "  theta_min: 0.08 ",
    "  phi_max: 1.0 ": "  phi_max: 0.9 ",
    "theta_min_bounds: [0.0, 0.5]": "theta_min_bounds: [0.0, 0.7]",
}
LEARNING_EDITS = {"max_abs_theta_delta: 0.15": "max_abs_theta_delta: 0.3",
                  "max_step_theta: 0.10": "max_step_theta: 0.25"}


def _edited(packaged: Path, edits: dict[str, str], out: Path) -> Path:
    text = packaged.read_text()
    for old, new in edits.items():
        assert text.count(old) == 1, old  # the packaged file still holds the value edited
        text = text.replace(old, new)
    out.write_text(text)
    return out


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user lotus.yaml naming a scoring.yaml and a learning.yaml that differ from the
    packaged ones in history_days, kr's caps and bounds, and the learning caps."""
    import lotus_core.learning as learning_pkg
    import lotus_core.signals as signals_pkg

    scoring = _edited(Path(signals_pkg.__file__).parent / "scoring.yaml", SCORING_EDITS,
                      tmp_path / "my_scoring.yaml")
    learning = _edited(Path(learning_pkg.__file__).parent / "learning.yaml", LEARNING_EDITS,
                       tmp_path / "my_learning.yaml")
    (tmp_path / "lotus.yaml").write_text(
        f"scoring: {{config: {scoring}}}\nlearning: {{config: {learning}}}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOTUS_CONFIG", raising=False)
    monkeypatch.delenv("LOTUS_FABRIC_URL", raising=False)
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    return tmp_path


def test_the_scoring_files_history_days_sizes_the_history_windows(configured: Path) -> None:
    """scoring.config's history_days (lotus.yaml names no scoring.history_days) sizes the
    detector_windows history of scoring_day and detector_audits in the loaded code
    location and its job, not the packaged file's (which no module reads on import)."""
    from lotus_core.signals.config import load_scoring
    from lotus_location.definitions import defs

    assert shared_values(load_settings()).history_days == 3 != load_scoring().history_days
    loaded = defs()
    job = loaded.resolve_job_def("lotus_daily")
    for graph in (loaded.resolve_asset_graph(), job.asset_layer.asset_graph):
        for asset in ("scoring_day", "detector_audits"):
            mapping = graph.get(dg.AssetKey(asset)).assets_def.get_partition_mapping(
                dg.AssetKey("detector_windows_days"))  # the day x coin windows' handle
            assert (mapping.start_offset, mapping.end_offset) == (-3, -1), asset


def test_a_rollback_to_version_0_takes_the_caps_of_the_settings_scoring_file(
        configured: Path) -> None:
    """`lotus priors rollback --to 0` writes the caps of the scoring.yaml the settings name
    (the priors store's `default_caps(scoring)`), not the packaged file's 0.05 / 1.0."""
    from lotus_core.learning.priors_store import default_caps
    from lotus_core.signals.config import load_scoring

    out = CliRunner().invoke(cli, ["priors", "rollback", "--to", "0", "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert (body["theta_min"], body["phi_max"]) == (0.08, 0.9)
    # the packaged caps: the difference is real
    assert default_caps(scoring=load_scoring()) == (0.05, 1.0)
    assert default_caps(scoring=load_scoring(configured / "my_scoring.yaml")) == (0.08, 0.9)


def test_the_priors_check_judges_with_the_settings_scoring_and_learning_files(
        configured: Path) -> None:
    """`priors_caps_and_step` bounds the caps with the configured scoring.yaml's kr bounds
    and the patches with the configured learning.yaml's caps: a night compiled within them
    passes; the same rows break the packaged files' limits."""
    import numpy as np
    import pandas as pd

    from lotus_assets.checks import priors_caps_and_step
    from lotus_core.learning.config import load_learning
    from lotus_core.report.health import priors_violations
    from lotus_core.signals.config import load_scoring
    from lotus_location.definitions import build_resources

    settings = load_settings()
    rows = pd.DataFrame({
        "key": ["cap/theta_min", "cap/phi_max", "patch/sweep_flow_v1/*/session=us/theta_delta"],
        "before_value": [np.nan, np.nan, 0.0],
        "after_value": [0.6, 0.9, 0.2]})
    kr, caps = load_scoring().kr, load_learning().caps  # packaged
    packaged = priors_violations(rows, tuple(kr.theta_min_bounds), tuple(kr.phi_max_bounds),
                                 caps.max_abs_theta_delta, caps.max_step_theta)
    assert len(packaged) == 3, packaged  # theta_min bound, |theta_delta|, step
    resources = build_resources(settings)
    ctx = dg.build_asset_check_context(resources={
        k: resources[k] for k in ("fabric", "fabric_keys", "settings")})
    result = priors_caps_and_step(ctx, active_priors=rows)
    assert result.passed, result.metadata["detail"]
    assert "cap/theta_min in (0.0, 0.7)" in result.metadata["measures"].value
