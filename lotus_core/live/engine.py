"""Live scoring: each MicroTape row, once final, through every stage of the nightly chain
in its per-row streaming form (`lotus_core.live.chain.DayChain`).

Every definition of the MicroTape, the DSI evidence, the detectors, the scores, the
curators and publication is the nightly one: each stage's step lives in the stage's module
beside its batch function and is tested equal to it in the stage's test module
(docs/structure.md, "One definition per scoring stage"), and the whole path is checked
end to end by tests/daemon/test_live_parity.py (live == `microtape_frames` /
`signal_events`). What this module adds is the day around them:

- lines are parsed once, by raw_feed's rules with their state carried
  (`lotus_core.feed.assemble.StreamAssembler`), and handed to the day's chain;
- a buffer (`lotus_core.live.tail.TailBuffer`) keeps only what a later reader needs: the
  day's last `warm_span_ms` (the next day starts warm from it, as the nightly MicroTape
  does) and, when a Trader listens, the feed rows behind its next market event;
- a step costs its new rows' arithmetic, not a trailing span's re-run.

A row is final once the clock has passed its grid time (rows with ts_ms < now); a window
is emitted once, by id, in the step its frame became final. A restarted daemon re-derives
the day from its recording and emits only what it had not stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd

from lotus_core.audits.run import status_day
from lotus_core.breeding.grammar import BredSpec
from lotus_core.breeding.scoring import exploration_set
from lotus_core.config.shared import SharedValues
from lotus_core.curators.config import CouncilConfig
from lotus_core.dsi import fit_dsi, load_registry, tape_columns
from lotus_core.dsi.history import read_history
from lotus_core.feed.assemble import Parsed, StreamAssembler
from lotus_core.feed.chunks import extract_chunk
from lotus_core.feed.extract import Chunk
from lotus_core.feed.gzlines import open_lines
from lotus_core.feed.lines import LineBlock, ended
from lotus_core.feed.parse import file_sha256
from lotus_core.feed.recordings import recording_path
from lotus_core.live.chain import DayChain
from lotus_core.live.frames import blocks_frame, bus_frame, events_frame
from lotus_core.live.tail import TailBuffer
from lotus_core.microtape import MicroTapeParams
from lotus_core.microtape.build import RowBlock
from lotus_core.microtape.context_history import context_history
from lotus_core.microtape.warm import warm_span_ms
from lotus_core.signals.config import ScoringConfig, SqConfig, load_scoring
from lotus_core.signals.priors import NO_PRIORS, ActivePriors
from lotus_core.signals.quality import HISTORY_COLUMNS, History, HistoryQuality, history_quality
from lotus_core.signals.spec import DetectorSpec
from lotus_core.store.by_coin import CoinDay, CoinDays
from lotus_core.store.lake import Lake
from lotus_core.time import DAY_MS, day_bounds_ms, shift_day
from lotus_core.trader.replay import market_events_between

_HEAD_CHUNK = 20_000  # lines per extraction when a day is read back from its recording

DSI_HISTORY_DAYS = 3
"""The default of `dsi.history_days` (DsiSettings().history_days; tests/core/live/
test_live_engine.py checks they agree). The daemon passes the settings' value."""


@dataclass
class NightContext:
    """What the nightly chain knows before day `day`: earlier days' windows (history), the
    DSI model fitted on earlier days, and the detectors' audit status."""

    day: str
    history: History  # detector_windows of earlier days, read a coin-day at a time
    dsi_model: Any
    audit: pd.DataFrame | None
    actions: Sequence[Mapping[str, Any]] = ()  # the Curator API's detector actions (fabric)
    bred: Sequence[BredSpec] = ()  # scoring.exploration: the breeder's survivors in force
    previous_feed: tuple[str, int] | None = None  # the day before's raw_feed: (sha256, last
    # receive time of any row), what tells `_input_start` the warm tail is empty unparsed
    _qualities: dict[tuple[Any, ...], HistoryQuality] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def quality(self, specs: Sequence[DetectorSpec], cfg: SqConfig) -> HistoryQuality:
        """`history_quality` of the night's history for `specs`, folded once per (specs,
        config): the history is read from the lake a coin-day at a time, and every replay
        of the night (each coin group of `live_parity`, a restarted day) reuses the fold."""
        key = (tuple((s.id, s.recipe_hash) for s in specs), cfg.model_dump_json())
        if key not in self._qualities:
            self._qualities[key] = history_quality(self.history, specs, cfg)
        return self._qualities[key]


