"""Starting "the daemon" starts the live path: `lotus daemon start`, `python -m lotus_daemon`
and the `daemon_start` job with their default config host feed, score, dm, trader and router
(they used to host the router alone), and `--loops router` still hosts only the router. The
feed here is the replay server on loopback (as tests/daemon/test_daemon_status_facts.py
starts it), never the network. A pid or a priors version of 0 means "unknown" and is shown
so, in `daemon_status`, `live_feed` and `lotus daemon status`."""

from __future__ import annotations

import contextlib
import io

import dagster as dg
import pytest

import lotus_assets  # noqa: F401  (names the beta Dagster features it uses: no warnings)
from lotus_cli import daemon as daemon_cli
from lotus_core.config import load_settings
from lotus_daemon import host, pidfile
from lotus_daemon.loops import DEFAULT_LOOPS, LOOPS
from lotus_daemon.market import MarketHub
from lotus_replay.server import ReplayConfig, ReplayThread
from lotus_resources.daemon import DaemonResource
from lotus_sensors.daemon import (
    LIVE_LOOPS,
    DaemonStartConfig,
    daemon_start,
    loops_table,
    status_line,
    status_metadata,
)
from lotus_sensors.live import feed_metadata
from tests.daemon.live_daemon_kit import daemon_log, loops, lotus, new_home, recording, status
from tests.helpers import wait_for

LIVE = ("feed", "score", "dm", "trader", "router")


def test_every_default_is_the_live_path():
    assert DEFAULT_LOOPS == LIVE and set(LIVE) == set(LOOPS)
    assert LIVE_LOOPS == ",".join(LIVE) == DaemonStartConfig().loops
    (opt,) = [p for p in daemon_cli.start.params if p.name == "loops"]
    assert opt.default == ",".join(LIVE)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        host.main(["--help"])
    assert "default: feed,score,dm,trader,router" in " ".join(out.getvalue().split())
    # the five loops build from the host's one Settings (nothing connects until run)
    settings = load_settings(env={})
    built = host.build_loops(list(DEFAULT_LOOPS), {"settings": settings, "market": MarketHub(),
                                                   "batch_size": 10})
    assert [lp.name for lp in built] == list(LIVE)


class _Recording(DaemonResource):
    """A handle that records what the job asks for instead of starting a process."""

    def launch(self, *, timeout_sec: float = 60.0, loops: str | None = None) -> dict:
        asked.append(loops)
        return {"pid": 4242, "loops": (loops or self.loops).split(","), "log": "-"}

    def state(self) -> dict:
        return {"health": "unknown", "running": False, "pid": None, "loops": []}


asked: list[str | None] = []


def test_the_daemon_start_job_asks_for_the_live_path_unless_told(tmp_path):
    handle = _Recording(home=str(tmp_path), fabric_url=f"sqlite:///{tmp_path / 'f.sqlite'}")
    asked.clear()
    with dg.DagsterInstance.ephemeral() as instance:
        default = daemon_start.execute_in_process(instance=instance,
                                                  resources={"daemon": handle})
        router = daemon_start.execute_in_process(
            instance=instance, resources={"daemon": handle},
            run_config={"ops": {"start_daemon": {"config": {"loops": "router"}}}})
    assert default.success and router.success
    assert asked == [",".join(LIVE), "router"]
    (obs,) = [e.event_specific_data.asset_observation
              for e in default.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    assert obs.metadata["pid"].value == "unknown"  # not 0


def test_pid_and_priors_version_zero_show_as_unknown():
    stopped = {"health": "stopped", "running": False, "pid": None,
               "heartbeat": {"status": "stopped", "pid": 0, "host": "h", "age_s": 3.0,
                             "beat_at": "t"},
               "loops": [{"name": "score", "state": "running", "priors_ver": 0},
                         {"name": "router", "state": "running"}]}
    meta = status_metadata(stopped)
    assert meta["pid"] == "unknown" and meta["priors_ver"] == "unknown"
    assert "last pid unknown" in status_line(stopped)
    score_row = next(r for r in loops_table(stopped).splitlines() if r.startswith("| score "))
    assert "| 0 |" not in score_row
    running = {**stopped, "running": True, "pid": 4242,
               "loops": [{"name": "score", "state": "running", "priors_ver": 3}]}
    meta = status_metadata(running)
    assert meta["pid"] == 4242 and meta["priors_ver"] == 3
    assert "| 3 |" in loops_table(running)
    beat = {"status": "ok", "detail": {"loops": {"score": {"priors_ver": 0}}}}
    assert feed_metadata(beat)["priors_ver"] == "unknown"
    assert daemon_cli._live_figures({"priors_ver": 0}).startswith("priors unknown,")
    assert daemon_cli._live_figures({"priors_ver": 5}).startswith("priors v5,")


@pytest.mark.slow
def test_lotus_daemon_start_runs_the_live_path_and_loops_router_the_router_alone(tmp_path):
    home = new_home(tmp_path)
    recording(tmp_path / "src", minutes=2)
    with ReplayThread(ReplayConfig(tmp_path / "src", speed=4.0)) as srv:
        started = lotus(home, "daemon", "start", "--url", srv.url, "--clock", "replay")
        assert started.returncode == 0, started.stderr + started.stdout
        assert "loops feed, score, dm, trader, router" in started.stdout
        try:
            assert pidfile.read_info(pidfile.pid_path(home))["loops"] == list(LIVE)

            seen: dict = {}

            def live() -> bool:
                seen.update(loops(status(home)))
                return (seen["feed"].get("messages") or 0) > 0 and all(
                    seen[n]["state"] == "running" for n in LIVE) and (
                    seen["score"].get("kernels_s") is not None)

            wait_for(live, timeout=90, what="every live loop running, the feed's first "
                     "frames read from loopback, the score process's kernels loaded")
            assert set(seen) == {*LIVE, "heartbeat"} and seen["feed"]["url"] == srv.url
            text = lotus(home, "daemon", "status").stdout
            assert f"kernels ready in {seen['score']['kernels_s']} s" in text
        finally:
            stopped = lotus(home, "daemon", "stop", "--timeout", "60")
        assert stopped.returncode == 0, stopped.stderr
        # the score process loaded them before its first batch, and said so at its start
        assert "score: compiled kernels ready in " in daemon_log(home)
    started = lotus(home, "daemon", "start", "--loops", "router")
    assert started.returncode == 0, started.stderr + started.stdout
    try:
        assert pidfile.read_info(pidfile.pid_path(home))["loops"] == ["router"]
        assert set(loops(status(home))) == {"router", "heartbeat"}
    finally:
        assert lotus(home, "daemon", "stop").returncode == 0
