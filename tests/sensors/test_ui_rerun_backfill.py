"""`make run` then `make dev`: a frozen set of two small generated days is
materialised by `lotus materialize`; `dg dev` (what `make dev` runs: webserver and daemon)
then serves the same feed directory, so its partitions are exactly those days, its code
location is `lotus`, and a re-run of one day's daily stages and of one coin's (launchRun
of lotus_daily, of lotus_coins) and a two-day asset backfill across the daily and the
day x coin assets (launchPartitionBackfill with the assets and the days, Dagster ordering
the runs: day 2's DSI fit after day 1's MicroTape handle) all succeed, and each writes the
bytes the CLI's full run wrote for that day (a re-run reads the day's history from the lake:
it never half-rewrites a day)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from lotus_core.synth import default_spec, generate_days
from tests.helpers import small_day

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAYS = ["2026-03-01", "2026-03-02"]
DONE = ("SUCCESS", "FAILURE", "CANCELED")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ui_rerun_backfill")]

RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status runs(limit: 50) { runId status startTime endTime
  assetSelection { path } tags { key value } } } } }"""
LAUNCH_RUN = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
LAUNCH_BACKFILL = """mutation($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) { __typename
  ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gql(port: int, query: str, variables: dict | None = None) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                 data=json.dumps({"query": query,
                                                  "variables": variables or {}}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            out = json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # the webserver answers errors with a 500
        raise AssertionError(exc.read().decode()[:3000]) from exc
    assert "errors" not in out, out
    return out["data"]


def _frozen_feed(root: Path) -> Path:
    """Two 10-minute days with a manifest.json: a frozen set, as `make run`'s loop feed."""
    generate_days(root / "gen", date.fromisoformat(DAYS[0]), len(DAYS), ["BTC"], 7,
                  default_spec(), hours=(0, 1))
    feed = root / "feed"
    files = {}
    for day in DAYS:
        path = small_day(root / "gen" / f"{day}.jsonl.gz", feed / f"{day}.jsonl.gz", 10)
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (feed / "manifest.json").write_text(json.dumps({"files": files}))
    return feed