def _earlier(lake: Lake, asset: str, day: str, days: int) -> list[str]:
    """The `days` days before `day` whose `asset` partition is in the lake, in order."""
    wanted = [shift_day(day, -k) for k in range(days, 0, -1)]
    return [d for d in wanted if lake.exists(asset, d)]


def night_loader(lake_dir: Path, values: SharedValues
                 ) -> tuple[ScoringConfig, Callable[[str], NightContext]]:
    """The scoring config and a day -> NightContext loader sized by the shared settings
    (`lotus_core.config.shared.shared_values`): what the nightly assets read, so the daemon's
    score loop and the `live_parity` check score with the nightly chain's inputs."""
    scoring = load_scoring(values.scoring_path)

    def load(day: str) -> NightContext:
        return load_night_context(lake_dir, day, scoring=scoring,
                                  history_days=values.history_days,
                                  dsi_history_days=values.dsi_history_days,
                                  exploration=values.exploration)

    return scoring, load


def load_night_context(lake_dir: Path, day: str, *, scoring: ScoringConfig,
                       history_days: int | None = None,
                       dsi_history_days: int = DSI_HISTORY_DAYS,
                       exploration: bool = False) -> NightContext:
    """The nightly inputs of `day`'s scores, read from the lake as the assets read them:
    `history_days` of detector_windows (None: the scoring config's) and `dsi_history_days`
    of MicroTape, the windows the settings size the nightly inputs with
    (`lotus_core.config.shared.shared_values`).
    Audit status: the newest of the days before `day` (`lotus_core.audits.status_day`, the
    rule the nightly `score_signals` uses; never the day's own, even when a replay finds it
    in the lake), else none (all ok).
    `exploration` (settings `scoring.exploration`): the breeder's survivors the nightly
    `score_signals` adds for `day` (`lotus_core.breeding.scoring.exploration_set`).
    `scoring`: the configuration the day is scored with (`night_loader`'s)."""
    lake = Lake(lake_dir)
    window = scoring.history_days if history_days is None else history_days
    history = CoinDays(tuple(CoinDay(lake, "detector_windows", d) for d in
                             _earlier(lake, "detector_windows", day, window))
                       ).parts(HISTORY_COLUMNS)  # score_signals' read
    registry = load_registry()
    tape = read_history([CoinDay(lake, "microtape_frames", d) for d in
                         _earlier(lake, "microtape_frames", day, dsi_history_days)],
                        tape_columns(registry), registry.history_rows)  # dsi_assets' read
    model = fit_dsi(tape, registry=registry, reuse=True)  # a kept nightly fit
    del tape
    audit = None
    status = status_day(lake.days("detector_audit_status"), day)  # the nightly rule
    if status is not None:
        audit = lake.read("detector_audit_status", status)
    bred = exploration_set(lake, day).bred if exploration else ()
    return NightContext(day, history, model, audit, bred=bred,
                        previous_feed=_feed_summary(lake, shift_day(day, -1)))


def _feed_summary(lake: Lake, day: str) -> tuple[str, int] | None:
    """(sha256 of the recording, its last row's receive time) from `day`'s raw_feed, when the
    lake holds it and it names one recording; else None."""
    if not lake.exists("raw_feed", day):
        return None
    feed = lake.read("raw_feed", day, columns=["sha256", "last_recv_ts_ms"])
    shas = set(feed["sha256"].astype(str))
    if len(feed) == 0 or len(shas) != 1:
        return None
    return shas.pop(), int(feed["last_recv_ts_ms"].max())


@dataclass
class Step:
    """What one step found final and new: MicroTape rows, signal_events rows and the Signal
    Bus rows of new published windows, as dicts (built by the chain) and, on first use, as
    frames with the nightly tables' columns and dtypes."""

    day: str
    now_ms: int
    row_dicts: list[dict[str, Any]]
    window_dicts: list[dict[str, Any]]
    bus_dicts: list[dict[str, Any]]
    priors_ver: int
    market: list[tuple[int, Any]] = field(default_factory=list)
    """(position, event) of the Trader's market events that became final, in the nightly
    replay's order (`lotus_core.trader.replay.market_events`); only when asked for."""
    row_blocks: list[RowBlock] = field(default_factory=list)
    """`row_dicts` as the columns they were made from, a block per coin (`RowBlock`)."""

    @cached_property
    def rows(self) -> pd.DataFrame:
        return blocks_frame([self.row_blocks])

    @cached_property
    def windows(self) -> pd.DataFrame:
        return events_frame(self.window_dicts)

    @cached_property
    def bus(self) -> pd.DataFrame:
        return bus_frame(self.bus_dicts)


