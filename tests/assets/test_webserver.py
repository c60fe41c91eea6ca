"""The repo's workspace.yaml loads in a real dagster-webserver; a real browser shows the assets.

The browser is Debian's headless Chromium (installed by scripts/ensure-chromium.sh, which
`make test` runs): it renders the UI's JavaScript and we read the resulting DOM.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import REAL_RECORDING

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAY = "2025-01-26"
QUERY = """{ assetNodes { assetKey { path } partitionDefinition { type name } } }"""
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                 data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _page_text(url: str, profile: Path) -> str:
    """Render `url` in headless Chromium (JavaScript runs) and return the visible text."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: run scripts/ensure-chromium.sh (make test does)"
    out = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                          "--virtual-time-budget=20000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, check=True)
    text = re.sub(r"<[^>]+>", " ", out.stdout)
    return re.sub(r"\s+", " ", html.unescape(text))


@pytest.fixture
def webserver(tmp_path):
    """Materialise one day with the CLI, then serve the workspace on a free loopback port."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    feed = tmp_path / "feed"
    feed.mkdir()
    shutil.copyfile(REAL_RECORDING, feed / f"{DAY}.jsonl.gz")
    env = {**os.environ, "DAGSTER_HOME": str(home), "LOTUS_HOME": str(tmp_path / "lotus"),
           "LOTUS_FEED_DIR": str(feed)}
    subprocess.run([str(BIN / "lotus"), "materialize"], env=env, check=True, cwd=tmp_path,
                   capture_output=True, timeout=300)
    port = _free_port()
    proc = subprocess.Popen([str(BIN / "dagster-webserver"), "-w", "workspace.yaml",
                             "-h", "127.0.0.1", "-p", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                nodes = _graphql(port, QUERY)["data"]["assetNodes"]
                if nodes:
                    break
            except (OSError, KeyError, TypeError):
                pass
            assert time.monotonic() < deadline, "the webserver never served the assets"
            time.sleep(1)
        yield port, nodes
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_workspace_serves_daily_partitioned_assets_in_a_browser(webserver, tmp_path):
    port, nodes = webserver
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert {"raw_feed", "microtape_frames"} <= set(by_key)
    assert by_key["raw_feed"]["partitionDefinition"]["type"] == "TIME_WINDOW"
    # the MicroTape by day x coin: the coins are what the day's raw_feed found
    assert by_key["microtape_frames"]["partitionDefinition"]["type"] == "MULTIPARTITIONED"
    text = _page_text(f"http://127.0.0.1:{port}/assets/microtape_frames?view=partitions",
                      tmp_path / "chromium")
    assert "microtape_frames" in text
    assert re.search(r"\d{3,} Partitions", text), text[:2000]  # one per day since 2025-01-01
    assert "Materialized (1)" in text, text[:2000]  # the day the CLI run materialised
    lineage = _page_text(f"http://127.0.0.1:{port}/asset-groups", tmp_path / "chromium2")
    assert "feed" in lineage and "microtape" in lineage
