"""A chart is a live Decision-Maker source: a submitted chart that `vis_source.sources`
accepts is posted by vis as a signed CHART_ALPHA (its vis_strands row's fields), the real router
delivers it to dm_inbox, and the daemon's `dm` loop decides on it: the same AlphaEvent the
nightly `dm_decisions` builds from the day's `vis_strands` row of that strand, and the same
tickets the nightly's DM replay makes of it; restarted, the loop restores that book and
posts nothing again. A chart that is not a source posts nothing.
On SQLite and PostgreSQL (there vis submits as `lotus_vis`, the router routes as
`lotus_router`, and `lotus_dm`, which may not read vis_strand, reads the alpha from its
inbox)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from lotus_core.costs import CostModel
from lotus_core.dm.alpha import ms_to_iso
from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.live import alpha_of
from lotus_core.dm.replay import RowFeed, replay
from lotus_core.dm.ticket import without_wall_clock
from lotus_core.dm.vis_source import vis_alphas
from lotus_core.fabric.connect import open_opsdb
from lotus_core.fabric.envelope import build_envelope, validate_envelope
from lotus_core.fabric.errors import RouteError
from lotus_core.fabric.examples import example_payload
from lotus_core.fabric.inbox import read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.router import run_router
from lotus_core.fabric.routes import check_routes
from lotus_core.fabric.security import apply_security
from lotus_core.fabric.signing import ensure_keys
from lotus_core.fabric.strands import read_strand
from lotus_core.store.opsdb import OpsDb
from lotus_core.trader.config import trader_settings
from lotus_core.vis.intake import accept_chart
from lotus_core.vis.outcomes import strands_of_day
from lotus_core.vis.source import CHART_SCHEMA, DETECTOR
from lotus_core.vis.store import load_readings
from lotus_daemon.host import Daemon
from lotus_daemon.loops.dm import DmLoop
from lotus_daemon.loops.router import RouterLoop
from tests.core.vis.chart_kit import chart
from tests.kits.dm_kit import DAY0_MS, planted_training, tape_rows

AT_MS = DAY0_MS + 600_000  # ten minutes into the tape
DAY = datetime.fromtimestamp(AT_MS / 1000, UTC).strftime("%Y-%m-%d")


def _as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))


def _wait(pred, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the dm loop")


def _serve(daemon: Daemon, until) -> None:
    t = threading.Thread(target=daemon.serve)
    t.start()
    try:
        _wait(until)
    finally:
        daemon.request_stop()
        t.join(timeout=60)
    assert not t.is_alive()


def test_a_submitted_chart_reaches_the_live_dm_as_the_nightly_alpha(
        tmp_path: Path, fabric_url: str) -> None:
    home = tmp_path / "home"
    keys = home / "keys"  # the key directory's default for this home: where vis signs
    ensure_keys(MODULES, keys)
    postgres = fabric_url.startswith("postgres")
    with OpsDb.open(fabric_url) as owner:
        if postgres:
            apply_security(owner, registry=load_modules())
    vis_url = _as_role(fabric_url, "lotus_vis") if postgres else fabric_url

    # -- vis: a long chart (read trend_up) and one with no direction --------------------
    image = chart("trend_up", 11, "candles", "dark")[2]
    flat = chart("none", 3, "line", "light")[2]
    with open_opsdb(vis_url, migrate=False) as fabric:
        sub = accept_chart(fabric, home, image, coin="BTC", at=ms_to_iso(AT_MS))
        other = accept_chart(fabric, home, flat, coin="BTC", at=ms_to_iso(AT_MS + 1000))
    with OpsDb.open(fabric_url) as owner:
        posted = [r.envelope for r in read_outbox(owner, "vis", limit=100, pending_only=False)]
        # the nightly's view of the same strands: the vis_strands rows of the day
        recorded = {s: row for s in (sub.strand_id, other.strand_id)
                    if (row := read_strand(owner, "vis", s)) is not None}
    strands = strands_of_day(load_readings(home), recorded, DAY)
    nightly = vis_alphas(strands)
    assert [a.alpha_id for a in nightly] == [sub.strand_id]  # the undirected chart: no source
    assert nightly[0].detector_id == DETECTOR and nightly[0].direction == +1
    assert len(posted) == 1 and other.strand_id not in json.dumps(posted)
    (env,) = posted
    assert (env["from"], env["to"], env["intent"], env["schema_ref"]) == (
        "vis", ["dm"], "CHART_ALPHA", CHART_SCHEMA)
    assert env["payload"]["strand_id"] == sub.strand_id and env["sig"]

    # -- the real router (on PostgreSQL as lotus_router) delivers it to dm_inbox ----------
    router_url = _as_role(fabric_url, "lotus_router") if postgres else fabric_url
    with open_opsdb(router_url, migrate=False) as router:
        stats = run_router(router, Keyring(keys), until_idle=True, max_seconds=30)
    assert stats.delivered == 1 and not stats.dead
    dm_url = _as_role(fabric_url, "lotus_dm") if postgres else fabric_url
    with open_opsdb(dm_url, migrate=False) as as_dm:
        (row,) = read_inbox(as_dm, "dm", limit=100)
        assert row.envelope == env and row.status == "pending"
        assert alpha_of(row.envelope) == nightly[0]  # all the DM needs is in its inbox
        if postgres:  # the dm role reads no vis table
            with pytest.raises(Exception, match="permission denied"):
                read_strand(as_dm, "vis", sub.strand_id)

    # -- live: the daemon's dm loop decides on it ------------------------------------------
    cfg = load_dm_settings({})
    table = fit_calibration(planted_training(DETECTOR, 600, 25.0, 0, days=3),
                            cfg.calibration, window="test")
    rows = tape_rows(("BTC", "ETH", "SOL"), seconds=900)
    loop = DmLoop({"rows": RowFeed(rows), "calibration": table, "dm_settings": cfg,
                   "positions": "own"})
    daemon = Daemon(fabric_url, keys, tmp_path, [RouterLoop(), loop], heartbeat_sec=0.5)
    _serve(daemon, lambda: loop.live is not None and loop.live.stats.consumed == 1)
    assert loop.live is not None and loop.live.stats.failed == 0
    assert loop.live.last_alpha == nightly[0]  # the very AlphaEvent the nightly reads

    with OpsDb.open(fabric_url) as owner:
        inbox = read_inbox(owner, "dm", limit=100, pending_only=False)
        assert [(r.envelope["event_id"], r.status) for r in inbox] == [
            (env["event_id"], "processed")]
        live = [r.envelope["payload"] for r in read_outbox(owner, "dm", limit=100,
                                                           pending_only=False)
                if r.envelope["intent"] == "DM_DECISION"]

    # -- nightly: the DM's replay of the day on the same alpha, engine built as the loop's --
    engine = DmEngine(cfg, Calibration(table, cfg.calibration), cadence_ms=1000,
                      costs=CostModel.from_trader(trader_settings(None)))
    expected = replay(engine, rows, nightly).decisions
    assert expected and any(d.action == "trade" and d.coin == "BTC" for d in expected)
    assert [t["decision_id"] for t in live] == [d.decision_id for d in expected]
    for ticket, d in zip(live, expected, strict=True):
        got = json.loads(json.dumps(ticket))
        got["audit_refs"] = {k: v for k, v in got["audit_refs"].items() if k != "solve_ms"}
        assert got == without_wall_clock(json.dumps(d.ticket))
        assert f"vis@BTC:{sub.strand_id}@300s" in d.ticket["rationale"]["blend_weights"]

    # -- a restarted loop restores the chart's book from its consumed inbox, posting nothing --
    again = DmLoop({"rows": RowFeed(rows), "calibration": table, "dm_settings": cfg,
                    "positions": "own"})
    _serve(Daemon(fabric_url, keys, tmp_path, [again], heartbeat_sec=0.5),
           lambda: again.live is not None and again.live.stats.restored == 1)
    assert again.live is not None and again.live.stats.posted == 0
    assert again.live.engine.book.w.tolist() == loop.live.engine.book.w.tolist()


def test_only_vis_may_send_a_chart_alpha_and_only_to_dm() -> None:
    routes = load_modules().map
    env = build_envelope(sender="vis", to=["dm"], intent="CHART_ALPHA",
                         payload=example_payload("CHART_ALPHA", 1))
    validate_envelope(env)
    check_routes(env, routes)
    for sender, to in (("sig", ["dm"]), ("vis", ["tr"]), ("tr", ["dm"])):
        with pytest.raises(RouteError, match="may not send CHART_ALPHA"):
            check_routes({**env, "from": sender, "to": to}, routes)