@dataclass
class LiveDay:
    """One UTC day's lines so far: parsed once (raw_feed's rules, carried state); the day's
    running sha256 and line count."""

    day: str
    asm: StreamAssembler
    lines: int = 0
    warm: int = 0                     # lines read back from the recording at the start
    sha: Any = field(default_factory=hashlib.sha256)  # None: no fingerprint wanted

    def fingerprint(self) -> str:
        """sha256 of the day's lines scored so far (the live twin of raw_feed's file hash;
        the curators refuse to publish without a data fingerprint)."""
        return "sha256:" + self.sha.hexdigest()

    def add_lines(self, lines: Sequence[bytes], sink: Callable[[Parsed, int], None]) -> None:
        """Lines read back from the recording, `_HEAD_CHUNK` at a time."""
        for k in range(0, len(lines), _HEAD_CHUNK):
            self.add_block(LineBlock.of(ended(lines[k:k + _HEAD_CHUNK])), sink)

    def add_block(self, block: LineBlock, sink: Callable[[Parsed, int], None],
                  chunk: Chunk | None = None) -> None:
        """The next lines of the day (`chunk`: these very lines already extracted; the feed
        loop validates each batch with `extract_chunk` before publishing it, so they are
        decoded once)."""
        if len(block) > _HEAD_CHUNK or not len(block):
            self.add_lines(block.lines(), sink)
            return
        ready = chunk
        if ready is None or ready.first_line != self.lines + 1:
            ready = extract_chunk(self.lines + 1, block.lines())
        recv = ready.recv
        sink(self.asm.add(ready, block.keys),
             int(recv.max()) if len(recv) else -1)  # with its newest receive time
        if self.sha is not None:
            self.sha.update(block.data)  # the digest of the lines one after another
        self.lines += len(block)


def _tail_of(path: Path, day: str, lo: int) -> TailBuffer:
    """The rows of a recorded day received from `lo` on, as raw_feed parses the file: the
    lines go chunk by chunk through the day's `StreamAssembler` (raw_feed's rules with their
    carried state: duplicates, late lines, each stream's latest), and only the parts with
    rows from `lo` on are kept, so the memory is the tail's, not the whole day's (the whole
    parse of a 100-coin day adds 12.6 GB: docs/scale.md)."""
    buf = TailBuffer()
    live = LiveDay(day, StreamAssembler(day), sha=None)  # its rows only, never published

    def keep(parsed: Parsed, last_recv: int) -> None:
        if last_recv >= lo:  # readers ask for [lo, hi): a part across `lo` is cut then
            buf.add(parsed)

    reader, _ = open_lines(path)
    with reader:  # in chunks: the lines themselves are never all held
        while head := list(islice(reader, _HEAD_CHUNK)):
            live.add_lines(head, keep)
    return buf


