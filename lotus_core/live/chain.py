"""One UTC day's scoring chain, run row by row: the live daemon's driver of the stages.

Each MicroTape row, as it becomes final, goes once through every stage's step. Each step
lives in its stage's module beside the batch function the nightly chain runs, sharing its
constants and rules, with the equality test beside the batch tests (one definition per
stage, docs/structure.md; tests/core/test_one_definition.py):

    TapeStream (microtape/build.py: build_microtape) -> DsiStream (dsi/annotate.py:
    annotate) -> DetectorStream (signals/detectors.py: run_detectors; with settings
    scoring.exploration also BredStream, breeding/compile.py: bred_windows) -> WindowScorer
    (signals/pipeline.py: score_day's scores) -> CouncilStream (curators/council.py's
    CouncilStep: run_council and publication; curators/events.py lays out the rows)

So a step costs what its new rows cost, not a trailing span's re-run: the live path's
tick-to-scored latency is a few rows' worth of arithmetic. The nightly inputs (DSI model,
detector history, audit status) are the day's `NightContext`; the priors can change
between rows (a new nightly version or a rollback) and each window records the version
that scored it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from lotus_core.breeding.compile import BredStream
from lotus_core.breeding.scoring import carrier
from lotus_core.curators.config import CouncilConfig
from lotus_core.curators.council import detector_status
from lotus_core.curators.events import CouncilStream
from lotus_core.dsi.annotate import DsiStream
from lotus_core.feed.assemble import Parsed
from lotus_core.microtape import MicroTapeParams
from lotus_core.microtape.build import RowBlock, TapeStream
from lotus_core.microtape.context_history import ContextHistory
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.detectors import DetectorStream
from lotus_core.signals.pipeline import WindowScorer
from lotus_core.signals.priors import ActivePriors
from lotus_core.signals.spec import enabled_specs

_TS = itemgetter("ts_ms")


def _event_ts(made: tuple[dict[str, Any], Any]) -> Any:
    return made[0]["ts_ms"]


@dataclass
class ChainOutput:
    """What one pass made final: MicroTape rows, signal_events rows, Signal Bus rows
    (each a dict keyed by its table's columns)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[RowBlock] = field(default_factory=list)  # the rows as columns, per coin
    windows: list[dict[str, Any]] = field(default_factory=list)
    bus: list[dict[str, Any]] = field(default_factory=list)


class DayChain:
    """The streaming stages of one day, fed parsed feed batches (`add`), asked for what
    became final (`advance(now_ms)`). `scoring` and `council`: the configurations the
    entry point loaded, the ones the nightly `score_signals` scores the day with."""

    def __init__(self, day: str, params: MicroTapeParams, input_start_ms: int, context: Any,
                 priors: ActivePriors, fingerprint: Callable[[], str], *,
                 scoring: ScoringConfig, council: CouncilConfig,
                 detectors: Any = None, history: ContextHistory | None = None) -> None:
        bred = list(context.bred)  # scoring.exploration: the breeder's survivors
        carriers = [carrier(b) for b in bred]
        engine_specs = enabled_specs(detectors)
        specs = engine_specs + carriers  # score_day's specs with `extra`
        cfg, ccfg = scoring, council
        hq = context.quality(specs, cfg.sq)  # the night's fold, once per night context
        status = detector_status(context.audit, [s.id for s in specs])
        self.day = day
        self.fingerprint = fingerprint
        self.tape = TapeStream(day, params, input_start_ms, history)
        self.dsi = DsiStream(context.dsi_model)
        self.detect = DetectorStream(engine_specs, params.cadence_ms)
        self.bred = (BredStream(bred, params.cadence_ms, {c.id: c.recipe_hash for c in carriers})
                     if bred else None)
        self.scorer = WindowScorer(specs, cfg, hq, priors, params.cadence_ms)
        self.council = CouncilStream(day, specs, ccfg, status, fingerprint(), hq.days,
                                     context.actions)

    def set_priors(self, priors: ActivePriors) -> None:
        self.scorer.priors = priors

    def add(self, parsed: Parsed) -> None:
        self.tape.add(parsed)

    def advance(self, now_ms: int) -> ChainOutput:
        """Every row with grid time < now_ms not seen before, through every stage, coin by
        coin: every stage's state is per coin (tests/core/signals/test_per_coin.py), so a
        coin's rows of the step go through together while its state is in the CPU's caches
        (taken a row of each coin in turn, every row touched every coin's DSI windows,
        detector and scorer state: at 30 coins each row cost 16 % more than at 3). The
        outputs come back in (ts_ms, coin) order."""
        out = ChainOutput()
        rows = self.tape.rows(now_ms, out.blocks, by_coin=True)
        if not rows:
            return out
        self.council.fingerprint = self.fingerprint()
        made: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for row in rows:
            dsi = self.dsi.push(row)
            fired = self.detect.push(row)
            if self.bred is not None:  # score_day's merge: one row's windows by detector_id
                more = self.bred.push(row)
                if more:
                    fired = sorted(fired + more, key=lambda w: w["detector_id"])
            scored = self.scorer.push(row, dsi, fired)
            if scored:
                made += self.council.push(scored)
        out.rows = rows
        if len(out.blocks) > 1:  # several coins: back to (ts_ms, coin) order (stable sorts)
            rows.sort(key=_TS)
            made.sort(key=_event_ts)
        for event, bus in made:
            out.windows.append(event)
            if bus is not None:
                out.bus.append(bus)
        return out
