"""`lotus curator` end to end: enroll a curator, queue a day's detector cards, serve the
API as its own process (`lotus curator serve`), act through it with the enrolled key over
loopback, and read the action back with `lotus curator log`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
from click.testing import CliRunner

from lotus_api.client import CuratorClient
from lotus_cli.main import cli
from lotus_core.curator_api.keys import load_private_key
from lotus_core.store.lake import open_lake

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_enrolls_queues_serves_and_logs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "LOTUS_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("LOTUS_FABRIC_URL", None)
    env.pop("LOTUS_CONFIG", None)
    runner = CliRunner()
    r = runner.invoke(cli, ["curator", "enroll", "alice", "--role", "leakage"], env=env)
    assert r.exit_code == 0, r.output
    key = load_private_key(home / "keys" / "curators" / "alice.ed25519.pem")
    open_lake(home / "lake").write("detector_cards", "2025-01-26", pd.DataFrame({
        "detector_id": ["vol_burst"], "recipe_hash": ["sha256:ab"], "params_hash": ["p"],
        "card_md": ["# card"], "card_json": ['{"card": "detector-card-1"}'],
        "card_ok": [True]}))
    for expected in ("1 new candidate(s) of 1", "0 new candidate(s) of 1"):  # idempotent
        r = runner.invoke(cli, ["curator", "queue-cards", "--date", "2025-01-26"], env=env)
        assert r.exit_code == 0 and expected in r.output, r.output

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from lotus_cli.main import cli; cli()", "curator", "serve",
         "--port", str(port), "--log-level", "warning"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health").json()["curators"] == 1:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "lotus curator serve did not come up"
            time.sleep(0.1)
        with CuratorClient(url, "alice", "leakage", key) as alice:
            (item,) = alice.get("/candidates").json()["candidates"]
            assert item["item_id"] == "card:vol_burst:sha256:ab"
            r = alice.post(f"/candidates/{item['item_id']}/sign-off", {"reason": "clean"})
            assert r.status_code == 201, r.text
            assert httpx.get(f"{url}/candidates").status_code == 401  # unsigned
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    r = runner.invoke(cli, ["curator", "log", "--json"], env=env)
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert (row["curator_id"], row["action"], row["target_id"]) == (
        "alice", "sign_off", "card:vol_burst:sha256:ab")
