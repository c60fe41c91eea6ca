"""Live scoring: the nightly chain's own functions over the day so far.

The streaming form chosen (docs/live.md): every definition of the MicroTape, the DSI
evidence, the detectors, the scores, the curators and publication is the batch function
of `lotus_core`, re-run over the current UTC day's lines received so far, and only what
is final is emitted. This is exact, not an approximation, because the batch chain is
causal: the MicroTape row at grid time t depends only on data received at or before t
(`build_microtape(cut_feed(f, t)) == build_microtape(f)` up to t, tests/test_microtape.py),
DSI annotation is causal (tests/test_dsi.py), and a window at t is scored from frames at
or before t; the parity test (tests/daemon/test_live_parity.py) checks the end result
against the nightly tables. The day is the nightly partition, so the buffer is bounded
by one UTC day. The cost of a step grows with the day; a step runs when the feed clock
has moved `score_every_ms` and the previous step is done, so at replay speed the steps
simply become rarer.

A row is final once the clock has passed its grid time (rows with ts_ms < now); a window
is emitted once, by id, when first seen final.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.dsi import annotate, fit_dsi, load_registry
from lotus_core.feed.extract import Chunk, extract_chunk
from lotus_core.feed.gzlines import open_lines
from lotus_core.feed.parse import assemble_chunks, day_bounds_ms
from lotus_core.feed.recordings import recording_path
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.signals.config import ScoringConfig, load_scoring
from lotus_core.signals.pipeline import score_day
from lotus_core.signals.priors import NO_PRIORS, ActivePriors
from lotus_core.store.lake import Lake
from lotus_core.trader.replay import market_events_between

DSI_HISTORY_DAYS = 3
"""Earlier MicroTape days the DSI model is fitted on: lotus_assets.dsi.HISTORY_DAYS
(tests/daemon/test_live_engine.py checks they agree)."""


@dataclass
class NightContext:
    """What the nightly chain knows before day `day`: earlier days' windows (history), the
    DSI model fitted on earlier days, and the detectors' audit status."""

    day: str
    history: pd.DataFrame | None
    dsi_model: Any
    audit: pd.DataFrame | None


