"""The paper Trader as an event-driven engine: market events and decisions in, fills,
order/position changes and reports out. The nightly replay and the daemon's loop are thin
adapters over this one class, so a day replayed and the same day lived give the same fills.

    eng = TraderEngine(settings)
    out = eng.on_decision(ticket, ts_ms)   # validate, plan, arm or execute
    out += eng.on_book(book)               # arrivals, queue moves, exits, marks
    out += eng.on_trade(trade)             # queue eaten, trade-through fills
    out += eng.on_ctx(ctx)                 # hourly funding rate, mark
    out += eng.on_row(row)                 # MicroTape row: armed triggers

Time is the recorder's receive clock (ms). An order sent at t arrives at t + latency and
is matched against the book as it was at arrival (the last snapshot received at or before
that time). Every output is an `Out(kind, data)`: kind in fill, order, position,
exec_report, trigger_eval.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from lotus_core import costs
from lotus_core.trader import queue as qm
from lotus_core.trader.book import BUY, AssetCtx, Book, Trade
from lotus_core.trader.config import TraderSettings, VenueConfig
from lotus_core.trader.learning import NO_TR_PRIORS, TrPriors
from lotus_core.trader.plan import Plan, plans_from_ticket, target_weight, ts_ms, validate
from lotus_core.trader.reports import exec_report, trigger_eval
from lotus_core.trader.state import (
    Execution,
    Fill,
    Order,
    Portfolio,
    Position,
    execution_from,
    open_qty,
    order_from,
    position_from,
    to_dict,
)
from lotus_core.trader.triggers import DmTriggers
from lotus_core.trader.venues import BPS, VenueScore, latency_ms, score_venue

EPS = 1e-9
DAY_MS = 86_400_000
VOL_ALPHA = 0.05  # EWMA weight of the newest |mid change| (bps) in the volatility context
PROBE = "probe"  # an order's purpose: a probe of the book's passive odds (`_probe_round`)
DEPTH_LEVELS = 5  # levels of the taking side summed for the depth context
IMPACT_WITHIN_BPS = 10.0  # the execution rule's walk: depth within this of mid (the DM's N)


@dataclass(frozen=True)
class Out:
    kind: str
    data: dict[str, Any]


class TriggerEvaluator(Protocol):
    """The DM's trigger DSL evaluator, as the Trader uses it (lotus_core.dm.triggers)."""

    def arm(self, trigger: Mapping[str, Any], coin: str) -> Any: ...

    def step(self, armed: Any, row: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]: ...


def _round_lot(qty: float, lot: float) -> float:
    n = math.floor(abs(qty) / lot + 1e-9)
    return math.copysign(round(n * lot, 12), qty) if n else 0.0


def _round_tick(px: float, tick: float, side: int) -> float:
    """A passive price on the tick grid: buys round down, sells up."""
    n = px / tick
    n = math.floor(n + 1e-9) if side == BUY else math.ceil(n - 1e-9)
    return round(n * tick, 10)


