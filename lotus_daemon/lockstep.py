"""A recorded day through the daemon's own `dm` and `trader` loops, in lock-step, for the
nightly `dm_trader_parity` check (lotus_assets/checks.py; the comparison is
`lotus_core.dm.parity`).

The loops are built by the daemon's factories (`lotus_daemon.loops.LOOPS`, from the one
Settings, as `lotus daemon start` builds them) on a fresh SQLite fabric of their own, with
fresh keys, and fed what the daemon would receive that day:

- the day's published windows as signed ALPHA_PROPOSED (`publish_alpha`, the score loop's
  call) and its charts with a direction as signed CHART_ALPHA, in the DM's order, routed by
  the real router (`route_once`) to dm_inbox before the day starts (the dm loop takes them
  one at a time, each at its turn);
- the day's MicroTape rows as the DM's row source (`RowFeed`, what `HubRows` hands out);
- the recorded day's market events (`market_events`: what `HubTraderSource` delivers) as
  the trader loop's source;
- what the daemon holds at the day's start: the Trader's state carried from the previous
  day (the snapshot the nightly starts from, saved as the loop's own `trader_state`), the
  tr priors version the nightly trades with (the newest in this fabric), and the day's
  `dm_calibration`.

Lock-step, in one run of the trader loop: before the first market event later than an
alpha's time its source yields a `Sync` (`lotus_daemon.loops.trader`): the loop commits its
state, the dm loop decides the alpha from the Trader state it reads in the fabric, the
router takes its DM_DECISIONs to tr_inbox, and the trader loop re-reads its inbox and applies
them at the alpha's time (as tests/daemon/test_dm_trader_coupled.py steps the two, without
restarting the trader loop at every alpha). The interleaving of two threads
in the daemon is not deterministic; this is the interleaving the nightly replay assumes
(every market event up to an alpha's time is applied before it is decided on).

Nothing here starts a process or a thread: the loops' `run` and `step` are called in turn,
on one connection (`_Shared`). The trader loop's steps commit at each Sync and at the end
(`commit_steps=False`), the points where the dm loop and this module read what it wrote.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from lotus_core.config import Settings
from lotus_core.dm.alpha import AlphaEvent
from lotus_core.dm.live import MODULE as DM
from lotus_core.dm.live import alpha_of
from lotus_core.dm.replay import RowFeed, alpha_order, tape_order
from lotus_core.fabric.codec import json_out
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES, outbox_table
from lotus_core.fabric.outbox import post_to_outbox
from lotus_core.fabric.publish import publish_alpha
from lotus_core.fabric.router import RouterConfig, route_once
from lotus_core.fabric.signing import ensure_keys, sign
from lotus_core.learning.priors_store import read_priors_for_date, write_rows
from lotus_core.signals.bus import iso_ms_one, sigbus_payload
from lotus_core.store.lake import Lake, ObjectLake
from lotus_core.store.opsdb import OpsDb
from lotus_core.store.url import sqlite_url
from lotus_core.time import previous_day
from lotus_core.trader.nightly import carried_state
from lotus_core.trader.replay import Day, event_ts, market_events
from lotus_core.trader.store import read_fills, save_state
from lotus_core.vis.source import chart_payload
from lotus_daemon.loops import LOOPS, LoopContext
from lotus_daemon.loops.trader import Sync

CHART_SENDER = "vis"
CHART_INTENT = "CHART_ALPHA"
ALPHA_SENDERS = RouterConfig(modules=("sig", CHART_SENDER))
FROM_DM = RouterConfig(modules=(DM,))
"""The router's passes here read only the outboxes that have something for the loops
(the trader's EXEC_REPORTs and strands go to dm's and sig's inboxes, which the dm loop
does not consume): a pass over every outbox is a transaction each."""


@dataclass
class LiveDay:
    """What the daemon's loops did with the day: the DM's tickets as posted (DM_DECISION
    payloads, in posting order) and the Trader's fills as it stored them (`trader_fills`
    rows, in (ts_ms, fill_id) order)."""

    tickets: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    alphas: int = 0
    trader_events: int = 0


def published_payloads(events: pd.DataFrame) -> list[dict[str, Any]]:
    """The ALPHA_PROPOSED payloads of a day's `signal_events`: each published window's
    sigbus document as the live curation stage makes it (`sigbus_payload` with the row's
    own history window and data fingerprint), named by its window id."""
    pub = events[events["published"].astype(bool)]
    return [{"sigbus": json.loads(sigbus_payload(r, iso_ms_one(int(r["ts_ms"])),
                                                 str(r["history_window"]),
                                                 str(r["data_fingerprint"] or ""))),
             "strand_id": str(r["window_id"])} for r in pub.to_dict("records")]


def _chart_envelope(payload: Mapping[str, Any], keys: Keyring) -> dict[str, Any]:
    """A chart's signed CHART_ALPHA, as `lotus_core.vis.store` posts it."""
    models = load_modules().map
    env = build_envelope(sender=CHART_SENDER, to=list(models.targets(CHART_SENDER, CHART_INTENT)),
                         intent=CHART_INTENT, payload=dict(payload),
                         lifecycle_id=str(payload["strand_id"]),
                         dedupe_key=f"chart:{payload['strand_id']}", ttl_sec=600,
                         tags=[f"symbol:{payload['coin']}"])
    return sign(env, keys.private_key(CHART_SENDER))