def _history(lake: Lake, asset: str, day: str, days: int) -> pd.DataFrame:
    start = pd.Timestamp(day)
    wanted = [(start - pd.Timedelta(days=k)).strftime("%Y-%m-%d") for k in range(days, 0, -1)]
    frames = [lake.read(asset, d).assign(date=d) for d in wanted if lake.exists(asset, d)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_night_context(lake_dir: Path, day: str, scoring: ScoringConfig | None = None
                       ) -> NightContext:
    """The nightly inputs of `day`'s scores, read from the lake as the assets read them.
    Audit status: the day's own if the lake has it (a replay of a materialised day), else
    the newest earlier day's (live: today's audits run tonight), else none (all ok)."""
    lake = Lake(lake_dir)
    cfg = scoring or load_scoring()
    history = _history(lake, "detector_windows", day, cfg.history_days)
    tape = _history(lake, "microtape_frames", day, DSI_HISTORY_DAYS)
    model = fit_dsi(tape, load_registry())
    audit = None
    days = [d for d in lake.days("detector_audit_status") if d <= day]
    if days:
        audit = lake.read("detector_audit_status", days[-1])
    return NightContext(day, history if len(history) else None, model, audit)


@dataclass
class Step:
    """What one scoring pass found final and new."""

    day: str
    now_ms: int
    rows: pd.DataFrame                # new MicroTape rows (MICROTAPE_COLUMNS)
    windows: pd.DataFrame             # new signal_events rows
    bus: pd.DataFrame                 # the Signal Bus rows of new published windows
    priors_ver: int
    market: list[tuple[int, Any]] = field(default_factory=list)
    """(position, event) of the Trader's market events that became final, in the nightly
    replay's order (`lotus_core.trader.replay.market_events`); only when asked for."""


@dataclass
class LiveDay:
    """One UTC day's recording lines so far, extracted by raw_feed's code."""

    day: str
    chunks: list[Chunk] = field(default_factory=list)
    hashes: list[np.ndarray] = field(default_factory=list)
    lines: int = 0
    warm: int = 0                     # lines read back from the recording at the start
    sha: Any = field(default_factory=hashlib.sha256)

    def fingerprint(self) -> str:
        """sha256 of the day's lines scored so far (the live twin of raw_feed's file hash;
        the curators refuse to publish without a data fingerprint)."""
        return "sha256:" + self.sha.hexdigest()

    def add_lines(self, lines: list[bytes]) -> None:
        if not lines:
            return
        lines = [x if x.endswith(b"\n") else x + b"\n" for x in lines]
        self.chunks.append(extract_chunk(self.lines + 1, lines))
        for line in lines:
            self.sha.update(line)
        self.hashes.append(np.fromiter(map(hash, lines), dtype=np.int64, count=len(lines)))
        self.lines += len(lines)

    def feed(self) -> Any:
        hashes = np.concatenate(self.hashes) if self.hashes else np.empty(0, np.int64)
        return assemble_chunks(f"live:{self.day}", self.day, self.chunks, hashes,
                               lambda wanted: {})


class LiveEngine:
    """Feed it validated lines (`add`), ask for a `step(now_ms)`; it returns the rows and
    windows that became final. `context` loads the nightly inputs of a day."""

    def __init__(self, params: MicroTapeParams, context: Callable[[str], NightContext],
                 *, feed_dir: Path | None = None, detectors: Any = None,
                 scoring: ScoringConfig | None = None, council: Any = None,
                 emitted: Callable[[str], tuple[dict[str, int], set[str]]] | None = None
                 ) -> None:
        self.params = params
        self.context_for = context
        self.feed_dir = feed_dir
        self.detectors, self.scoring, self.council = detectors, scoring, council
        self.priors: ActivePriors = NO_PRIORS
        self.day: LiveDay | None = None
        self.ctx: NightContext | None = None
        self.emitted_ts: dict[str, int] = {}
        self.emitted_windows: set[str] = set()
        self.last_now: int | None = None
        self.emitted_for = emitted
        self.trader_events = False        # also emit the Trader's market events (Step.market)
        self._market_until: int | None = None

    def add(self, day: str, first_line: int, lines: list[bytes]) -> Step | None:
        """Lines `first_line`.. of `day`'s recording. A new day first finishes the old one
        (returned as a Step); a day joined mid-way first reads its earlier lines from the
        recording (a restarted daemon resumes where the file is)."""
        done = None
        if self.day is None or self.day.day != day:
            if self.day is not None:
                done = self.step(day_bounds_ms(self.day.day)[1])
            self._start_day(day, first_line)
        assert self.day is not None
        skip = self.day.lines + 1 - first_line  # lines the warm-up already read
        self.day.add_lines(lines[max(0, skip):])
        return done

    def _start_day(self, day: str, first_line: int) -> None:
        self.day = LiveDay(day)
        self.ctx = self.context_for(day)
        self.emitted_ts = {}
        self._market_until = None
        if self.emitted_for is not None:
            self.mark_emitted(*self.emitted_for(day))
        if first_line > 1 and self.feed_dir is not None:
            path = recording_path(self.feed_dir, day)
            if path.exists():
                reader, _ = open_lines(path)
                with reader:
                    head = [line for _, line in zip(range(first_line - 1), reader,
                                                    strict=False)]
                self.day.add_lines(head)
                self.day.warm = len(head)

    def finish_recorded_day(self, day: str) -> Step | None:
        """Score a whole recorded day from its file (a day the daemon recorded but did not
        finish scoring before it stopped or was killed)."""
        self._start_day(day, 2**62)
        return self.step(day_bounds_ms(day)[1])

    def mark_emitted(self, rows_ts: dict[str, int], window_ids: set[str]) -> None:
        """What an earlier run of the daemon already stored (never emitted twice)."""
        for coin, ts in rows_ts.items():
            self.emitted_ts[coin] = max(ts, self.emitted_ts.get(coin, ts))
        self.emitted_windows |= window_ids

    def step(self, now_ms: int) -> Step | None:
        """Rebuild the day so far with the batch functions; emit what is final (< now_ms)."""
        if self.day is None or self.ctx is None:
            return None
        self.last_now = now_ms
        feed = self.day.feed()
        frames = build_microtape(feed, self.params)
        final = frames["ts_ms"].to_numpy() < now_ms
        frames = frames.loc[final].reset_index(drop=True)
        last = frames["coin"].astype(str).map(self.emitted_ts).fillna(-1).to_numpy()
        new_rows = frames.loc[frames["ts_ms"].to_numpy() > last].reset_index(drop=True)
        for coin, ts in new_rows.groupby("coin", observed=True)["ts_ms"].max().items():
            self.emitted_ts[str(coin)] = int(ts)
        market = self._market(feed, frames, now_ms) if self.trader_events else []
        empty = pd.DataFrame()
        if len(frames) == 0:
            return Step(self.day.day, now_ms, new_rows, empty, empty, self.priors.version,
                        market)
        dsi = annotate(frames, self.ctx.dsi_model).annotations
        result = score_day(frames, self.day.day, fingerprint=self.day.fingerprint(),
                           history=self.ctx.history,
                           dsi=dsi, priors=self.priors, audit=self.ctx.audit,
                           detectors=self.detectors, scoring=self.scoring,
                           council=self.council, evaluate=False)
        ev = result.events
        fresh = ~ev["window_id"].isin(self.emitted_windows).to_numpy()
        ev = ev.loc[fresh].reset_index(drop=True)
        self.emitted_windows |= set(ev["window_id"])
        bus = result.bus.loc[result.bus["window_id"].isin(set(ev["window_id"]))]
        return Step(self.day.day, now_ms, new_rows, ev, bus.reset_index(drop=True),
                    self.priors.version, market)

    def _market(self, feed: Any, rows: pd.DataFrame, now_ms: int) -> list[tuple[int, Any]]:
        """The Trader's market events that became final since the last step: the same
        objects `market_events` builds from the nightly parse, each once, numbered by their
        place in the day's stream (so a restarted daemon, which starts again from the day's
        first line, gives every event the number it had, and the Trader skips what it has)."""
        assert self.day is not None
        until = now_ms
        if now_ms < day_bounds_ms(self.day.day)[1] and len(rows):
            # A coin's MicroTape grid ends at its last message so far, so its next row
            # (its last row + one cadence) may still appear below `now_ms` when it sends
            # again: the stream stops short of it (the day's last step hands out the rest).
            last = rows.groupby("coin", observed=True)["ts_ms"].max()
            until = min(until, int(last.min()) + self.params.cadence_ms)
        since = self._market_until
        if since is not None and until <= since:
            return []
        self._market_until = until
        first, events = market_events_between(feed, rows, since, until)
        base = market_base(self.day.day)
        return [(base + first + k + 1, e) for k, e in enumerate(events)]


def market_base(day: str) -> int:
    """Positions of a day's market events start after this (days since 1970 x 1e10), so
    they increase across midnight."""
    return day_bounds_ms(day)[0] // 86_400_000 * 10_000_000_000


def replace_priors(engine: LiveEngine, priors: ActivePriors) -> bool:
    """Swap the active priors (a new nightly version or a rollback); True if it changed."""
    if priors.version == engine.priors.version and priors == engine.priors:
        return False
    engine.priors = dataclasses.replace(priors) if dataclasses.is_dataclass(priors) else priors
    return True