class TraderEngine:
    def __init__(self, settings: TraderSettings,
                 triggers: TriggerEvaluator | None | str = "dm",
                 priors: TrPriors | None = None) -> None:
        self.cfg = settings
        self.priors = priors or NO_TR_PRIORS  # tr priors in force (lotus_core.trader.priors)
        self._vol: dict[str, float] = {}  # coin -> EWMA |mid change| per snapshot, bps
        self._vol_mid: dict[str, float] = {}  # coin -> the mid `on_quote` saw last
        self.triggers: TriggerEvaluator | None = DmTriggers() if triggers == "dm" else (
            None if isinstance(triggers, str) else triggers)
        self.books: dict[str, Book] = {}
        self.ctx: dict[str, AssetCtx] = {}
        self.orders: dict[str, Order] = {}
        self.executions: dict[str, Execution] = {}
        self.positions: dict[str, Position] = {}
        self.armed: dict[str, dict[str, Any]] = {}  # plan_id -> {plan, state}
        # decision id -> its ticket's valid_until (ms): a ticket delivered twice acts once;
        # kept until its validity has passed at a day's roll (a late copy is then an
        # expired ticket, rejected as such), so the snapshot does not grow day after day
        self.seen: dict[str, int] = {}
        self.portfolio = Portfolio(initial_equity=settings.equity, peak_equity=settings.equity)
        self.venue_history: dict[str, list[int]] = {}
        self.timers: list[tuple[int, int, str, str]] = []
        self._seq = 0
        self.now_ms = 0
        self.next_funding_ms: int | None = None
        self._taken: dict[str, dict[float, float]] = {}
        self._resting: dict[str, list[str]] = {}  # coin -> working limit order ids
        # the next time the engine acts with every coin's current book: a position's time
        # limit or the next probe round (a replay that holds quiet coins' snapshots back hands
        # them all over first)
        self._next_due = 1 << 62
        self._top: dict[str, float] = {}  # coin -> latest two-sided mid (marks, weights)
        self._out: list[Out] = []
        self._exec_coins: dict[str, int] = {}  # coin -> open executions and probes
        self._marked = False  # `_mark`'s inputs unchanged since it last ran (it is idempotent)
        # the passive entries' record (fills, waits, adverse selection): all of it, and as it
        # stood when the current UTC day began (what the execution rule and the DM price with)
        self._cost_model = costs.CostModel.from_trader(settings)
        self.passive = costs.PassiveHistory()
        self.passive_day_start = costs.PassiveHistory()
        # the probes' record (`trader.probe`: virtual post-only orders that measure the book's
        # passive odds), all of it and as the day began
        self.probed = costs.PassiveHistory()
        self.probed_day_start = costs.PassiveHistory()
        self.next_probe_ms: int | None = None
        self._day_end = 0  # when the current day ends (0: before the first event)
        # passive fills whose markouts are due: [coin, side, mid at the fill, due ms, after ms]
        # (a probe's fill: a sixth element, 1)
        self._markouts: list[list[Any]] = []
        self._markout_coins: dict[str, int] = {}

    # ---- inputs -------------------------------------------------------------------------
    def on_quote(self, coin: str, bid: float, ask: float) -> None:
        """The volatility context's one step (`vol_bps` in an execution's context): every
        two-sided snapshot of the source moves it, whether or not the snapshot itself is
        handed to the engine, so a replay that holds quiet coins' snapshots back and the
        live loop that hands every one over agree. Cheap: the top of book only."""
        mid = 0.5 * (bid + ask)
        old = self._vol_mid.get(coin)
        if old:
            move = abs(mid - old) / old * BPS
            v = self._vol.get(coin)
            self._vol[coin] = move if v is None else v + VOL_ALPHA * (move - v)
        self._vol_mid[coin] = mid

    def on_book(self, book: Book, quoted: bool = False) -> list[Out]:
        """A snapshot. `quoted`: its top already went to `on_quote` (the driver quotes every
        snapshot at its own place in the stream, held back or not)."""
        self._advance(book.ts_ms - 1)
        prev = self.books.get(book.coin)
        self.books[book.coin] = book
        if book.bid_px and book.ask_px:
            if not quoted:
                self.on_quote(book.coin, book.bid_px[0], book.ask_px[0])
            self._top[book.coin] = 0.5 * (book.bid_px[0] + book.ask_px[0])
            self._marked = False
        if self._taken.get(book.coin):  # what paper orders took applies to one snapshot
            self._taken[book.coin] = {}
        if book.ts_ms > self.now_ms:
            self.now_ms = book.ts_ms
        self._advance(book.ts_ms)
        if self._markout_coins.get(book.coin) and book.mid is not None:
            self._markout(book.coin, book.ts_ms, book.mid)
        if self._resting.get(book.coin):
            self._requeue(book, prev)
        pos = self.positions.get(book.coin)
        if pos is not None and pos.qty != 0:
            self._check_barriers(pos, book)
            if not self._marked:  # same inputs, same result: skipping changes nothing
                self._mark()
        return self._drain()

    def on_trade(self, trade: Trade) -> list[Out]:
        self._advance(trade.ts_ms)
        for oid in list(self._resting.get(trade.coin, ())):
            o = self.orders[oid]
            if o.side == -trade.side:  # a seller hits bids, a buyer lifts asks
                self._limit_vs_trade(o, trade)
        return self._drain()

    def on_ctx(self, ctx: AssetCtx) -> list[Out]:
        self._advance(ctx.ts_ms)
        self.ctx[ctx.coin] = ctx
        return self._drain()

    def on_row(self, row: Mapping[str, Any]) -> list[Out]:
        """A MicroTape row: armed plans of its coin are evaluated with the DM's evaluator."""
        ts = int(row["ts_ms"])
        self._advance(ts)
        coin = str(row["coin"])
        for pid, a in list(self.armed.items()):
            plan: Plan = a["plan"]
            if plan.symbol != coin or self.triggers is None:
                continue
            fired, details = self.triggers.step(a["state"], row)
            if fired:
                del self.armed[pid]
                self._emit("trigger_eval", trigger_eval(plan.decision_id, ts, "fired", details))
                self._start(plan, ts)
        return self._drain()

    def on_decision(self, ticket: Mapping[str, Any], ts_ms: int,
                    signal_id: str | None = None) -> list[Out]:
        """A dm-decision-1.0 ticket; the same decision_id a second time does nothing."""
        self._advance(ts_ms)
        did = str(ticket["decision_id"])
        if did in self.seen:
            return self._drain()
        self.seen[did] = _valid_until(ticket, ts_ms)
        for plan in plans_from_ticket(ticket, self.cfg, signal_id):
            if plan.conditional:
                self._arm(plan, ts_ms)
            else:
                self._start(plan, ts_ms)
        return self._drain()

    def quiet(self, coin: str) -> bool:
        """Nothing in the engine reads `coin`'s book until a decision names it: no position,
        no order or execution, no armed plan. A replay may then hold the coin's snapshots
        back and hand over only the latest when a decision comes (same fills, less work)."""
        p = self.positions.get(coin)
        if (p is not None and p.qty) or self._resting.get(coin) or self._exec_coins.get(coin) \
                or self._markout_coins.get(coin):
            return False
        return not (self.armed and any(a["plan"].symbol == coin for a in self.armed.values()))

    def book_mode(self, coin: str) -> int:
        """What a replay must hand over for `coin`'s next snapshot: 0 nothing yet (`quiet`),
        1 the top of book (`watched`: `on_top`), 2 the snapshot (`on_book`). One call on
        the hot path instead of two; the same answers."""
        p = self.positions.get(coin)
        if self._resting.get(coin) or self._exec_coins.get(coin) or (
                self.armed and any(a["plan"].symbol == coin for a in self.armed.values())) \
                or self._markout_coins.get(coin):
            return 2
        if p is None or not p.qty:
            return 0
        return 2 if p.exit_execution is not None else 1

    def watched(self, coin: str) -> bool:
        """Only a position's barriers read `coin`'s book (no order, execution, armed plan):
        a replay may then pass just the top of book (`on_top`)."""
        p = self.positions.get(coin)
        if (p is None or not p.qty or p.exit_execution is not None or self._resting.get(coin)
                or self._exec_coins.get(coin) or self._markout_coins.get(coin)):
            return False
        return not (self.armed and any(a["plan"].symbol == coin for a in self.armed.values()))

    def on_top(self, coin: str, ts_ms: int, bid: float, ask: float) -> bool:
        """The light form of `on_book` for a watched coin: time passes, the trailing best and
        the marks move. True when a barrier or the time limit is hit: the caller must then
        hand over the full snapshot with `on_book` (which exits exactly as it would have)."""
        pos = self.positions[coin]
        mid = 0.5 * (bid + ask)
        if pos.time_limit_at is not None and ts_ms >= pos.time_limit_at:
            return True
        long = pos.qty > 0
        if pos.sl_px is not None and (mid <= pos.sl_px if long else mid >= pos.sl_px):
            return True
        if pos.tp_px is not None and (mid >= pos.tp_px if long else mid <= pos.tp_px):
            return True
        if pos.trail_bps is not None and pos.best_px is not None:
            best = max(pos.best_px, mid) if long else min(pos.best_px, mid)
            stop = best * (1 - (1 if long else -1) * pos.trail_bps / BPS)
            if mid <= stop if long else mid >= stop:
                return True
        self._advance(ts_ms)
        if pos.trail_bps is not None and pos.best_px is not None:
            pos.best_px = max(pos.best_px, mid) if long else min(pos.best_px, mid)
        if self._top.get(coin) != mid:
            self._top[coin] = mid
            self._marked = False
        if not self._marked:  # same inputs, same result: skipping changes nothing
            self._mark()
        return False

    def advance(self, ts_ms: int) -> list[Out]:
        """Let time pass without a market event (the daemon's idle tick)."""
        self._advance(ts_ms)
        return self._drain()

    # ---- plans --------------------------------------------------------------------------
    def _tradeable(self, coin: str) -> bool:
        """A preferred venue lists `coin` and has its tick and lot (none is guessed)."""
        return any(coin in v.symbols and v.knows(coin) for v in self.cfg.venues
                   if v.name in self.cfg.venue_preferences)

    def _weight(self, coin: str) -> float:
        """The committed weight: the position plus what open executions will still trade."""
        pos = self.positions.get(coin)
        qty = (pos.qty if pos is not None else 0.0) + (
            open_qty(self.executions.values(), coin) if self.executions else 0.0)
        mid = self._mid(coin)
        eq = self.equity()
        if not qty or mid is None or eq <= 0:
            return 0.0
        return qty * mid / eq

    def _arm(self, plan: Plan, ts: int) -> None:
        issues = validate(plan, ts, self.books.get(plan.symbol), self._tradeable(plan.symbol),
                          self.cfg, self.equity(), self._weight(plan.symbol), check_market=False)
        if self.triggers is None:
            issues.append("trigger_evaluator_unavailable")
        if issues:
            self._reject(plan, ts, issues)
            return
        try:
            # ignore: not None here (a None evaluator is an issue above, which returned).
            state = self.triggers.arm(plan.entry_conditions or {}, plan.symbol)  # type: ignore[union-attr]
        except ValueError as exc:
            self._reject(plan, ts, [f"invalid_trigger: {exc}"])
            return
        self.armed[plan.plan_id] = {"plan": plan, "state": state}
        self._emit("trigger_eval", trigger_eval(plan.decision_id, ts, "armed",
                                                {"expr": (plan.entry_conditions or {}).get("expr"),
                                                 "symbol": plan.symbol}))
        self._timer(plan.valid_until_ms, "plan_expire", plan.plan_id)

    def _reject(self, plan: Plan, ts: int, issues: list[str]) -> None:
        plan.issues = issues
        if plan.conditional:
            self._emit("trigger_eval", trigger_eval(plan.decision_id, ts, "rejected",
                                                    {"reasons": issues, "symbol": plan.symbol}))
        ex = Execution(execution_id=f"{plan.plan_id}:x", plan_id=plan.plan_id,
                       decision_id=plan.decision_id, coin=plan.symbol, venue="none", side=0,
                       purpose="entry", reason="rejected", strategy=plan.execution_strategy,
                       qty=0.0, started_ms=ts, decision_px=None, expected_px=None,
                       max_slippage_bps=plan.max_slippage_bps, max_latency_ms=plan.max_latency_ms,
                       target_weight=plan.target_weight,
                       bounds=list(plan.bounds) if plan.bounds else None,
                       signal_id=plan.signal_id, tr_priors_version=self.priors.version)
        self._emit("exec_report", exec_report(ex, [], "failed", ts, self._position_after(),
                                              issues=issues))

    def _start(self, plan: Plan, ts: int) -> None:
        coin = plan.symbol
        book = self.books.get(coin)
        eq = self.equity()
        cur_w = self._weight(coin)
        issues = validate(plan, ts, book, self._tradeable(coin), self.cfg, eq, cur_w)
        if issues:
            self._reject(plan, ts, issues)
            return
        assert book is not None and book.mid is not None
        mid = book.mid
        plan.entry_price = mid
        w = target_weight(plan, eq, cur_w)
        delta_qty = (w - cur_w) * eq / mid
        side = BUY if delta_qty > 0 else -1
        plan.direction = "long" if w > 0 else "short" if w < 0 else "flat"
        scores = [score_venue(self.cfg.venue(v), book, side, abs(delta_qty), plan.max_slippage_bps,
                              plan.max_latency_ms, self._history(v))
                  for v in plan.venue_preferences
                  if coin in self.cfg.venue(v).symbols and self.cfg.venue(v).knows(coin)]
        prefs = plan.venue_preferences
        best: VenueScore = max(scores, key=lambda s: (s.total, -prefs.index(s.venue)))
        venue = self.cfg.venue(best.venue)
        qty = abs(_round_lot(delta_qty, venue.lot(coin)))
        context = self.context(book, side, qty)
        rule = None
        if plan.execution_strategy == "auto":
            rule = self.execution_rule(book, venue, side, qty, plan.edge_bps,
                                       plan.half_life_ms or plan.time_limit_ms, ts)
            plan.execution_strategy = ("twap" if rule.slices > 1 else rule.order)
        auto = rule is not None
        order, n_slices, choice = self._choose(plan, coin, context, rule)
        ex = Execution(execution_id=f"{plan.plan_id}:x", plan_id=plan.plan_id,
                       decision_id=plan.decision_id, coin=coin, venue=venue.name, side=side,
                       purpose="entry", reason="auto" if auto else plan.execution_strategy,
                       strategy=plan.execution_strategy, qty=qty, started_ms=ts,
                       decision_px=mid, expected_px=mid, max_slippage_bps=plan.max_slippage_bps,
                       max_latency_ms=plan.max_latency_ms, target_weight=w,
                       bounds=list(plan.bounds) if plan.bounds else None,
                       venue_score={**best.terms(),
                                    **{f"alt.{s.venue}": s.total for s in scores if s is not best}},
                       signal_id=plan.signal_id, sl_bps=plan.stop_loss_bps,
                       tp_bps=plan.take_profit_bps, trail_bps=plan.trailing_stop_bps,
                       time_limit_ms=plan.time_limit_ms, order=order, n_slices=n_slices,
                       context=context, tr_priors_version=self.priors.version, tr_choice=choice,
                       choice={"execution": rule.execution, "edge_bps": plan.edge_bps,
                               **{k: round(v, 6) for k, v in (
                                   ("fill_prob", rule.fill_prob), ("fill_ms", rule.fill_ms),
                                   ("adverse_bps", rule.adverse_bps),
                                   ("wait_bps", rule.wait_bps), ("taker_bps", rule.taker_bps),
                                   ("maker_bps", rule.maker_bps))}} if rule else {})
        self._add_execution(ex)
        if qty <= EPS or qty * mid < self.cfg.min_order_notional:
            self._finish(ex, ts, note="already_at_target")
            return
        strategy = ex.strategy
        if strategy == "twap":
            n = n_slices
            ex.slices_left = n
            step = self.cfg.twap_horizon_ms // n
            for i in range(n):
                self._timer(ts + i * step, "slice", f"{ex.execution_id}|{i}")
        elif strategy == "limit":  # the rule rests post-only: it never takes
            self._send(ex, qty, "limit", "post_only" if auto else self.cfg.limit_time_in_force,
                       ts, ts + self.cfg.limit_cancel_after_ms)
        else:
            self._send(ex, qty, "market", "ioc", ts, None)

    def context(self, book: Book, side: int, qty: float) -> dict[str, float | None]:
        """An execution's context at decision (what execution lessons bin): the quoted
        spread (bps of mid), the displayed size of the taking side's top levels over the
        order's size, and the EWMA |mid change| per two-sided snapshot (bps; None before two
        snapshots), from every snapshot of the coin received so far (`on_quote`)."""
        mid = book.mid or 0.0
        spread = (book.ask_px[0] - book.bid_px[0]) / mid * BPS if mid else math.nan
        _, sizes = book.side_levels(side)
        depth = sum(sizes[:DEPTH_LEVELS]) / qty if qty > 0 else math.nan
        vol = self._vol.get(book.coin, math.nan)
        return {k: (round(v, 9) if math.isfinite(v) else None)  # type: ignore[misc]
                for k, v in (("spread_bps", spread), ("depth_rel", depth), ("vol_bps", vol))}

    def execution_rule(self, book: Book, venue: VenueConfig, side: int, qty: float,
                       edge_bps: float | None, half_life_ms: float,
                       ts: int) -> costs.ExecutionChoice:
        """The execution rule (`lotus_core.costs.CostModel.choose`, the DM's too) for an
        entry of `qty` on `side` now: the ticket's edge in the trade's direction, its
        horizon as the alpha's half-life, the book's spread, the walk through the depth
        within `IMPACT_WITHIN_BPS` of mid, the passive record as the day began."""
        mid = book.mid or 0.0
        spread = (book.ask_px[0] - book.bid_px[0]) / mid * BPS if mid and book.two_sided \
            else math.nan
        px, sz = book.side_levels(side)
        depth = venue.depth_scale * sum(p * q for p, q in zip(px, sz, strict=False)
                                        if mid and abs(p - mid) / mid * BPS <= IMPACT_WITHIN_BPS)
        edge = side * edge_bps if edge_bps is not None else math.nan
        model = self._cost_model
        if model.venue_for(book.coin).name != venue.name:  # the venue the scores picked
            model = replace(model, venues=(venue, *model.venues))
        return model.choose(book.coin, edge, half_life_ms, spread,
                            costs.impact_bps(qty * mid, depth, IMPACT_WITHIN_BPS),
                            self.passive_priced(ts))

    def passive_priced(self, ts: int) -> costs.PassiveOdds:
        """The passive odds the execution rule reads at `ts`: the own and the probes'
        records as they stood when `ts`'s UTC day began (read without moving anything: one
        figure for the whole day, the same for the DM, the nightly replay and the live
        loop)."""
        if ts >= self._day_end:
            return costs.PassiveOdds(self.passive, self.probed)
        return costs.PassiveOdds(self.passive_day_start, self.probed_day_start)

    def _choose(self, plan: Plan, coin: str, context: dict[str, float | None],
                rule: costs.ExecutionChoice | None = None
                ) -> tuple[str, int, dict[str, Any]]:
        """(order type, slice count, what the tr priors changed) for an entry: the plan's
        strategy (or the execution rule's `rule`), then the priors' choice for this context
        unless the DM named the strategy. The strategy follows: twap when more than one
        slice, else the order type."""
        s = plan.execution_strategy
        if rule is not None:
            order, n = rule.order, rule.slices
        else:
            order, n = ((self.cfg.twap_slice_type, self.cfg.twap_slices) if s == "twap"
                        else (s, 1))
        choice = {} if plan.strategy_hinted else self.priors.choose(coin, context)
        changed = {k: v for k, v in choice.items()
                   if v != (order if k == "order" else n)}
        if choice:
            order = choice.get("order", order)
            n = int(choice.get("slices", n))
            plan.execution_strategy = "twap" if n > 1 else order
        return order, n, changed

    def set_priors(self, priors: TrPriors) -> None:
        """Use another tr priors version from the next decision on (live: the newest)."""
        self.priors = priors

    def _slice(self, ex: Execution, i: int, ts: int) -> None:
        n = ex.n_slices or self.cfg.twap_slices
        venue = self.cfg.venue(ex.venue)
        each = abs(_round_lot(ex.qty / n, venue.lot(ex.coin)))
        qty = each if i < n - 1 else max(ex.qty - each * (n - 1), 0.0)
        ex.slices_left -= 1
        if qty <= EPS:
            self._maybe_finish(ex, ts)
            return
        if (ex.order or self.cfg.twap_slice_type) == "limit":
            self._send(ex, qty, "limit", "gtc", ts, ts + self.cfg.twap_horizon_ms // n,
                       purpose="slice")
        else:
            self._send(ex, qty, "market", "ioc", ts, None, purpose="slice")

    # ---- orders -------------------------------------------------------------------------
    def _send(self, ex: Execution, qty: float, kind: str, tif: str, ts: int,
              expire_ms: int | None, purpose: str | None = None) -> Order:
        venue = self.cfg.venue(ex.venue)
        oid = f"{ex.execution_id}:o{len(ex.order_ids)}"
        slip = ex.max_slippage_bps
        o = Order(order_id=oid, execution_id=ex.execution_id, coin=ex.coin, venue=venue.name,
                  side=ex.side, qty=qty, kind=kind, tif=tif, limit_px=None, slip_bps=slip,
                  created_ms=ts, arrive_ms=ts + latency_ms(venue, oid), expire_ms=expire_ms,
                  purpose=purpose or ex.purpose)
        ex.order_ids.append(oid)
        self.orders[oid] = o
        self._timer(o.arrive_ms, "arrive", oid)
        self._emit("order", to_dict(o))
        return o

    def _arrive(self, o: Order) -> None:
        ex = self.executions.get(o.execution_id)  # None: a probe
        book = self.books.get(o.coin)
        ts = o.arrive_ms
        if book is None or book.mid is None:
            self._close_order(o, "cancelled", "missing_price")
            return
        o.arrival_mid = book.mid
        if ex is not None and ex.arrival_mid is None:
            ex.arrival_mid = book.mid
        venue = self.cfg.venue(o.venue)
        if o.kind == "market":
            cap = book.mid * (1 + o.side * o.slip_bps / BPS)
            self._take(o, book, cap, ts, venue)
            self._close_order(o, "filled" if o.leaves <= EPS else "cancelled",
                              None if o.leaves <= EPS else "slippage_cap")
            return
        best = book.bid_px[0] if o.side == BUY else book.ask_px[0]
        tick = venue.tick(o.coin, best)
        o.limit_px = _round_tick(best - o.side * self.cfg.limit_offset_ticks * tick, tick, o.side)
        if ex is not None and ex.expected_px is not None and o.purpose != "exit":
            ex.expected_px = o.limit_px
        lp = o.limit_px
        crosses = (book.ask_px[0] <= lp) if o.side == BUY else (book.bid_px[0] >= lp)
        if crosses:
            if o.tif == "post_only":
                self._close_order(o, "cancelled", "post_only_would_cross")
                return
            self._take(o, book, o.limit_px, ts, venue)
        if o.leaves <= EPS:
            self._close_order(o, "filled", None)
            return
        if o.tif == "ioc":
            self._close_order(o, "cancelled", "ioc_unfilled")
            return
        o.status = "working"
        o.queue = qm.QueuePos(ahead=book.resting_size(o.side, o.limit_px, tick))
        self._resting.setdefault(o.coin, []).append(o.order_id)
        if o.expire_ms is not None:
            self._timer(o.expire_ms, "expire", o.order_id)
        if ex is not None:
            self._emit("order", to_dict(o))

    def _take(self, o: Order, book: Book, cap: float, ts: int, venue: VenueConfig) -> None:
        taken = self._taken.setdefault(o.coin, {})
        for px, q in book.walk(o.side, o.leaves, cap, venue.depth_scale, taken):
            self._fill(o, px, q, ts, "taker")

    def _fill(self, o: Order, px: float, qty: float, ts: int, liquidity: str) -> None:
        if o.purpose == PROBE:  # measured, never traded
            if not o.n_fills:
                self.probed.first_fill(float(ts - o.arrive_ms))
            o.n_fills += 1
            o.filled_qty += qty
            if mid := self._top.get(o.coin):
                for after in costs.MARKOUTS_MS:
                    self._markouts.append([o.coin, o.side, mid, ts + after, after, 1])
                    self._markout_coins[o.coin] = self._markout_coins.get(o.coin, 0) + 1
            return
        venue = self.cfg.venue(o.venue)
        fee = costs.fee(venue, liquidity, px * qty)  # the one fee schedule (lotus_core.costs)
        f = Fill(fill_id=f"{o.order_id}:f{o.n_fills}", order_id=o.order_id,
                 execution_id=o.execution_id, coin=o.coin, venue=o.venue, side=o.side, px=px,
                 qty=qty, fee=fee, ts_ms=ts, liquidity=liquidity)
        o.n_fills += 1
        o.filled_qty += qty
        self._marked = False
        pos = self.positions.setdefault(o.coin, Position(coin=o.coin))
        was_flat = pos.qty == 0
        before = pos.qty
        realised = pos.apply(o.side, px, qty)
        pos.fees += fee
        self.portfolio.realised += realised
        self.portfolio.fees += fee
        ex = self.executions[o.execution_id]
        ex.fills.append(to_dict(f))
        if liquidity == "maker" and o.purpose != "exit" and (mid := self._top.get(o.coin)):
            for after in costs.MARKOUTS_MS:  # adverse selection, read at the first book after
                self._markouts.append([o.coin, o.side, mid, ts + after, after])
                self._markout_coins[o.coin] = self._markout_coins.get(o.coin, 0) + 1
        ex.pnl_impact += realised - fee
        # a flip (long -> short or back) opens a new position, whatever its size: the old
        # side's stop would sit on the wrong side of the new entry and fire at once
        flipped = before * pos.qty < 0
        if ex.purpose == "entry" and pos.qty != 0 and (flipped or abs(pos.qty) > abs(before) - EPS):
            self._set_barriers(pos, ex, ts, was_flat or flipped)
        if pos.qty == 0:
            pos.sl_px = pos.tp_px = pos.best_px = pos.time_limit_at = None
            pos.opened_ms = None
        self._update_next_due()
        self._emit("fill", to_dict(f))
        self._emit("position", to_dict(pos))

    def _set_barriers(self, pos: Position, ex: Execution, ts: int, was_flat: bool) -> None:
        long = pos.qty > 0
        s = 1 if long else -1
        if ex.sl_bps is not None:
            pos.sl_px = pos.avg_px * (1 - s * ex.sl_bps / BPS)
        if ex.tp_bps is not None:
            pos.tp_px = pos.avg_px * (1 + s * ex.tp_bps / BPS)
        pos.trail_bps = ex.trail_bps
        pos.best_px = pos.avg_px
        if was_flat or pos.opened_ms is None:
            pos.opened_ms = ts
        if ex.time_limit_ms is not None:
            pos.time_limit_at = ts + ex.time_limit_ms
        pos.plan_id, pos.decision_id = ex.plan_id, ex.decision_id

    def _close_order(self, o: Order, status: str, reason: str | None) -> None:
        o.status = status
        o.reason = reason
        if o.purpose == PROBE:
            self.probed.ended(o.filled_qty / o.qty)
            rest = self._resting.get(o.coin)
            if rest and o.order_id in rest:
                rest.remove(o.order_id)
            del self.orders[o.order_id]
            self._exec_coin_done(o.coin)
            return
        if o.kind == "limit" and o.purpose != "exit" and o.qty > 0:  # a passive entry ended
            ex = self.executions[o.execution_id]
            first = min((f["ts_ms"] for f in ex.fills if f["order_id"] == o.order_id),
                        default=None)
            self.passive.order_done(o.filled_qty / o.qty,
                                    None if first is None else float(first - o.arrive_ms))
        rest = self._resting.get(o.coin)
        if rest and o.order_id in rest:
            rest.remove(o.order_id)
        self._emit("order", to_dict(o))
        del self.orders[o.order_id]
        self._maybe_finish(self.executions[o.execution_id], self.now_ms)

    def _limit_vs_trade(self, o: Order, t: Trade) -> None:
        assert o.limit_px is not None and o.queue is not None
        venue = self.cfg.venue(o.venue)
        tick = venue.tick(o.coin, o.limit_px)
        half = 0.5 * tick
        through = t.px < o.limit_px - half if o.side == BUY else t.px > o.limit_px + half
        if through:
            self._fill(o, o.limit_px, o.leaves, t.ts_ms, "maker")
        elif abs(t.px - o.limit_px) < 0.5 * tick:
            qm.on_trade(o.queue, t.sz * venue.depth_scale)
            q = min(qm.executable(o.queue, venue.lot(o.coin)), o.leaves)
            if q > EPS:
                self._fill(o, o.limit_px, q, t.ts_ms, "maker")
        if o.leaves <= EPS:
            self._finish_resting(o, t.ts_ms)

    def _requeue(self, book: Book, prev: Book | None) -> None:
        for oid in list(self._resting.get(book.coin, ())):
            o = self.orders[oid]
            assert o.limit_px is not None and o.queue is not None
            venue = self.cfg.venue(o.venue)
            tick = venue.tick(o.coin, o.limit_px)
            opp = book.ask_px if o.side == BUY else book.bid_px
            if opp and ((opp[0] <= o.limit_px + 0.5 * tick) if o.side == BUY
                        else (opp[0] >= o.limit_px - 0.5 * tick)):
                self._fill(o, o.limit_px, o.leaves, book.ts_ms, "maker")  # the book crossed us
            else:
                new = book.resting_size(o.side, o.limit_px, tick) * venue.depth_scale
                old = (prev.resting_size(o.side, o.limit_px, tick) * venue.depth_scale
                       if prev is not None else new)
                u = None
                if self.cfg.queue.mode == "sampled" and old - new - o.queue.cum_trade > 0:
                    u = qm.uniform_for(self.cfg.queue.seed, oid, o.queue.draws)
                    o.queue.draws += 1
                qm.on_depth(o.queue, old, new, self.cfg.queue.power, u)
                q = min(qm.executable(o.queue, venue.lot(o.coin)), o.leaves)
                if q > EPS:
                    self._fill(o, o.limit_px, q, book.ts_ms, "maker")
            if o.leaves <= EPS:
                self._finish_resting(o, book.ts_ms)

    def _markout(self, coin: str, ts: int, mid: float) -> None:
        """The markouts of `coin` due by `ts`, read at this mid: how far it moved against
        each passive fill (bps, positive = against the position)."""
        keep = []
        for m in self._markouts:
            if m[0] == coin and m[3] <= ts:
                record = self.probed if len(m) > 5 else self.passive
                record.marked(int(m[4]), -m[1] * (mid - m[2]) / m[2] * BPS)
                self._markout_coins[coin] -= 1
            else:
                keep.append(m)
        if not self._markout_coins[coin]:
            del self._markout_coins[coin]
        self._markouts = keep

    def _finish_resting(self, o: Order, ts: int) -> None:
        self.now_ms = max(self.now_ms, ts)
        self._close_order(o, "filled", None)

    # ---- positions ----------------------------------------------------------------------
    def _check_barriers(self, pos: Position, book: Book) -> None:
        if pos.exit_execution is not None or not book.two_sided:
            return
        long = pos.qty > 0
        mid = book.mid
        assert mid is not None
        exit_px = mid  # barriers watch the mid: a wide spread alone never stops us out
        reason, barrier = None, None
        if pos.trail_bps is not None and pos.best_px is not None:
            pos.best_px = max(pos.best_px, mid) if long else min(pos.best_px, mid)
        if pos.sl_px is not None and (exit_px <= pos.sl_px if long else exit_px >= pos.sl_px):
            reason, barrier = "stop_loss", pos.sl_px
        elif pos.tp_px is not None and (exit_px >= pos.tp_px if long else exit_px <= pos.tp_px):
            reason, barrier = "take_profit", pos.tp_px
        elif pos.trail_bps is not None and pos.best_px is not None:
            stop = pos.best_px * (1 - (1 if long else -1) * pos.trail_bps / BPS)
            if exit_px <= stop if long else exit_px >= stop:
                reason, barrier = "trailing_stop", stop
        if reason is None and pos.time_limit_at is not None and book.ts_ms >= pos.time_limit_at:
            reason, barrier = "time_limit", None
        if reason is not None:
            self._exit(pos, reason, barrier, book.ts_ms)

    def _exit(self, pos: Position, reason: str, barrier: float | None, ts: int) -> None:
        book = self.books[pos.coin]
        side = -1 if pos.qty > 0 else BUY
        n = sum(1 for e in self.executions if e.startswith(f"{pos.plan_id}:exit"))
        venue_name = self._position_venue(pos)
        ex = Execution(execution_id=f"{pos.plan_id}:exit{n}:{ts}", plan_id=pos.plan_id or pos.coin,
                       decision_id=pos.decision_id or "none", coin=pos.coin, venue=venue_name,
                       side=side, purpose="exit", reason=reason, strategy="market",
                       qty=abs(pos.qty), started_ms=ts, decision_px=book.mid,
                       expected_px=barrier if barrier is not None else book.mid,
                       max_slippage_bps=self.cfg.exit_max_slippage_bps,
                       max_latency_ms=self.cfg.max_latency_ms, target_weight=0.0, bounds=None,
                       barrier_px=barrier, order="market", n_slices=1,
                       tr_priors_version=self.priors.version)
        self._add_execution(ex)
        pos.exit_execution = ex.execution_id
        self._update_next_due()
        self._send(ex, abs(pos.qty), "market", "ioc", ts, None)

    def _position_venue(self, pos: Position) -> str:
        for e in self.executions.values():
            if e.plan_id == pos.plan_id and e.purpose == "entry" and e.venue != "none":
                return e.venue
        return self.cfg.venue_preferences[0]

    def _funding(self, at_ms: int) -> None:
        for coin, pos in self.positions.items():
            if not pos.qty:
                continue
            c = self.ctx.get(coin)
            px = (c.oracle_px or c.mark_px) if c is not None else None
            px = px or self._mid(coin)
            if c is None or px is None:
                continue
            pay = costs.funding_payment(pos.qty, px, c.funding)  # longs pay a positive rate
            pos.funding += pay
            self.portfolio.funding += pay
            self._marked = False
            self._emit("position", {**to_dict(pos), "funding_at_ms": at_ms, "funding_paid": pay})

    # ---- time ---------------------------------------------------------------------------
    def _timer(self, at: int, kind: str, key: str) -> None:
        self._seq += 1
        heapq.heappush(self.timers, (at, self._seq, kind, key))

    def _advance(self, ts: int) -> None:
        if ts >= self._day_end:  # a new UTC day: the passive records it prices with
            self.passive_day_start = replace(self.passive)
            self.probed_day_start = replace(self.probed)
            self._day_end = (ts // DAY_MS + 1) * DAY_MS
            self.seen = {k: v for k, v in self.seen.items() if v > ts}
        nf = self.next_funding_ms
        if (nf is not None and nf > ts and (not self.timers or self.timers[0][0] > ts)
                and self._next_due > ts):
            if ts > self.now_ms:
                self.now_ms = ts
            return
        self._advance_slow(ts)

    def _advance_slow(self, ts: int) -> None:
        if self.next_funding_ms is None and ts > 0:
            iv = self.cfg.funding_interval_ms
            self.next_funding_ms = (ts // iv + 1) * iv
        every = self.cfg.probe.every_ms
        if self.next_probe_ms is None and ts > 0 and every:
            self.next_probe_ms = (ts // every + 1) * every
        while True:
            nf = self.next_funding_ms if self.next_funding_ms is not None else 1 << 62
            nt = self.timers[0][0] if self.timers else 1 << 62
            np_ = self.next_probe_ms if self.next_probe_ms is not None and every else 1 << 62
            if min(nf, nt, np_) > ts:
                break
            if np_ < min(nf, nt):  # a probe round at its own time, whichever event came
                self.now_ms = max(self.now_ms, np_)
                self._probe_round(np_)
                self.next_probe_ms = np_ + every
                continue
            if nf <= nt:
                self.now_ms = max(self.now_ms, nf)
                self._funding(nf)
                self.next_funding_ms = nf + self.cfg.funding_interval_ms
                continue
            at, _, kind, key = heapq.heappop(self.timers)
            self.now_ms = max(self.now_ms, at)
            self._on_timer(kind, key, at)
        if ts > self.now_ms:
            self.now_ms = ts
        for pos in self.positions.values():
            if (pos.time_limit_at is not None and ts >= pos.time_limit_at and pos.qty
                    and pos.exit_execution is None and pos.coin in self.books):
                self._exit(pos, "time_limit", None, ts)
        self._update_next_due()

    @property
    def next_due(self) -> int:
        return self._next_due

    def _update_next_due(self) -> None:
        """The earliest time limit of a position not already exiting, or the next probe
        round if sooner (the fast path's key)."""
        self._next_due = min(
            (p.time_limit_at for p in self.positions.values()
             if p.time_limit_at is not None and p.qty and p.exit_execution is None),
            default=1 << 62)
        if self.next_probe_ms is not None and self.cfg.probe.every_ms:
            self._next_due = min(self._next_due, self.next_probe_ms)

    def _probe_round(self, at: int) -> None:
        """One probe per coin with a fresh two-sided book and no probe working: a post-only
        order of `probe.weight` x equity at the touch, buys and sells in turn (by round and
        coin), cancelled after `limit_cancel_after_ms` like a resting entry. It waits in the
        queue model and is marked 5 s and 60 s after a fill, but never trades: its outcome
        goes to `probed` only."""
        k = at // self.cfg.probe.every_ms
        probing = {o.coin for o in self.orders.values() if o.purpose == PROBE}
        for i, coin in enumerate(sorted(self.books)):
            book = self.books[coin]
            if coin in probing or book.mid is None or not book.two_sided \
                    or at - book.ts_ms > self.cfg.stale_book_ms:
                continue
            venue = next((v for v in (self.cfg.venue(n) for n in self.cfg.venue_preferences)
                          if coin in v.symbols and v.knows(coin)), None)
            if venue is None:
                continue
            qty = abs(_round_lot(self.cfg.probe.weight * self.cfg.equity / book.mid,
                                 venue.lot(coin)))
            if qty <= EPS:
                continue
            oid = f"probe:{coin}:{k}"
            o = Order(order_id=oid, execution_id="", coin=coin, venue=venue.name,
                      side=BUY if (k + i) % 2 == 0 else -BUY, qty=qty, kind="limit",
                      tif="post_only", limit_px=None, slip_bps=0.0, created_ms=at,
                      arrive_ms=at + latency_ms(venue, oid),
                      expire_ms=at + self.cfg.limit_cancel_after_ms, purpose=PROBE)
            self.orders[oid] = o
            self._exec_coins[coin] = self._exec_coins.get(coin, 0) + 1
            self._timer(o.arrive_ms, "arrive", oid)

    def _on_timer(self, kind: str, key: str, at: int) -> None:
        if kind == "arrive":
            o = self.orders.get(key)
            if o is not None and o.status == "pending":
                self._arrive(o)
        elif kind == "expire":
            o = self.orders.get(key)
            if o is not None and o.status == "working":
                self._close_order(o, "cancelled", "expired")
        elif kind == "slice":
            eid, i = key.rsplit("|", 1)
            ex = self.executions.get(eid)
            if ex is not None:
                self._slice(ex, int(i), at)
        elif kind == "plan_expire":
            a = self.armed.pop(key, None)
            if a is not None:
                plan = a["plan"]
                self._emit("trigger_eval", trigger_eval(plan.decision_id, at, "expired",
                                                        {"symbol": plan.symbol}))

    # ---- executions and reports ---------------------------------------------------------
    def _maybe_finish(self, ex: Execution, ts: int) -> None:
        if ex.slices_left > 0 or any(oid in self.orders for oid in ex.order_ids):
            return
        self._finish(ex, ts)

    def _finish(self, ex: Execution, ts: int, note: str | None = None) -> None:
        if ex.execution_id not in self.executions:
            return
        filled = sum(f["qty"] for f in ex.fills)
        lot = self.cfg.venue(ex.venue).lot(ex.coin)
        status = ("filled" if filled >= ex.qty - 0.5 * lot or note else
                  "partial" if filled > EPS else "cancelled")
        h = self.venue_history.setdefault(ex.venue, [0, 0])
        if note is None:
            h[0] += 1
            h[1] += int(status == "filled")
        pos = self.positions.get(ex.coin)
        if ex.purpose == "exit" and pos is not None:
            pos.exit_execution = None
            self._update_next_due()
        end = max([f["ts_ms"] for f in ex.fills], default=ts)
        self._emit("exec_report", exec_report(ex, ex.fills, status, end, self._position_after(),
                                              equity=self.equity(), mark=self._mid(ex.coin),
                                              note=note))
        del self.executions[ex.execution_id]
        self._exec_coin_done(ex.coin)

    def _exec_coin_done(self, coin: str) -> None:
        n = self._exec_coins[coin] - 1
        if n:
            self._exec_coins[coin] = n
        else:
            del self._exec_coins[coin]

    def _add_execution(self, ex: Execution) -> None:
        self.executions[ex.execution_id] = ex
        self._exec_coins[ex.coin] = self._exec_coins.get(ex.coin, 0) + 1

    def _history(self, venue: str) -> tuple[int, int]:
        h = self.venue_history.get(venue, [0, 0])
        return h[0], h[1]

    def _mid(self, coin: str) -> float | None:
        return self._top.get(coin)

    def _marks(self) -> dict[str, float]:
        return {c: m for c in self.positions if (m := self._mid(c)) is not None}

    def equity(self) -> float:
        """The snapshot's equity (`Portfolio.equity`: the mids of `_marks` are `_top`'s)."""
        return float(self.portfolio.equity(self.positions, self._top)[0])

    def _mark(self) -> None:
        """Peak equity and the deepest drawdown so far, marked at the mids (hot path)."""
        pf = self.portfolio
        unreal = 0.0
        top = self._top
        for c, p in self.positions.items():
            if p.qty and c in top:
                unreal += p.qty * (top[c] - p.avg_px)
        eq = pf.initial_equity + pf.realised - pf.fees + pf.funding + unreal
        if eq > pf.peak_equity:
            pf.peak_equity = eq
        elif pf.peak_equity > 0:
            dd = (pf.peak_equity - eq) / pf.peak_equity
            if dd > pf.max_drawdown:
                pf.max_drawdown = dd
        self._marked = True

    def portfolio_state(self) -> dict[str, Any]:
        """Equity, exposure, positions, drawdown from peak: what the DM's context reads. A
        read, not a mark: the peak and the deepest drawdown move only at the Trader's own
        marks (a held coin's new mid), so the state after a day is the same whether or not
        a Decision-Maker asked for it in between (the nightly joint run asks at every
        decision, `paper_day`'s replay of the stored tickets never does)."""
        return self.portfolio.snapshot(self.positions, self._marks())

    def _position_after(self) -> dict[str, float]:
        return {c: p.qty for c, p in self.positions.items()}

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self._out.append(Out(kind, data))

    def _drain(self) -> list[Out]:
        out, self._out = self._out, []
        return out

    # ---- persistence --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue after a restart (JSON-ready, no market data but the
        last book per coin is kept so resting orders can be re-queued)."""
        return {**self.snapshot_but_seen(),
                "seen": sorted([k, v] for k, v in self.seen.items())}

    def snapshot_but_seen(self) -> dict[str, Any]:
        """`snapshot()` without `seen` (the decisions taken, one entry each): a loop that
        commits at every step encodes `self.seen` incrementally (`store.StateText`)."""
        return {
            "orders": {k: to_dict(v) for k, v in self.orders.items()},
            "executions": {k: to_dict(v) for k, v in self.executions.items()},
            "positions": {k: to_dict(v) for k, v in self.positions.items()},
            "portfolio": to_dict(self.portfolio),
            "venue_history": self.venue_history,
            "timers": [list(t) for t in self.timers],
            "seq": self._seq, "now_ms": self.now_ms, "next_funding_ms": self.next_funding_ms,
            "resting": self._resting,
            "books": {c: to_dict(b) for c, b in self.books.items()},
            "armed": {k: to_dict(a["plan"]) for k, a in self.armed.items()},
            "top": dict(self._top),
            "ctx": {c: to_dict(x) for c, x in self.ctx.items()},
            "vol": dict(self._vol),
            "vol_mid": dict(self._vol_mid),
            "passive": self.passive.as_dict(),
            "passive_day_start": self.passive_day_start.as_dict(),
            "probed": self.probed.as_dict(),
            "probed_day_start": self.probed_day_start.as_dict(),
            "next_probe_ms": self.next_probe_ms,
            "day_end": self._day_end,
            "markouts": [list(m) for m in self._markouts],
        }

    @classmethod
    def restore(cls, settings: TraderSettings, snap: Mapping[str, Any],
                triggers: TriggerEvaluator | None | str = "dm",
                priors: TrPriors | None = None) -> TraderEngine:
        eng = cls(settings, triggers, priors)
        eng.orders = {k: order_from(v) for k, v in snap["orders"].items()}
        eng.executions = {k: execution_from(v) for k, v in snap["executions"].items()}
        for ex in eng.executions.values():
            eng._exec_coins[ex.coin] = eng._exec_coins.get(ex.coin, 0) + 1
        eng.positions = {k: position_from(v) for k, v in snap["positions"].items()}
        eng.seen = _seen_from(snap["seen"], int(snap["now_ms"]))
        eng.portfolio = Portfolio(**snap["portfolio"])
        eng.venue_history = {k: list(v) for k, v in snap["venue_history"].items()}
        eng.timers = [(int(a), int(b), str(c), str(d)) for a, b, c, d in snap["timers"]]
        heapq.heapify(eng.timers)
        eng._seq, eng.now_ms = int(snap["seq"]), int(snap["now_ms"])
        eng.next_funding_ms = snap["next_funding_ms"]
        eng._resting = {k: list(v) for k, v in snap["resting"].items()}
        for o in eng.orders.values():
            if o.purpose == PROBE:
                eng._exec_coins[o.coin] = eng._exec_coins.get(o.coin, 0) + 1
        eng.next_probe_ms = snap.get("next_probe_ms")
        eng._update_next_due()
        eng._top = {c: float(m) for c, m in snap.get("top", {}).items()}
        eng._vol = {c: float(v) for c, v in snap.get("vol", {}).items()}
        eng._vol_mid = {c: float(m) for c, m in  # before vol_mid: the last mid handed over
                        snap.get("vol_mid", snap.get("top", {})).items()}
        eng.books = {c: Book(**b) for c, b in snap["books"].items()}
        eng.passive = costs.PassiveHistory.from_dict(snap.get("passive"))
        eng.passive_day_start = costs.PassiveHistory.from_dict(snap.get("passive_day_start"))
        eng.probed = costs.PassiveHistory.from_dict(snap.get("probed"))
        eng.probed_day_start = costs.PassiveHistory.from_dict(snap.get("probed_day_start"))
        eng._day_end = int(snap.get("day_end", 0))
        eng._markouts = [list(m) for m in snap.get("markouts", [])]
        for m in eng._markouts:
            eng._markout_coins[m[0]] = eng._markout_coins.get(m[0], 0) + 1
        eng.ctx = {c: AssetCtx(**x) for c, x in snap["ctx"].items()}
        for pid, d in snap.get("armed", {}).items():  # the evaluator starts afresh
            plan = Plan(**{**d, "bounds": tuple(d["bounds"]) if d["bounds"] else None})
            if eng.triggers is not None:
                state = eng.triggers.arm(plan.entry_conditions or {}, plan.symbol)
                eng.armed[pid] = {"plan": plan, "state": state}
        return eng


def _valid_until(ticket: Mapping[str, Any], now_ms: int) -> int:
    """The ticket's valid_until in ms (`now_ms` when it has none that parses: kept until
    the next day's roll)."""
    try:
        return ts_ms(str(ticket["valid_until"]))
    except (KeyError, TypeError, ValueError):
        return now_ms


def _seen_from(stored: Sequence[Any], now_ms: int) -> dict[str, int]:
    """`seen` from a snapshot: [id, valid_until] pairs, or the ids alone (a snapshot written
    before validity was kept: each kept until the next day's roll)."""
    return {str(x): now_ms for x in stored if isinstance(x, str)} | {
        str(x[0]): int(x[1]) for x in stored if not isinstance(x, str)}

