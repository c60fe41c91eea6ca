"""The UI in a real browser, shared by the tests that open it: headless Chromium driven over
the DevTools protocol (`Browser`), a dagster-webserver serving a lake's Dagster instance
(`webserver`), and the page scripts that skip Dagster's first-visit dialog and open or close
a metadata value's Markdown."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("LOTUS_TEST_ARTIFACTS", REPO / ".test-artifacts")) / "ui"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1500,1800"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@contextmanager
def webserver(dagster_home: Path, lotus_home: Path, feed_dir: Path,
              base_env: Mapping[str, str] | None = None) -> Iterator[int]:
    """The repo's workspace served by dagster-webserver on a free port (yielded), reading the
    instance in `dagster_home`; `base_env` (default: this process's) under the three."""
    port = free_port()
    env = {**(os.environ if base_env is None else base_env), "DAGSTER_HOME": str(dagster_home),
           "LOTUS_HOME": str(lotus_home), "LOTUS_FEED_DIR": str(feed_dir)}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-w",
                             "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while True:
            err = proc.stderr.read() if proc.poll() is not None and proc.stderr else b""
            assert proc.poll() is None, err.decode()[-2000:]
            try:
                if _locations_loaded(port):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the webserver never loaded its code location"
            time.sleep(1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


LOCATIONS = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name
  loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _locations_loaded(port: int) -> bool:
    """True once every code location of the workspace has loaded. The webserver answers
    `/server_info` before its code server has imported the project (seconds on a quiet
    machine, a minute on a loaded one), and a page opened meanwhile spends its own wait on
    that import. A location that failed to load fails here, with its error."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                 data=json.dumps({"query": LOCATIONS}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        data = json.loads(resp.read()).get("data") or {}
    entries = (data.get("workspaceOrError") or {}).get("locationEntries") or []
    for e in entries:
        error = e.get("locationOrLoadError") or {}
        assert error.get("__typename") != "PythonError", \
            f"code location {e['name']} failed to load: {error.get('message', '')[-2000:]}"
    return bool(entries) and all(e["loadStatus"] == "LOADED" and e["locationOrLoadError"]
                                 for e in entries)


class Browser:
    """Headless Chromium driven over the DevTools protocol (websockets, already a dep)."""

    def __init__(self, profile: Path) -> None:
        chromium = shutil.which("chromium")
        assert chromium, "chromium is missing: run scripts/ensure-chromium.sh (make test does)"
        self.port = free_port()
        self.proc = subprocess.Popen([chromium, *CHROMIUM_FLAGS,
                                      f"--remote-debugging-port={self.port}",
                                      f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                pages = [t for t in _get_json(f"http://127.0.0.1:{self.port}/json")
                         if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "chromium never opened its DevTools port"
            time.sleep(0.5)
        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None,
                          open_timeout=30)
        self.n = 0

    def call(self, method: str, **params: Any) -> Any:
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=120))
            if msg.get("id") == self.n:
                assert "error" not in msg, msg
                return msg["result"]

    def js(self, expr: str) -> Any:
        out = self.call("Runtime.evaluate", expression=expr, returnByValue=True,
                        awaitPromise=True)
        return out["result"].get("value")

    def wait_for(self, expr: str, timeout: float = 90.0, every: float = 0.1) -> Any:
        """`expr`'s value once truthy, evaluated every `every` s; a timeout fails, with a
        screenshot and the page's text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expr)
            if value:
                return value
            time.sleep(every)
        shot, text = ARTIFACTS / f"timeout-{int(time.time() * 1000)}.png", ""
        with suppress(Exception):  # the page as it was, for the failure's reader; a page
            self.screenshot(shot)  # that no longer answers leaves the message as it is
            text = str(self.js("document.title + ' | ' + (document.body ? "
                               "document.body.innerText : '')") or "")[:600]
        raise AssertionError(f"never true in the page within {timeout:.0f} s: {expr}\n"
                             f"the page ({shot.name} if saved): {text!r}")

    def goto(self, url: str) -> None:
        """Open `url`. The first page (or one of another origin) loads in full; a later page of
        the same origin is routed inside the app already loaded (`history.pushState` and a
        popstate event, what a click on an in-app link does), so Dagster's JavaScript is not
        fetched and parsed again for every page: on make run's 16 materialisation pages,
        Chromium's CPU fell from 16 s to 6 s with every screenshot byte-identical. Returns
        once the app has rendered the new route (two animation frames after the URL is set);
        the caller then waits for the content it needs, as after a full load."""
        origin = self.js("location.origin")
        if not origin or origin == "null" or not url.startswith(origin + "/"):
            self.call("Page.navigate", url=url)
            return
        target = json.dumps(url[len(origin):])
        self.js(f"window.history.pushState(null, '', {target}); "
                "window.dispatchEvent(new PopStateEvent('popstate', {state: null})); true")
        self.wait_for(f"location.pathname + location.search === {target}", timeout=15)
        self.js(TWO_FRAMES)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the page stands still (fonts loaded, images decoded, no finite CSS
        animation or transition running: a dialog's opening, say), then two animation
        frames: a screenshot or a measure of widths then sees the page as it stays. What a
        fixed sleep before a screenshot guessed at."""
        self.wait_for(SETTLED, timeout)
        self.js(TWO_FRAMES)

    def skip_welcome(self, timeout: float) -> bool:
        """Click Skip on Dagster's first-visit dialog if it shows within `timeout` s; a
        later page of the same browser asks with `timeout=0` (no wait). Whether it was
        there. Unlike `wait_for`, not finding it is no failure: nothing is kept."""
        deadline = time.monotonic() + timeout
        while True:
            if self.js(SKIP_WELCOME.format()):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


TWO_FRAMES = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
"""Resolves after two animation frames: what was set before it has been drawn."""
SETTLED = """document.fonts.status === 'loaded' && [...document.images].every(i => i.complete)
  && document.getAnimations().every(a => a.playState !== 'running'
    || a.effect.getTiming().iterations === Infinity)"""
SHOW = """(() => {{ const rows = [...document.querySelectorAll('tr')];
  const row = rows.find(r => r.innerText.trim().startsWith('{label}'));
  if (!row) return false;
  const links = [...row.querySelectorAll('*')].filter(e => e.innerText === '[Show Markdown]');
  const link = links.find(e => e.tagName === 'A') || links[links.length - 1];
  if (!link) return false; link.click(); return true; }})()"""
TABLE_WITH = """(() => [...document.querySelectorAll('table')]
  .filter(t => t.innerText.includes('{text}')).length)()"""
SKIP_WELCOME = """(() => {{ const b = [...document.querySelectorAll('button')]
  .find(e => e.innerText.trim() === 'Skip'); if (b) {{ b.click(); return true; }}
  return false; }})()"""
CLOSE = """(() => { const b = [...document.querySelectorAll('[role=dialog] button')]
  .find(e => /close|ok/i.test(e.innerText)); if (b) { b.click(); return true; }
  document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return true; })()"""
