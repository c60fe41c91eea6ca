"""The score loop: live MicroTape, DSI evidence, windows, scores, curators and publication.

A thin adapter over `lotus_core.live.engine.LiveEngine` (the nightly chain's stages in
their per-row streaming forms). It takes the feed loop's recording lines (and their
extraction) from the market hub (a lossless queue with backpressure: `live.queue_lines`)
and steps the engine on every batch. Once the feed loop's `durable` mark says the
recording holds a step's lines, it stores what became final (`lotus_core.live.store`:
live_microtape, live_signal_events; written once a minute of feed time and at most every
5 s of wall time: a row not stored yet is re-derived from the recording by a restarted
daemon), publishes rows and windows on the hub, and posts each published window of a
coin that was not stale at that time as a signed ALPHA_PROPOSED through sig_outbox, with
the nightly window id as its strand id. publish_alpha de-duplicates by the window's
dedupe key, so a restarted daemon (which re-derives the day from its recording) never
posts a window twice. A replay or a run across midnight finishes the old day and starts
the new one warm from its tail.
The active priors version is polled every `live.priors_poll_s` (<= 1 s) on its own
thread; the next step scores with it, and every window records the `priors_ver` it used.
The same thread reads what is new in the Curator API's log (detector vetoes and nudges);
the council takes it at the next batch boundary and applies the nightly rule
(`lotus_core.curators.standing`: in force from signed time + settle_s).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lotus_core.config import Settings
from lotus_core.config.shared import shared_values
from lotus_core.curator_api.standing import read_detector_actions
from lotus_core.curators.config import load_curators
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import ModelsMap
from lotus_core.fabric.publish import publish_alpha
from lotus_core.feed.recordings import list_days
from lotus_core.learning.priors_store import read_active_priors
from lotus_core.live.engine import LiveEngine, Step, night_loader, replace_priors
from lotus_core.live.frames import blocks_frame, events_frame
from lotus_core.live.gc_policy import collecting_less
from lotus_core.live.recorder import live_feed_dir
from lotus_core.live.stale import StalePeriod
from lotus_core.live.store import LiveStore
from lotus_core.microtape.build import RowBlock
from lotus_core.signals.spec import load_detectors
from lotus_daemon.loops.base import Loop, LoopContext
from lotus_daemon.market import MarketHub, batch_lines

_STORE_EVERY_MS = 60_000  # of feed time
_STORE_MIN_S = 5.0  # of wall time: a max-speed replay writes a part per 5 s, not per minute
_FEED_END_WAIT_S = 30.0  # on stop, wait this long for the feed loop's last batch


def in_stale_period(coin: str, ts_ms: int, periods: Iterable[StalePeriod]) -> bool:
    """Whether a window's time falls in a stale period of its coin (never published)."""
    return any(p.coin == coin and p.start_ms <= ts_ms
               and (p.end_ms is None or ts_ms < p.end_ms) for p in periods)


def note_period(periods: dict[tuple[str, int], StalePeriod], period: StalePeriod) -> None:
    """Record a period's opening or its end. Keyed by (coin, start): in a score process
    each event carries its own pickled copy, so the closed copy must replace the open one
    (kept beside it, the open copy would mark the coin stale for good)."""
    key = (period.coin, period.start_ms)
    held = periods.get(key)
    if held is None or held.end_ms is None:  # never reopen a period already seen closed
        periods[key] = period


@dataclass
class _Held:
    """A scored step waiting for the recording to hold its lines (`day` up to `lines`)."""

    step: Step
    day: str
    lines: int
    finishes: bool          # the day's last step: mark the day done once stored
    t_recv: float | None    # receipt of the oldest line it scored
    scored: float | None    # seconds from that receipt to scored