def _arrive(fabric: OpsDb, ring: Keyring,
            alphas: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """The alphas signed and posted by their senders (the score loop's `publish_alpha`,
    the chart store's CHART_ALPHA) and routed to dm_inbox in the order given: a run of
    one sender's at a time, each run routed before the next is posted."""
    models = load_modules().map
    i = 0
    while i < len(alphas):
        intent = alphas[i][0]
        j = i
        while j < len(alphas) and alphas[j][0] == intent:
            j += 1
        run = [p for _, p in alphas[i:j]]
        if intent == CHART_INTENT:
            with fabric.transaction() as tx:
                for p in run:
                    post_to_outbox(tx, CHART_SENDER, _chart_envelope(p, ring),
                                   models_map=models)
        else:
            publish_alpha(fabric, run, ring, models_map=models)
        while route_once(fabric, ring, config=ALPHA_SENDERS).read:
            pass
        i = j


def _tickets(fabric: OpsDb) -> list[dict[str, Any]]:
    """The DM_DECISION payloads in dm_outbox, in posting order: only the payload column is
    read and parsed (`read_outbox` would rebuild every envelope of the day)."""
    with fabric.transaction() as tx:
        rows = tx.query(f"SELECT payload FROM {outbox_table(DM)} WHERE intent = ?"
                        " ORDER BY seq", ("DM_DECISION",))
    return [json_out(r["payload"]) for r in rows]


class _Shared(OpsDb):
    """The run's one fabric connection. The loops here take turns in one thread, so the
    trader loop is lent this one (`_OneConnection`) instead of opening its own: SQLite
    drops a connection's page cache whenever another connection has written, which two
    connections taking turns at every alpha would do at every transaction. A loop's
    `with` block leaves it open; `live_day` closes it."""

    @classmethod
    def scratch(cls, url: str) -> _Shared:
        """The fabric at `url`, a scratch file thrown away with the run: no fsync at its
        WAL checkpoints (what the daemon's fabric keeps for a power cut)."""
        fabric = cls.open(url)
        fabric._raw.execute("PRAGMA synchronous = OFF")
        return fabric

    def __exit__(self, *exc: object) -> None:
        pass


@dataclass
class _OneConnection(LoopContext):
    """A LoopContext whose `open_opsdb` lends the run's one connection (`_Shared`)."""

    shared: _Shared | None = None

    def open_opsdb(self) -> OpsDb:
        assert self.shared is not None
        return self.shared


def live_day(settings: Settings, folder: Path, *, market: Day, rows: pd.DataFrame,
             published: Sequence[Mapping[str, Any]], charts: Sequence[Mapping[str, Any]],
             calibration: pd.DataFrame, carried: Mapping[str, Any] | None,
             tr_priors: Mapping[str, float]) -> LiveDay:
    """The day through the daemon's dm and trader loops (see the module docstring).
    `folder`: an empty scratch folder (the fabric and keys go there). `rows`: the day's
    MicroTape in (ts, coin) order; `published`: ALPHA_PROPOSED payloads ({"sigbus": doc,
    "strand_id": window_id}); `charts`: CHART_ALPHA payloads; `carried`: the Trader's
    snapshot the day starts from (None: flat); `tr_priors`: the tr priors rows in force."""
    keys_dir = folder / "keys"
    ensure_keys(MODULES, keys_dir)
    ring = Keyring(keys_dir)
    url = sqlite_url(folder / "fabric.sqlite")
    # every alpha in the DM's order, as the nightly replay takes them
    items: list[tuple[AlphaEvent, str, Mapping[str, Any]]] = [
        *((alpha_of({"intent": "ALPHA_PROPOSED", "payload": p}), "ALPHA_PROPOSED", p)
          for p in published),
        *((alpha_of({"intent": CHART_INTENT, "payload": c}), CHART_INTENT, c) for c in charts)]
    by_id = {id(a): (intent, p) for a, intent, p in items}
    ordered = [(a, *by_id[id(a)]) for a in alpha_order(a for a, _, _ in items)]
    out = LiveDay(alphas=len(ordered))
    with closing(_Shared.scratch(url)) as fabric:
        ctx = _OneConnection(url, keys_dir, folder, threading.Event(), shared=fabric)
        with fabric.transaction() as tx:
            if carried:
                save_state(tx, carried, 0)  # what the trader loop restores at its start
        if tr_priors:
            write_rows(fabric, tr_priors, "parity", "the version the nightly traded with",
                       module="tr")
        _arrive(fabric, ring, [(intent, p) for _, intent, p in ordered])
        dm = LOOPS["dm"]({"settings": settings, "calibration": calibration,
                          "rows": RowFeed(rows)})
        live = dm.build(ctx)  # type: ignore[attr-defined]
        live.restore(fabric)

        def turn(alpha: AlphaEvent) -> None:
            """The dm loop decides the alpha, the router takes its tickets on to tr."""
            taken = live.stats.consumed + live.stats.failed
            live.step(fabric, limit=1)
            if live.stats.consumed + live.stats.failed != taken + 1:
                raise RuntimeError(f"the dm loop did not take alpha {alpha.alpha_id} next")
            route_once(fabric, ring, config=FROM_DM)  # its DM_DECISIONs -> tr_inbox

        def source(start: int) -> Iterator[tuple[int, Any]]:
            """The day's market events, the dm loop's turn before the first event later
            than each alpha's time (positions: the event's place in the day's stream)."""
            k, n = 0, len(ordered)
            pos = 0
            for pos, ev in enumerate(market_events(market, rows), 1):
                if pos <= start:
                    continue
                ts = event_ts(ev)
                while k < n and ordered[k][0].ts_ms < ts:
                    yield pos - 1, Sync(ordered[k][0].ts_ms, partial(turn, ordered[k][0]))
                    k += 1
                yield pos, ev
            for alpha, _, _ in ordered[k:]:
                yield pos, Sync(alpha.ts_ms, partial(turn, alpha))

        # its steps' writes commit at each Sync and at the end: the fabric is scratch
        trader = LOOPS["trader"]({"settings": settings, "source": source,
                                  "commit_steps": False})
        trader.run(ctx)
        out.trader_events = int(trader.info()["events"])
        out.tickets = _tickets(fabric)
        with fabric.transaction() as tx:
            out.fills = [dict(f) for f in read_fills(tx)]
    return out


def lake_day(settings: Settings, store: Lake | ObjectLake, fabric: OpsDb, day: str,
             market: Day, folder: Path) -> LiveDay:
    """`live_day` on what the nightly read for `day`: its published `signal_events`, its
    charts with a direction (`vis_strands`), its MicroTape, its `dm_calibration`, the
    Trader's state carried from `paper_trades` of the day before and the tr priors version
    in force that day (read from `fabric`, the nightly's)."""
    prev = previous_day(day)
    carried = (carried_state(store.read("paper_trades", prev).drop(columns=["date"],
                                                                   errors="ignore"))
               if store.exists("paper_trades", prev) else None)
    charts: list[dict[str, Any]] = []
    if store.exists("vis_strands", day):
        strands = store.read("vis_strands", day)
        charts = [p for i in range(len(strands))
                  if (p := chart_payload(strands.iloc[[i]])) is not None]
    events = store.read("signal_events", day)
    return live_day(settings, folder, market=market,
                    rows=tape_order(store.read("microtape_frames", day)),
                    published=published_payloads(events), charts=charts,
                    calibration=store.read("dm_calibration", day), carried=carried,
                    tr_priors=read_priors_for_date(fabric, day, "tr").rows)