def _wait(pred, timeout: float, what: str, proc: subprocess.Popen, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"dg dev exited ({proc.returncode}) waiting for {what}"
        try:
            got = pred()
        except (OSError, KeyError, TypeError):
            got = None
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def test_a_day_rerun_and_a_backfill_from_the_ui_read_the_materialised_feed(tmp_path):
    feed = _frozen_feed(tmp_path)
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "LOTUS_HOME": str(tmp_path / "home"),
           "LOTUS_FEED_DIR": str(feed)}  # what `make run` and `make dev` export
    for var in ("LOTUS_CONFIG", "LOTUS_PARTITIONS_START", "LOTUS_PARTITIONS_END"):
        env.pop(var, None)  # as a user's shell: partitions follow the feed directory
    subprocess.run([str(BIN / "lotus"), "materialize", "--feed-dir", str(feed)], env=env,
                   check=True, cwd=tmp_path, capture_output=True, timeout=600)

    lake = tmp_path / "home" / "lake"
    full = _partition_bytes(lake, DAYS[1])
    assert len(full) >= 15, sorted(full)
    port = _free_port()
    proc = subprocess.Popen([str(BIN / "dg"), "dev", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _check_ui(port, proc, lambda: _partition_bytes(lake, DAYS[1]), full)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # dg dev, its webserver, daemon and code server
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _partition_bytes(lake: Path, day: str) -> dict[str, bytes]:
    """{asset: the bytes of its partition of `day`} for every asset the lake holds then."""
    return {p.parent.parent.name: p.read_bytes()
            for p in sorted(lake.glob(f"*/date={day}/part.parquet"))}


def _check_ui(port: int, proc: subprocess.Popen, now: Callable[[], dict[str, bytes]],
              full: dict[str, bytes]) -> None:
    """`now()` reads the re-run day's partitions; `full` is what the CLI's full run wrote."""
    locations = _wait(lambda: [e["name"] for e in _gql(port, """{ workspaceOrError {
        ... on Workspace { locationEntries { name locationOrLoadError { __typename } } } } }""")
        ["workspaceOrError"]["locationEntries"]
        if e["locationOrLoadError"]["__typename"] == "RepositoryLocation"],
        180, "the code location to load", proc)
    assert locations == ["lotus"]
    nodes = _gql(port, "{ assetNodes { assetKey { path } partitionKeys } }")
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes["assetNodes"]}
    assert by_key["lessons"]["partitionKeys"] == DAYS  # the frozen set's days, no more
    repo = {"repositoryLocationName": "lotus", "repositoryName": "__repository__"}

    # re-run one day's daily stages, then one coin of it (the Launchpad's / Materialize's
    # launchRun; a day x coin run names its partition and each dimension)
    coin_key = f"BTC|{DAYS[1]}"
    for job, tags in (("lotus_daily", {"dagster/partition": DAYS[1]}),
                      ("lotus_coins", {"dagster/partition": coin_key,
                                       "dagster/partition/coin": "BTC",
                                       "dagster/partition/date": DAYS[1]})):
        launched = _gql(port, LAUNCH_RUN, {"p": {
            "selector": {**repo, "jobName": job}, "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}}}
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", (job, launched)
        run_id = launched["run"]["runId"]
        status = _wait(lambda run_id=run_id: (s := _gql(port, RUN_STATUS, {"id": run_id})[
            "runOrError"]["status"]) in DONE and s, 600, f"the {job} re-run", proc)
        assert status == "SUCCESS", job
        # a re-run with the day's history in the lake writes the full run's bytes
        after = now()
        assert set(after) == set(full), (job, sorted(set(after) ^ set(full)))
        assert sorted(k for k in full if after[k] != full[k]) == [], job

    # a two-day asset backfill across the two kinds (the UI's "Materialize" of a selection
    # over a range of days, each asset with its partitions: the days, and the day x coin
    # partitions of those days): Dagster runs the daily and the coin runs in order, day 2's
    # DSI fit after day 1's MicroTape handle (its window of earlier days), each coin's
    # annotation after its day's fit. The selection starts at the daily handle on the
    # MicroTape the CLI run left (raw_feed and microtape_frames would only add two waves of
    # the backfill daemon's 30 s ticks) and stops before dsi_experts (one more wave).
    the_days = {"ranges": [{"start": DAYS[0], "end": DAYS[-1]}]}
    by_asset = [{"assetKey": {"path": ["microtape_days"]}, "partitions": the_days},
                {"assetKey": {"path": ["dsi_model"]}, "partitions": the_days},
                # every partition: the frozen set's days x its one coin
                {"assetKey": {"path": ["dsi_annotations"]}, "partitions": None},
                {"assetKey": {"path": ["dsi_coin_stats"]}, "partitions": None}]
    started = _gql(port, LAUNCH_BACKFILL, {"p": {"partitionsByAssets": by_asset}})
    backfill = started["launchPartitionBackfill"]
    assert backfill["__typename"] == "LaunchBackfillSuccess", backfill

    def finished() -> dict | None:
        b = _gql(port, BACKFILL, {"id": backfill["backfillId"]})["partitionBackfillOrError"]
        done = b["status"] in ("FAILED", "CANCELED", "COMPLETED", "COMPLETED_SUCCESS",
                               "COMPLETED_FAILED") and all(r["status"] in DONE
                                                           for r in b["runs"])
        return b if done else None

    # polled every 2 s: the backfill takes minutes (the daemon's 30 s ticks), and each query
    # (the backfill with its runs and their tags) costs the webserver CPU
    result = _wait(finished, 900, "the backfill", proc, every=2.0)
    assert result["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), result
    runs = result["runs"]
    assert runs and all(r["status"] == "SUCCESS" for r in runs), runs
    tags = [{t["key"]: t["value"] for t in r["tags"]} for r in runs]
    days = {t.get("dagster/partition/date", t.get("dagster/partition")) for t in tags}
    assert days == set(DAYS)
    # the backfill re-made the stages up to the DSI of both days: the same bytes again
    assert sorted(k for k, v in now().items() if v != full.get(k)) == []
    # Dagster ordered the runs: day 2's fit started once day 1's MicroTape handle had
    # been made, and each day's coin once its day's fit had
    def run_of(asset: str, partition: str) -> dict:
        (run,) = [r for r, t in zip(runs, tags, strict=True)
                  if t.get("dagster/partition") == partition
                  and {"path": [asset]} in (r["assetSelection"] or [])]
        return run
    assert run_of("dsi_model", DAYS[1])["startTime"] \
        >= run_of("microtape_days", DAYS[0])["endTime"], tags
    for day in DAYS:
        assert run_of("dsi_annotations", f"BTC|{day}")["startTime"] \
            >= run_of("dsi_model", day)["endTime"], (day, tags)
    coin_runs = [t for t in tags if "dagster/partition/coin" in t]
    assert {(t["dagster/partition/coin"], t["dagster/partition/date"]) for t in coin_runs} \
        == {("BTC", d) for d in DAYS}  # the day x coin stage ran once per coin and day
