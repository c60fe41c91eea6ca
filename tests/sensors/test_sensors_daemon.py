"""End to end: the real sensor daemon (`dagster-daemon run`) against a temporary
DAGSTER_HOME and a workspace loading `lotus_location.definitions`. A signed PRIOR_PATCH is
routed into sig_inbox; the daemon's inbox_sig_sensor must start exactly ONE inbox_sig run
for it (run_key = event_id), which applies the patch and consumes the row, and later ticks
must not start another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from lotus_core.fabric.examples import example_envelope
from lotus_core.fabric.heartbeats import read_heartbeats
from lotus_core.fabric.inbox import read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import post_to_outbox, read_outbox
from lotus_core.fabric.router import run_router
from lotus_core.fabric.signing import ensure_keys, sign
from lotus_core.learning.priors_store import current_priors
from lotus_core.store.opsdb import OpsDb
from lotus_core.store.url import sqlite_url

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT_SEC = 90.0

pytestmark = pytest.mark.slow


def _stop(proc: subprocess.Popen) -> None:
    """Stop the daemon and the code server it started (its own process group)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_daemon_starts_exactly_one_run_per_inbox_row(tmp_path: Path) -> None:
    from lotus_location.definitions import defs

    names = {s.name for s in defs().sensors or ()}
    assert "inbox_sig_sensor" in names, (
        "lotus_location.definitions lacks the fabric sensors: merge "
        "lotus_sensors.inbox.inbox_definitions() into build_definitions")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: lotus_location.definitions\n"
        f"      location_name: lotus\n      working_directory: {REPO}\n"
    )
    lotus_home = tmp_path / "lotus_home"
    url = sqlite_url(lotus_home / "fabric.sqlite")
    env = {**os.environ, "DAGSTER_HOME": str(home), "LOTUS_HOME": str(lotus_home),
           "LOTUS_FABRIC_URL": url}
    env.pop("LOTUS_CONFIG", None)
    ensure_keys(MODULES, lotus_home / "keys")
    keys = Keyring(lotus_home / "keys")

    patch = sign(example_envelope("sig", "PRIOR_PATCH", 1, ttl_sec=3600), keys.private_key("sig"))
    with OpsDb.open(url) as fabric:
        post_to_outbox(fabric, "sig", patch, models_map=load_modules().map)
        assert run_router(fabric, keys, until_idle=True, max_seconds=20).delivered == 1
        assert [r.event_id for r in read_inbox(fabric, "sig")] == [patch["event_id"]]

    started = subprocess.run(
        [str(BIN / "dagster"), "sensor", "start", "inbox_sig_sensor", "-w", str(workspace)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
                              env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        deadline = time.monotonic() + WAIT_SEC
        done_at = None
        while time.monotonic() < deadline:
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-4000:]
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="inbox_sig"))
            if runs and runs[0].status == dg.DagsterRunStatus.SUCCESS and done_at is None:
                done_at = datetime.now(UTC)
            if done_at is not None:
                with OpsDb.open(url) as fabric:
                    beats = read_heartbeats(fabric)
                ticks = [b for b in beats
                         if b.component == "sensor:inbox_sig" and b.beat_at > done_at]
                if ticks:  # a tick after the run finished saw nothing new to start
                    break
            failed = [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE]
            assert not failed, instance.all_logs(failed[0].run_id)[-5:]
            time.sleep(1.0)
        else:
            pytest.fail(f"no successful inbox_sig run plus a later tick within {WAIT_SEC} s; "
                        f"daemon log:\n{(tmp_path / 'daemon.log').read_text()[-4000:]}")
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="inbox_sig"))
        assert len(runs) == 1, [r.tags for r in runs]
        assert runs[0].tags["dagster/run_key"] == patch["event_id"]
        assert runs[0].tags["lotus/intent"] == "PRIOR_PATCH"
        with OpsDb.open(url) as fabric:
            assert read_inbox(fabric, "sig") == []  # consumed
            assert current_priors(fabric, "sig")["kr.theta_min"].version == 1
            answers = [r.envelope for r in read_outbox(fabric, "sig")]
            assert [a["intent"] for a in answers] == ["PRIOR_PATCH_APPLIED"]
            assert answers[0]["parent_id"] == patch["event_id"]
    finally:
        _stop(daemon)
        log.close()
        instance.dispose()