class ScoreLoop(Loop):
    name = "score"
    component = "score"

    def __init__(self, settings: Settings, hub: MarketHub) -> None:
        self.settings = settings
        self.hub = hub
        self.sub = hub.subscribe(  # now: none is missed; lossless, with backpressure
            {"batch", "durable", "stale"}, capacity=settings.live.queue_lines,
            weigh=batch_lines)
        values = shared_values(settings)  # the nightly chain's scoring config and windows
        self.params = values.microtape_params()
        self.night: dict[str, Any] = {
            "scoring_config": values.scoring_path, "history_days": values.history_days,
            "dsi_history_days": values.dsi_history_days,
            "detectors_config": values.detectors_path,
            "curators_config": values.curators_path}
        self.night_used: dict[str, Any] | None = None  # the last day's, as loaded
        self.steps = 0
        self.rows = 0
        self.windows = 0
        self.posted = 0
        self.suppressed_stale = 0
        self.priors_ver = 0
        self.priors_reloads = 0
        self.last_step_ms: int | None = None
        self.last_step_s: float | None = None
        self.stale_periods: dict[tuple[str, int], StalePeriod] = {}
        self._latest_priors: Any = None
        self._actions: tuple[dict[str, Any], ...] = ()  # the Curator API's detector actions
        self._actions_seq = 0  # the log's last seq read
        self._pending_rows: dict[str, list[list[RowBlock]]] = {}
        """Day -> the `live_microtape` rows not stored yet: each step's blocks (columns)."""
        self._pending_events: dict[str, list[dict[str, Any]]] = {}
        """Day -> the `live_signal_events` rows not stored yet: dicts, a frame per store."""
        self._stored_at: int | None = None
        self._stored_wall = 0.0
        self._oldest: float | None = None  # receipt of the oldest line not yet scored
        self.latencies: deque[tuple[float, float]] = deque(maxlen=100_000)
        self.hops: deque[tuple[float, float, float, float, int]] = deque(maxlen=100_000)
        """Per batch, seconds: receipt to hand-out (feed loop: its extraction), hand-out to
        taken here (the hub, and the pipe to a score process), taken to added (parse and
        MicroTape input), added to scored (the step); and its lines."""
        self.step_log: deque[tuple[int, float, float]] = deque(maxlen=200_000)
        """(feed clock, wall s, this thread's CPU s) of each step: the bench's cost curve."""
        self.days_done: dict[str, float] = {}
        """Day -> when its last windows were stored (unix s), the newest three."""
        self.kernels_s: float | None = None
        """Seconds `warm_kernels` took (numba's load of the cached kernels, or their
        compile on a fresh machine), once the loop has warmed them."""
        self._scored_at = 0.0
        self._held: deque[_Held] = deque()  # scored, not yet stored or posted
        self._durable: dict[str, int] = {}  # day -> lines the recording holds (feed loop)

    def warm(self, log: logging.Logger) -> None:
        """Load the compiled kernels the scoring path calls (`lotus_core.live.kernels`), once,
        before the first batch is taken: the first tick pays no load or compile."""
        if self.kernels_s is None:
            from lotus_core.live.kernels import warm_kernels  # numba: in the scorer only

            self.kernels_s = warm_kernels()
            log.info("score: compiled kernels ready in %.2f s", self.kernels_s)

    def run(self, ctx: LoopContext) -> None:
        self.warm(ctx.log)  # a no-op in a score process: its child warmed before gc.freeze
        store = LiveStore(ctx.home / "live")
        values = shared_values(self.settings)  # the nightly chain's files and windows
        scoring, load = night_loader(self.settings.lake_dir, values)

        def context(day: str) -> Any:  # the nightly inputs, sized by the settings
            self.night_used = {"day": day, **self.night}
            return dataclasses.replace(load(day), actions=self._actions)

        engine = LiveEngine(self.params, context, scoring=scoring,
                            council=load_curators(values.curators_path),
                            detectors=load_detectors(values.detectors_path),
                            feed_dir=live_feed_dir(ctx.home), emitted=store.emitted)
        engine.trader_events = self.hub.wanted("tr_event")  # a Trader listens (subscribed)
        keys = Keyring(ctx.key_dir)
        routes = ctx.models_map()  # where the ALPHA_PROPOSED envelopes go
        poller = threading.Thread(target=self._poll_priors, args=(ctx,), daemon=True,
                                  name="score:priors")
        with ctx.open_opsdb() as fabric, collecting_less():
            self._apply_priors(engine, read_active_priors(fabric))
            self._read_actions(fabric)
            poller.start()
            clock: int | None = None
            fed = self.hub.has_feed  # a feed loop sends batches: on stop, wait for its end
            feed_ended = False
            stop_seen: float | None = None
            while True:
                ev = self.sub.get(timeout=0.05)
                events = ([ev] if ev else []) + self.sub.drain()
                for e in events:
                    if e.kind == "stale":
                        if isinstance(e.data, StalePeriod):
                            note_period(self.stale_periods, e.data)
                        continue
                    if e.kind == "durable":
                        day, line = e.data
                        self._durable[day] = max(line, self._durable.get(day, 0))
                        continue
                    if e.data is None:
                        feed_ended = True
                        continue
                    day, first, lines, t_recv, chunk, t_ship = (*e.data, None, None)[:6]
                    t_got = time.perf_counter()
                    if self._oldest is None:
                        self._oldest = t_recv
                    if engine.day is None:
                        self._catch_up(engine, day, store, fabric, keys, routes)
                    before = None if engine.day is None else (engine.day.day, engine.day.lines)
                    done = engine.add(day, first, lines, chunk)
                    if done is not None and before is not None:
                        self._hold(done, *before, finishes=True)
                    clock = e.recv_ts_ms
                    if self._latest_priors is not None:
                        self._apply_priors(engine, self._latest_priors)
                    if engine.chain is not None:  # the log as last polled (a no-op if same)
                        engine.chain.council.set_actions(self._actions)
                    t_add = time.perf_counter()
                    self._step(engine, clock)  # every batch: a step costs its new rows
                    if t_ship is not None:  # where a batch's time to scored went
                        self.hops.append((t_ship - t_recv, t_got - t_ship, t_add - t_got,
                                          self._scored_at - t_add, len(lines)))
                self._release(store, fabric, keys, routes)
                if ctx.stopping() and stop_seen is None:
                    stop_seen = time.monotonic()
                waiting = fed and not feed_ended and stop_seen is not None and (
                    time.monotonic() - stop_seen < _FEED_END_WAIT_S)
                if ctx.stopping() and not events and not waiting:
                    if clock is not None:
                        self._step(engine, clock + 1)
                    self._release(store, fabric, keys, routes)
                    self._store(store, force=True)
                    return

    def _catch_up(self, engine: LiveEngine, today: str, store: LiveStore, fabric: Any,
                  keys: Keyring, routes: ModelsMap) -> None:
        """Finish the recorded days before `today` that an earlier run left unfinished."""
        feed_dir = live_feed_dir(engine.feed_dir.parent) if engine.feed_dir else None
        if feed_dir is None or not feed_dir.is_dir():
            return
        for day in list_days(feed_dir):
            if day < today and not store.done(day):
                step = engine.finish_recorded_day(day)
                if step is not None:
                    self._emit(step, store, fabric, keys, routes)
                self._store(store, force=True)
                store.mark_done(day)
        engine.day = None

    def _apply_priors(self, engine: LiveEngine, priors: Any) -> None:
        self._latest_priors = None
        if replace_priors(engine, priors):
            self.priors_reloads += 1
            self.priors_ver = int(priors.version)

    def _poll_priors(self, ctx: LoopContext) -> None:
        with ctx.open_opsdb() as fabric:
            while not ctx.stop.wait(self.settings.live.priors_poll_s):
                try:
                    self._latest_priors = read_active_priors(fabric)
                    self._read_actions(fabric)
                except Exception as exc:  # a brief fabric outage: keep the loaded version
                    ctx.log.warning("score: reading the active priors or the curator "
                                    "actions failed: %s", exc)

    def _read_actions(self, fabric: Any) -> None:
        """New detector vetoes and nudges of the Curator API's log (a new tuple, so the
        council rebuilds its rule's state only when the log grew)."""
        rows, self._actions_seq = read_detector_actions(fabric, self._actions_seq)
        if rows:
            self._actions = (*self._actions, *rows)

    def _step(self, engine: LiveEngine, now: int) -> None:
        t0, c0 = time.perf_counter(), time.thread_time()
        step = engine.step(now)
        self._scored_at = time.perf_counter()
        self.step_log.append((now, self._scored_at - t0, time.thread_time() - c0))
        self.last_step_ms = now
        if step is not None and engine.day is not None:
            self._hold(step, engine.day.day, engine.day.lines)
        self.steps += 1
        self.last_step_s = time.perf_counter() - t0

    def _hold(self, step: Step, day: str, lines: int, finishes: bool = False) -> None:
        """Keep a step's output until the recording holds the lines it was scored from."""
        if finishes:  # the old day's last rows, scored as the new day's first batch came
            self._held.append(_Held(step, day, lines, True, None, None))
            return
        scored = None if self._oldest is None else self._scored_at - self._oldest
        self._held.append(_Held(step, day, lines, finishes, self._oldest, scored))
        self._oldest = None

    def _release(self, store: LiveStore, fabric: Any, keys: Keyring,
                 routes: ModelsMap) -> None:
        """Store and post, in order, the held steps whose lines the file now holds."""
        while self._held and self._held[0].lines <= self._durable.get(self._held[0].day, 0):
            h = self._held.popleft()
            self._emit(h.step, store, fabric, keys, routes)
            if h.finishes:
                self._store(store, force=True)
                store.mark_done(h.step.day)
                self.days_done = {**dict(list(self.days_done.items())[-2:]),
                                  h.step.day: time.time()}
            if h.scored is not None and h.t_recv is not None:  # tick->scored, ->committed
                self.latencies.append((h.scored, time.perf_counter() - h.t_recv))

    def _emit(self, step: Step, store: LiveStore, fabric: Any, keys: Keyring,
              routes: ModelsMap) -> None:
        """Publish a step's rows and windows on the hub, post its published windows of coins
        not stale then, and keep both for the store (dicts: a frame is built once per store,
        not once per step)."""
        if step.market:  # the Trader's events first: a decision on a window comes after
            self.hub.publish("tr_event", None, step.now_ms, step.market)
        rows = step.row_dicts
        if rows:
            self.rows += len(rows)
            self._pending_rows.setdefault(step.day, []).append(step.row_blocks)
            if self.hub.wanted("row"):
                for rec in rows:
                    self.hub.publish("row", str(rec["coin"]), step.now_ms, rec)
        if step.window_dicts:
            bus = {b["window_id"]: b["payload"] for b in step.bus_dicts}
            alphas, out = [], []
            for w in step.window_dicts:
                stale = in_stale_period(str(w["coin"]), int(w["ts_ms"]),
                                        self.stale_periods.values())
                post = bool(w["published"]) and not stale
                self.suppressed_stale += int(stale and bool(w["published"]))
                if post and w["window_id"] in bus:
                    alphas.append({"sigbus": json.loads(bus[w["window_id"]]),
                                   "strand_id": w["window_id"]})
                out.append({**w, "stale": stale, "posted": post and self.settings.live.publish})
            if alphas and self.settings.live.publish:
                self.posted += publish_alpha(fabric, alphas, keys, models_map=routes)
            self.windows += len(out)
            self._pending_events.setdefault(step.day, []).extend(out)
            if self.hub.wanted("window"):
                for rec in out:
                    self.hub.publish("window", str(rec["coin"]), step.now_ms,
                                     {**rec, "date": step.day})
        due = self._stored_at is None or (
            step.now_ms - self._stored_at >= _STORE_EVERY_MS
            and time.monotonic() - self._stored_wall >= _STORE_MIN_S)
        self._store(store, force=due, now=step.now_ms)

    def _store(self, store: LiveStore, force: bool, now: int | None = None) -> None:
        if not force:
            return
        for day in sorted(self._pending_rows):
            store.write_part("live_microtape", day, blocks_frame(self._pending_rows[day]))
        self._pending_rows.clear()
        for day in sorted(self._pending_events):
            recs = self._pending_events[day]
            store.write_part("live_signal_events", day, events_frame(recs).assign(
                stale=np.array([r["stale"] for r in recs], dtype=bool),
                posted=np.array([r["posted"] for r in recs], dtype=bool)))
        self._pending_events.clear()
        if now is not None:
            self._stored_at = now
        self._stored_wall = time.monotonic()

    def info(self) -> dict[str, Any]:
        return {"steps": self.steps, "rows": self.rows, "windows": self.windows,
                "posted": self.posted, "suppressed_stale": self.suppressed_stale,
                "priors_ver": self.priors_ver, "priors_reloads": self.priors_reloads,
                "last_step_ms": self.last_step_ms, "days_done": dict(self.days_done),
                "stale_coins": sorted({p.coin for p in self.stale_periods.values()
                                       if p.end_ms is None}),
                "last_step_s": None if self.last_step_s is None else round(self.last_step_s, 3),
                "kernels_s": None if self.kernels_s is None else round(self.kernels_s, 3),
                "night": self.night_used}  # the settings the day's inputs were read with