class LiveEngine:
    """Feed it validated lines (`add`), ask for a `step(now_ms)`; it returns the rows and
    windows that became final. `context` loads the nightly inputs of a day; `scoring` and
    `council` are the entry point's, the configurations the nightly chain scores with."""

    def __init__(self, params: MicroTapeParams, context: Callable[[str], NightContext],
                 *, scoring: ScoringConfig, council: CouncilConfig,
                 feed_dir: Path | None = None, detectors: Any = None,
                 emitted: Callable[[str], tuple[dict[str, int], set[str]]] | None = None,
                 history_dir: Path | None = None, verify_manifest: bool = True) -> None:
        self.params = params
        self.warm_ms = warm_span_ms(params)  # asked per batch; params are frozen
        self.context_for = context
        self.feed_dir = feed_dir
        # the earlier days that context is ranked against (default: feed_dir); a replay of
        # one coin group reads them whole, as the nightly does, not its group's cut
        self.history_dir = history_dir if history_dir is not None else feed_dir
        self.verify_manifest = verify_manifest
        self.detectors, self.scoring, self.council = detectors, scoring, council
        self.priors: ActivePriors = NO_PRIORS
        self.day: LiveDay | None = None
        self.ctx: NightContext | None = None
        self.chain: DayChain | None = None
        self.buf = TailBuffer()
        self.input_start = 0
        self.frames = pd.DataFrame()      # final rows the Trader's next events still read
        self.emitted_ts: dict[str, int] = {}
        self.emitted_windows: set[str] = set()
        self.last_now: int | None = None
        self.emitted_for = emitted
        self.trader_events = False        # also emit the Trader's market events (Step.market)
        self.next_day = True
        """Keep the day's last warm_span_ms of feed for the next day's warm start. False for
        a replay of one day that ends there (`parity.replay_steps`): at 10 coins that tail
        is a third of the replay's peak."""
        self._market_until: int | None = None
        self._market_count = 0

    def add(self, day: str, first_line: int, lines: LineBlock | Sequence[bytes],
            chunk: Chunk | None = None) -> Step | None:
        """Lines `first_line`.. of `day`'s recording, as a LineBlock (the feed loop's batches)
        or each line on its own (`chunk`: the same lines extracted).
        A new day first finishes the old one (returned as a Step); a day joined mid-way
        first reads its earlier lines from the recording (a restarted daemon resumes where
        the file is)."""
        done = None
        if self.day is None or self.day.day != day:
            if self.day is not None:
                done = self.step(day_bounds_ms(self.day.day)[1])
            self._start_day(day, first_line)
        assert self.day is not None
        skip = self.day.lines + 1 - first_line  # lines the warm-up already read
        block = lines if isinstance(lines, LineBlock) else LineBlock.of(ended(lines))
        self.day.add_block(block.after(skip), self._take, chunk if skip == 0 else None)
        return done

    def _take(self, parsed: Parsed, last_recv: int) -> None:
        assert self.chain is not None and self.day is not None
        self.chain.add(parsed)
        if self.trader_events or (self.next_day and last_recv >= self._keep_from()):
            self.buf.add(parsed)  # only what a later reader needs (module docstring)

    def _keep_from(self) -> int:
        """Receive time from which the next day's warm start reads this day's feed."""
        assert self.day is not None
        return day_bounds_ms(self.day.day)[1] - self.warm_ms

    def _input_start(self, day: str) -> int:
        """Where the day's MicroTape input begins: the previous day's last warm_span_ms when
        the buffer (or failing that, the previous day's recording) holds part of it, as
        the nightly `microtape_frames` does (`lotus_core.microtape.warm.seeds`)."""
        start = day_bounds_ms(day)[0]
        lo = start - self.warm_ms
        if not self._seeds(lo, start) and self.feed_dir is not None:
            prev = (pd.Timestamp(day) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
            path = recording_path(self.feed_dir, prev)
            if path.exists() and not self._ends_before(path, lo):
                self.buf = _tail_of(path, prev, lo)
        return lo if self._seeds(lo, start) else start

    def _ends_before(self, path: Path, lo: int) -> bool:
        """The previous day's recording, as the nightly raw_feed summarised it (the same
        file: its sha256), has no row received from `lo` on: its tail would be empty, so it
        is not parsed (a day recorded until midday, several seconds of parse for nothing).
        Without the summary, or for another file, the recording is parsed."""
        known = self.ctx.previous_feed if self.ctx is not None else None
        return known is not None and known[1] < lo and file_sha256(path) == known[0]

    def _seeds(self, lo: int, start: int) -> bool:
        return self.buf.has_books(lo, start)

    def _start_day(self, day: str, first_line: int) -> None:
        self.day = LiveDay(day, StreamAssembler(day))
        self.ctx = self.context_for(day)
        self.input_start = self._input_start(day)
        start = day_bounds_ms(day)[0]
        self.chain = DayChain(day, self.params, self.input_start, self.ctx, self.priors,
                              self.day.fingerprint, detectors=self.detectors,
                              scoring=self.scoring, council=self.council,
                              history=context_history(self.history_dir, day, self.params,
                                                      self.verify_manifest))
        if self.input_start < start:  # warm: the previous day's tail, as the nightly reads it
            for part in self.buf.parts(self.input_start, start):  # batch by batch: no copy
                self.chain.add(part)
        self.frames = pd.DataFrame()
        self.emitted_ts = {}
        self.emitted_windows = set()
        self._market_until, self._market_count = None, 0
        if self.emitted_for is not None:
            self.mark_emitted(*self.emitted_for(day))
        if first_line > 1 and self.feed_dir is not None:
            path = recording_path(self.feed_dir, day)
            if path.exists():
                reader, _ = open_lines(path)
                with reader:  # in chunks: the lines themselves are never all held
                    rest = first_line - 1
                    while rest > 0:
                        head = [x for _, x in zip(range(min(rest, _HEAD_CHUNK)), reader,
                                                  strict=False)]
                        if not head:
                            break
                        self.day.add_lines(head, self._take)
                        self.day.warm += len(head)
                        rest -= len(head)
                        self._trim()

    def finish_recorded_day(self, day: str) -> Step | None:
        """Score a whole recorded day from its file (a day the daemon recorded but did not
        finish scoring before it stopped or was killed)."""
        self.buf = TailBuffer()
        self._start_day(day, 2**62)
        return self.step(day_bounds_ms(day)[1])

    def mark_emitted(self, rows_ts: dict[str, int], window_ids: set[str]) -> None:
        """What an earlier run of the daemon already stored (never emitted twice)."""
        for coin, ts in rows_ts.items():
            self.emitted_ts[coin] = max(ts, self.emitted_ts.get(coin, ts))
        self.emitted_windows |= window_ids

    def set_priors(self, priors: ActivePriors) -> None:
        self.priors = priors
        if self.chain is not None:
            self.chain.set_priors(priors)

    def step(self, now_ms: int) -> Step | None:
        """The rows and windows that became final (< now_ms) since the last step."""
        if self.day is None or self.chain is None:
            return None
        self.last_now = now_ms
        out = self.chain.advance(now_ms)
        blocks = [b.after(self.emitted_ts.get(b.coin, -1)) for b in out.blocks]
        rows = []
        for row in out.rows:
            coin, ts = row["coin"], row["ts_ms"]
            if ts > self.emitted_ts.get(coin, -1):
                self.emitted_ts[coin] = ts
                rows.append(row)
        windows, ids = [], set()
        for ev in out.windows:
            if ev["window_id"] not in self.emitted_windows:
                windows.append(ev)
                ids.add(ev["window_id"])
        self.emitted_windows |= ids
        bus = [b for b in out.bus if b["window_id"] in ids]
        step = Step(self.day.day, now_ms, rows, windows, bus, self.priors.version,
                    row_blocks=[b for b in blocks if len(b)])
        if self.trader_events:
            if rows:
                self.frames = (step.rows if len(self.frames) == 0 else pd.concat(
                    [self.frames, step.rows], ignore_index=True).sort_values(
                        ["coin", "ts_ms"], kind="stable", ignore_index=True))
            step.market = self._market(now_ms)
        self._trim()
        return step

    def _trim(self) -> None:
        """Forget what no later step reads: feed rows before the day's last warm_span_ms
        (and the Trader's next event), final rows before the Trader's next event."""
        assert self.day is not None
        if self.trader_events and self._market_until is None:
            return  # the Trader's first hand-out numbers the day's events from its start
        keep = self._keep_from()
        if self.trader_events and self._market_until is not None:
            keep = min(keep, self._market_until)
        self.buf.trim(keep)
        if self.trader_events and self._market_until is not None and len(self.frames):
            self.frames = self.frames.loc[self.frames["ts_ms"].to_numpy()
                                          >= self._market_until].reset_index(drop=True)
        if len(self.emitted_windows) > 200_000:  # ids of windows long past: never again
            self.emitted_windows = set()

    def _market(self, now_ms: int) -> list[tuple[int, Any]]:
        """The Trader's market events that became final since the last step: the same
        objects `market_events` builds from the nightly parse, each once, numbered by their
        place in the day's stream (so a restarted daemon, which starts again from the day's
        first line, gives every event the number it had, and the Trader skips what it has)."""
        assert self.day is not None
        until = now_ms
        day_start, day_end = day_bounds_ms(self.day.day)
        if now_ms < day_end and self.emitted_ts:
            # A coin's MicroTape grid ends at its last message so far, so its next row
            # (its last row + one cadence) may still appear below `now_ms` when it sends
            # again: the stream stops short of it (the day's last step hands out the rest).
            until = min(until, min(self.emitted_ts.values()) + self.params.cadence_ms)
        since = self._market_until
        if since is not None and until <= since:
            return []
        self._market_until = until
        lo = day_start if since is None else max(day_start, since)
        feed = self.buf.feed(self.day.day, lo)
        rows = self.frames
        if len(rows):
            rows = rows.loc[rows["ts_ms"].to_numpy() >= lo].reset_index(drop=True)
        _, events = market_events_between(feed, rows, since, until)
        base = market_base(self.day.day) + self._market_count
        self._market_count += len(events)
        return [(base + k + 1, e) for k, e in enumerate(events)]


def market_base(day: str) -> int:
    """Positions of a day's market events start after this (days since 1970 x 1e10), so
    they increase across midnight."""
    return day_bounds_ms(day)[0] // DAY_MS * 10_000_000_000


def replace_priors(engine: LiveEngine, priors: ActivePriors) -> bool:
    """Swap the active priors (a new nightly version or a rollback); True if it changed."""
    if priors.version == engine.priors.version and priors == engine.priors:
        return False
    engine.set_priors(dataclasses.replace(priors) if dataclasses.is_dataclass(priors)
                      else priors)
    return True
