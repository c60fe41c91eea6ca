"""The Decision-Maker engine: one object, fed MicroTape rows and published alphas in time
order, returning decision tickets. The nightly `dm_decisions` asset and the daemon's `dm`
loop both drive this class, so a replayed day and a lived day decide the same.

    engine = DmEngine(settings, calibration)
    engine.on_row(row)            # every MicroTape row (any coin), in time order
    decisions = engine.on_alpha(alpha)   # each published signal, after the rows up to it

A decision round (one per new alpha): fuse each coin's live alphas at the base and tilt
horizons, size the whole book with the allocator (base, then the tilt within its turnover
cap), let the curators veto or nudge, and emit a ticket for the alpha's coin plus any coin
whose target moved by at least `min_trade`.

Where a decision starts from: `on_alpha(alpha, context)` with a `PortfolioContext` (what
the paper Trader holds: weights, equity, peak, open times; docs/dm.md) takes w₀, the
drawdown and the flip guard's open times from it — the nightly joint replay and the live
loop both pass one. Without a context (no Trader state exists) the DM falls back to its
own targets as filled at mid, its equity marked on every closed MicroTape return.

The turnover budget is paced: Σ|Δw| over any trailing `turnover_window_s` is at most
turnover_day × window / 1 day × multipliers (a ledger of the decisions' turnover).

Costs: one model (`lotus_core.costs.CostModel`, built from the `trader:` settings, the
Trader's venues and fee schedules): per coin fee + half spread + book-walk impact is the
allocator's cost vector c, the funding carry over the base horizon is taken off μ. Each
ticket says what the DM believed: the calibrated edge, the priced cost and the execution
assumed (`audit_refs`, `Decision.edge_bps / cost_bps / execution`).

The universe (`universe`): the configured coins (`dm.coins`) the market data carries, a
coin joining at its first MicroTape row (`on_row`), in the nightly replays and the live
loop alike, so both decide a day on the same coins at every alpha. The others are left out
of the problem (`left_out`, reported once by the caller), never held at zero by a binding
cap; their alphas are logged (`coin_without_data`). The allocator is compiled for a fixed
universe (at its first solve): made for the configured coins up front, made again at a
decision whose universe differs, so one compile at the first decision and one for each coin
that joins after it (about 0.07 s each on a 2-core machine).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from lotus_core.costs import CostModel, PassiveOdds, Priced
from lotus_core.dm import curators
from lotus_core.dm.allocator import Allocation, AllocationInput, Allocator
from lotus_core.dm.alpha import AlphaEvent, ms_to_iso
from lotus_core.dm.budgets import Multipliers, drawdown_gross_multiplier, multipliers
from lotus_core.dm.calibration import Calibration
from lotus_core.dm.config import DmSettings
from lotus_core.dm.context import PortfolioContext
from lotus_core.dm.fusion import Blend, blend, live_ms
from lotus_core.dm.market import MarketState, scale_to_horizon
from lotus_core.dm.ticket import SCHEMA_VER, text_digest, ticket_json
from lotus_core.dm.triggers import DSL_VERSION, parse_trigger, print_trigger
from lotus_core.time import DAY_MS


@dataclass(frozen=True)
class Decision:
    """One ticket and what the nightly table / the live loop need around it."""

    decision_id: str
    ts_ms: int
    coin: str
    alpha_id: str
    action: str  # trade | hold
    w0: float
    target: float
    ticket: dict[str, Any]
    ticket_json: str
    digest: str
    curation: tuple[dict[str, object], ...]
    binding: tuple[str, ...]
    turnover: float
    solve_ms: float
    edge_bps: float = math.nan  # the calibrated edge the stage solved with (signed, base horizon)
    cost_bps: float = math.nan  # the cost priced a side (fee + half spread + impact)
    execution: str = ""  # the execution the cost assumed (taker for now)


@dataclass
class BookState:
    """What the DM holds: weights, equity and its peak, the day's turnover, open times, and
    the ledger of (ts, turnover) the paced budget reads."""

    w: np.ndarray
    equity: float = 1.0
    peak: float = 1.0
    day: int | None = None
    turnover_used: float = 0.0  # this UTC day (reported)
    opened_ms: dict[str, int] = field(default_factory=dict)
    ledger: deque[tuple[int, float]] = field(default_factory=deque)
    window_used: float = 0.0  # Σ of the ledger: the trailing window's turnover

    @property
    def drawdown(self) -> float:
        return 1.0 - self.equity / self.peak if self.peak > 0 else 0.0


def universe(configured: Iterable[str], carried: Collection[str]
             ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The DM's universe: the configured coins the market data carries (in the configured
    order), and the configured coins it leaves out. The engine's rule (`carried`: the coins
    with a row so far) and the nightly's report of a day (the coins of its MicroTape)."""
    configured = tuple(configured)
    return (tuple(c for c in configured if c in carried),
            tuple(c for c in configured if c not in carried))


class DmEngine:
    """See the module docstring."""

    def __init__(self, settings: DmSettings, calibration: Calibration, *,
                 cadence_ms: int = 1000, cov_window: int = 1800,
                 costs: CostModel | None = None) -> None:
        """`costs`: the cost model of the `trader:` settings (None: of the packaged
        defaults)."""
        self.cfg = settings
        self.calib = calibration
        self.costs = costs if costs is not None else CostModel.from_trader()
        self.carried: set[str] = set()  # the configured coins with a MicroTape row so far
        self.coins, self.left_out = universe(settings.coins, self.carried)
        self.n = len(self.coins)
        self.cadence_ms = cadence_ms
        a = settings.allocator
        self.market = MarketState(self.coins, cadence_ms=cadence_ms, window=cov_window,
                                  liquidity_bps=a.liquidity_bps)
        # made for the universe of a day that carries every configured coin (no compile yet)
        self.allocator = (Allocator(len(settings.coins), a.risk_aversion, a.tether, a.solver,
                                    tuple(settings.coins)) if settings.coins else None)
        self.book = BookState(np.zeros(self.n))
        self.alphas: dict[str, list[AlphaEvent]] = {c: [] for c in self.coins}
        self.seen: set[str] = set()
        self.log: list[dict[str, object]] = []  # alphas the DM could not use, with why
        self.passive = PassiveOdds()  # the Trader's passive odds (the prior until read)
        self._marked = 0

    # -- inputs ---------------------------------------------------------------------------
    def on_row(self, row: Any) -> None:
        coin = row["coin"]
        if coin not in self.carried and coin in self.cfg.coins:
            self._join(str(coin))
        self.market.on_row(row)
        self._mark()

    def _join(self, coin: str) -> None:
        """A configured coin's first row: it joins the problem, flat, its returns so far
        zero (what the market state of a universe holding it from the start keeps)."""
        held = dict(zip(self.coins, self.book.w, strict=True))
        self.carried.add(coin)
        self.coins, self.left_out = universe(self.cfg.coins, self.carried)
        self.n = len(self.coins)
        self.market.widen(self.coins)
        self.book.w = np.array([held.get(c, 0.0) for c in self.coins])
        self.alphas.setdefault(coin, [])  # with the alphas it took before its first row

    def _mark(self) -> None:
        closed = self.market.closed
        new = min(closed - self._marked, self.market.n_returns())
        if new > 0:
            for r in self.market.last(new):
                self.book.equity *= 1.0 + float(self.book.w @ (r / 1e4))
                self.book.peak = max(self.book.peak, self.book.equity)
        self._marked = closed

    def on_alpha(self, a: AlphaEvent, context: PortfolioContext | None = None) -> list[Decision]:
        """Decide on a new alpha; [] for a duplicate or a coin outside the universe.
        `context`: what the Trader holds now (None: the DM's own targets)."""
        if a.alpha_id in self.seen:
            return []
        self.seen.add(a.alpha_id)
        if a.coin not in self.carried:
            if a.coin in self.left_out:  # kept: it counts once the coin's rows arrive (a
                # restart restores its alphas before the market's first rows)
                self.alphas.setdefault(a.coin, []).append(a)
                self._drop_stale((a.coin,), a.ts_ms)  # bounded while the coin never comes
                why = "coin_without_data"
            else:
                why = "coin_not_in_universe"
            self.log.append({"alpha_id": a.alpha_id, "reason": f"{why}_{a.coin}"})
            return []
        now = a.ts_ms
        self.market.settle(now)
        self._mark()
        day = now // DAY_MS
        if self.book.day != day:
            self.book.day, self.book.turnover_used = day, 0.0
        self._expire_ledger(now)
        if context is not None:
            self._take_context(context)
        self.alphas[a.coin].append(a)
        self._drop_stale(tuple(self.alphas), now)
        return self._decide(a, now)

    def _drop_stale(self, coins: Iterable[str], now: int) -> None:
        """Keep only the alphas of `coins` still live at `now`."""
        live = live_ms(self.cfg.fusion)  # is_live, asked once
        for c in coins:
            self.alphas[c] = [x for x in self.alphas[c] if 0 <= now - x.ts_ms <= live]

    def _take_context(self, ctx: PortfolioContext) -> None:
        """w₀, equity, peak and open times from what the Trader holds."""
        self.book.w = np.array([float(ctx.weights.get(c, 0.0)) for c in self.coins])
        self.book.equity, self.book.peak = ctx.equity, max(ctx.peak, ctx.equity)
        self.book.opened_ms = {c: int(t) for c, t in ctx.opened_ms.items() if c in self.coins}
        if ctx.passive is not None:
            self.passive = ctx.passive

    def _expire_ledger(self, now: int) -> None:
        start = now - self.cfg.allocator.turnover_window_s * 1000
        led = self.book.ledger
        while led and led[0][0] <= start:
            self.book.window_used -= led.popleft()[1]
        if not led:
            self.book.window_used = 0.0  # no drift from repeated float subtraction

    def turnover_budget(self, combined: float) -> float:
        """What the trailing window still allows, × the meta-signal multipliers."""
        a = self.cfg.allocator
        per_window = a.turnover_day * a.turnover_window_s / (DAY_MS / 1000)
        return max(0.0, per_window * combined - self.book.window_used)

    def restore_ledger(self, entries: list[tuple[int, float]]) -> None:
        """The turnover ledger as posted decisions recorded it (a restarted live loop)."""
        self.book.ledger = deque(entries)
        self.book.window_used = sum(v for _, v in entries)
        if entries:
            last = entries[-1][0]
            self.book.day = last // DAY_MS
            self.book.turnover_used = sum(v for t, v in entries if t // DAY_MS == self.book.day)
            self._expire_ledger(last)

    def withdraw(self, alpha_id: str) -> bool:
        """ALPHA_WITHDRAWN: drop the alpha from the next decisions (no decision now)."""
        found = False
        for c in self.alphas:  # a coin without rows yet keeps alphas too
            kept = [x for x in self.alphas[c] if x.alpha_id != alpha_id]
            found |= len(kept) != len(self.alphas[c])
            self.alphas[c] = kept
        return found

    # -- the decision round ---------------------------------------------------------------
    def _decide(self, trigger_alpha: AlphaEvent, now: int) -> list[Decision]:
        cfg, a = self.cfg, self.cfg.allocator
        if self.allocator is None or self.allocator.labels != self.coins:
            self.allocator = Allocator(self.n, a.risk_aversion, a.tether, a.solver, self.coins)
        fz = cfg.fusion
        base = [blend(self.alphas[c], self.calib, fz.base_horizon_s, now, fz) for c in self.coins]
        tilt = [blend(self.alphas[c], self.calib, fz.tilt_horizon_s, now, fz) for c in self.coins]
        step_cov = self.market.covariance_bps2(a.cov_method, a.cov_halflife_s * 1000.0
                                               / self.cadence_ms)
        cov = scale_to_horizon(step_cov, self.cadence_ms, fz.base_horizon_s)
        var = np.diag(cov)
        mu_b = np.array([b.mu_bps for b in base]) / 1e4
        mu_t = np.array([b.mu_bps for b in tilt]) / 1e4
        priced = self._prices(mu_b * 1e4, fz.base_horizon_s)
        # funding over the expected holding time (the base horizon): a long's carry
        carry = np.array([p.funding_bps for p in priced]) / 1e4
        dd = self.book.drawdown
        mult = multipliers(trigger_alpha.meta_value("ms_kairos"),
                           trigger_alpha.meta_value("ms_entrain_r"),
                           trigger_alpha.meta_value("ms_asym_score"), cfg.budgets, dd, a)
        log: list[curators.CurationEntry] = []
        cost = np.array([p.round_trip_bps for p in priced]) / 1e4  # entry and exit
        liq = np.zeros(self.n)
        for i, c in enumerate(self.coins):
            q = self.market.quotes.get(c)
            veto = curators.stale(c, q, now, cfg.curators.stale_ms)
            if veto is not None:
                log.append(veto)
            # a coin trades only when its cost can be priced: a quote with spread and depth
            if veto is None and q is not None and math.isfinite(q.spread_bps) \
                    and math.isfinite(q.depth_notional) and q.depth_notional > 0:
                liq[i] = a.liquidity_frac * q.depth_notional / a.equity
        net_b = mu_b - carry  # the objective's μ: the edge net of funding over the horizon
        # Kelly from the signals' edge alone: funding is a cost, not an edge (no edge, no
        # position)
        edge = np.maximum(np.abs(mu_b), np.abs(mu_b + mu_t))
        kelly = a.kelly_fraction * edge / np.maximum(var, 1e-18)
        w0 = self.book.w.copy()
        inp = AllocationInput(
            mu=net_b, cov=cov, w0=w0, cost=cost, liquidity=liq, kelly=kelly,
            asset_cap=np.full(self.n, a.asset_max),
            gross=a.gross_max * drawdown_gross_multiplier(dd, a), leverage=a.leverage_max,
            net=a.net_max,
            turnover=self.turnover_budget(mult.combined),
            risk_target=a.risk_target_bps / 1e4 * mult.combined,
        )
        stuck = self._no_trade_possible(inp, w0)
        res = stuck if stuck is not None else self.allocator.solve(inp)
        stage = "base" if stuck is None else "none"
        if stuck is None and not res.hold and np.any(mu_t != 0.0):
            # the tilt trades the faster alpha too: its execution priced at the combined
            # edge decaying with the tilt's horizon (a fast edge does not wait for a fill)
            priced_tilt = self._prices((mu_b + mu_t) * 1e4, fz.tilt_horizon_s)
            cost_tilt = np.array([p.round_trip_bps for p in priced_tilt]) / 1e4
            tilted = self.allocator.solve(replace(inp, mu=net_b + mu_t, cost=cost_tilt,
                                                  anchor=res.w, anchor_budget=fz.tilt_turnover))
            if not tilted.hold:
                res, stage, priced = tilted, "tilt", priced_tilt
        w = res.w.copy()
        breached = self._breach(w0, inp)
        for i, c in enumerate(self.coins):
            for entry in (curators.risk_breached(c, w0[i], w[i], breached),
                          curators.flip(c, w0[i], w[i], self.book.opened_ms.get(c), now,
                                        fz.base_horizon_s, a.min_trade)):
                if entry is not None:
                    log.append(entry)
                    w[i] = w0[i]
        moved = np.abs(w - w0) >= max(a.min_trade, 1e-12)
        w = np.where(moved, w, w0)
        ticketed = [i for i, c in enumerate(self.coins) if moved[i] or c == trigger_alpha.coin]
        decisions = [self._ticket(i, trigger_alpha, now, w0, w, base, tilt, res, stage, mult,
                                  log, priced[i]) for i in ticketed]
        self._apply(w0, w, now)
        return decisions

    def _prices(self, edge_bps: np.ndarray, half_life_s: float) -> list[Priced]:
        """Each coin's cost now (`lotus_core.costs`) for the execution the Trader's rule
        picks for the coin's edge (`edge_bps`, decaying with `half_life_s`): the venue's
        fee, half the quoted spread, the book walk of the reference trade through the
        displayed depth, a passive fill's adverse selection and wait from the Trader's
        record, and the funding carry over the base horizon. A coin without a quote: the
        fee alone."""
        a = self.cfg.allocator
        hold_ms = self.cfg.fusion.base_horizon_s * 1000
        out = []
        for i, c in enumerate(self.coins):
            q = self.market.quotes.get(c)
            out.append(self.costs.price(
                c, q.spread_bps if q else math.nan, q.depth_notional if q else math.nan,
                a.impact_ref_trade * a.equity, a.liquidity_bps,
                q.funding if q else math.nan, hold_ms, float(edge_bps[i]), self.passive,
                half_life_s * 1000.0))
        return out

    def _breach(self, w0: np.ndarray, inp: AllocationInput) -> str:
        if float(np.abs(w0).sum()) > min(inp.gross, inp.leverage) + 1e-9:
            return "gross"
        if float(np.sqrt(max(w0 @ inp.cov @ w0, 0.0))) > inp.risk_target + 1e-12:
            return "risk_budget"
        return ""

    def _apply(self, w0: np.ndarray, w: np.ndarray, now: int) -> None:
        used = float(np.abs(w - w0).sum())
        self.book.turnover_used += used
        if used > 0:
            self.book.ledger.append((now, used))
            self.book.window_used += used
        for i, c in enumerate(self.coins):
            if abs(w[i]) < self.cfg.allocator.min_trade:
                self.book.opened_ms.pop(c, None)
            elif abs(w0[i]) < self.cfg.allocator.min_trade or np.sign(w[i]) != np.sign(w0[i]):
                self.book.opened_ms[c] = now
        self.book.w = w

    def _ticket(self, i: int, alpha: AlphaEvent, now: int, w0: np.ndarray, w: np.ndarray,
                base: list[Blend], tilt: list[Blend], res: Allocation, stage: str,
                mult: Multipliers, log: list[curators.CurationEntry],
                priced: Priced) -> Decision:
        cfg, a = self.cfg, self.cfg.allocator
        coin = self.coins[i]
        target = round(float(w[i]), 8)
        delta = float(w[i] - w0[i])
        action = "trade" if abs(delta) >= a.min_trade else "hold"
        band = max(a.min_trade, 0.25 * abs(delta))
        lo = max(-a.asset_max, target - band)
        hi = min(a.asset_max, target + band)
        b, t = base[i], tilt[i]
        # what the DM believed: the calibrated edge of the stage it solved, the cost priced
        edge_bps = b.mu_bps + (t.mu_bps if stage == "tilt" else 0.0)
        weights = {f"{k}@{b.horizon_s}s": v for k, v in b.weights}
        weights.update({f"{k}@{t.horizon_s}s": v for k, v in t.weights})
        top = [k for k, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))][:20]
        p_up = b.p_up
        mine = [e for e in log if e.coin == coin]
        nudge = curators.disagreement(coin, self._opposed(b), cfg.curators.kappa)
        if nudge is not None:
            mine.append(nudge)
        logsum = max(-1.0, min(1.0, sum(e.value for e in mine if e.kind == "nudge")))
        p_dir = p_up if target >= 0 else 1.0 - p_up
        confidence = min(1.0, max(0.0, p_dir * math.exp(logsum)))
        vetoes = sorted({f"{e.curator}:{e.reason}"[:80] for e in mine if e.kind == "veto"})
        decision_id = f"dm-{alpha.alpha_id}-{coin}"
        refs = {
            "action": action, "stage": stage, "w0": repr(round(float(w0[i]), 8)),
            "expected_cost_bps": repr(round(res.expected_cost * 1e4, 6)),
            "turnover": repr(round(res.turnover, 8)),
            "turnover_used_day": repr(round(self.book.turnover_used
                                            + float(np.abs(w - w0).sum()), 8)),
            "turnover_used_window": repr(round(self.book.window_used
                                               + float(np.abs(w - w0).sum()), 8)),
            "solver_status": res.solver_status, "solve_ms": repr(round(res.solve_ms, 3)),
            "objective": repr(round(res.objective, 12)) if math.isfinite(res.objective)
            else "nan",
            "alpha_ref": alpha.alpha_id,
            "mu_base_bps": repr(round(b.mu_bps, 6)), "mu_tilt_bps": repr(round(t.mu_bps, 6)),
            "drawdown": repr(round(self.book.drawdown, 8)),
            "edge_bps": repr(round(edge_bps, 6)),
            **priced.refs(),
        }
        if res.reason:
            refs["hold_reason"] = res.reason[:400]
        if b.merged:
            refs["merged"] = ";".join(f"{k}->{lead}" for k, lead in b.merged)[:400]
        ticket: dict[str, Any] = {
            "schema_ver": SCHEMA_VER,
            "decision_id": decision_id,
            "asof_ts": ms_to_iso(now),
            "portfolio_id": cfg.portfolio_id,
            "target_type": "weights",
            "targets": {coin: target},
            "bounds": {coin: {"min": round(lo, 8), "max": round(hi, 8)}},
            "horizon": f"{cfg.fusion.base_horizon_s}s",
            "confidence": round(confidence, 8),
            "valid_until": ms_to_iso(now + cfg.fusion.base_horizon_s * 1000),
            "multipliers": mult.as_ticket(),
            "rationale": {
                "top_alphas": top,
                "blend_weights": {k: round(v, 10) for k, v in weights.items()},
                "risk_binding": list(res.binding),
                "meta_signals_used": [f"{k}={round(v, 6)}" for k, v in alpha.meta
                                      if math.isfinite(v)],
            },
            "audit_refs": refs,
            "curation": {"vetoes": vetoes, "nudges_logsum": round(logsum, 9)},
            "notes": self._notes(action, res, delta, edge_bps, priced, coin),
        }
        trig = self._trigger(alpha, coin, w0[i], target)
        if trig is not None:
            ticket["dm_trigger"] = trig
        text = ticket_json(ticket)
        return Decision(decision_id, now, coin, alpha.alpha_id, action, float(w0[i]), target,
                        ticket, text, text_digest(text),
                        tuple({**e.as_dict(), "decision_id": decision_id} for e in mine),
                        res.binding, res.turnover, res.solve_ms, round(edge_bps, 6),
                        round(priced.total_bps, 6), priced.execution)

    def _opposed(self, b: Blend) -> float:
        """Share of the blend's weight from alphas pointing against its sign."""
        if not b.weights or b.mu_bps == 0:
            return 0.0
        sign = 1 if b.mu_bps > 0 else -1
        dirs = {f"{x.detector_id}@{x.coin}:{x.alpha_id}": x.direction
                for c in self.coins for x in self.alphas[c]}
        total = sum(w for _, w in b.weights)
        if total <= 0:
            return 0.0
        return sum(w for k, w in b.weights if dirs.get(k, sign) != sign) / total

    def _no_trade_possible(self, inp: AllocationInput, w0: np.ndarray) -> Allocation | None:
        """No turnover left today, or no coin may trade (all stale or without depth): the
        only allocation is w₀, so the solves are skipped (same answer, none of the cost)."""
        min_trade = self.cfg.allocator.min_trade
        if inp.turnover < min_trade:
            binding, reason = ("turnover",), "no turnover budget left in the trailing window"
        elif not np.any(inp.liquidity >= min_trade):
            binding, reason = ("liquidity_cap",), "no coin can trade (stale data or no depth)"
        else:
            return None
        return Allocation("skipped", w0.copy(), binding, float("nan"), 0.0, 0.0, float("nan"),
                          0.0, "skipped", reason)

    def _notes(self, action: str, res: Allocation, delta: float, edge_bps: float,
               priced: Priced, coin: str) -> str:
        """Why the ticket trades or holds, in numbers: the edge and the cost it saw, and
        the limits binding on this coin (its own caps and the book's budgets)."""
        if res.hold or res.status == "skipped":
            return f"hold: {res.reason}"[:4000]
        seen = (f"edge {edge_bps:+.2f} bps, cost {priced.round_trip_bps:.2f} bps in and out "
                f"({priced.total_bps:.2f} {'in' if priced.execution == 'maker' else 'a side'}, "
                f"{priced.execution} on {priced.venue}: fee "
                f"{priced.fee_bps:.2f} + half spread {priced.half_spread_bps:.2f} + impact "
                f"{priced.impact_bps:.2f}")
        if priced.execution == "maker":
            seen += (f" + adverse selection {priced.adverse_bps:.2f} + wait "
                     f"{priced.wait_bps:.2f}, fill probability {priced.fill_prob:.2f}")
        seen += ")"
        caps = [b for b in res.binding if ":" not in b or b.endswith(f":{coin}")]
        if caps:
            seen += f"; binding {', '.join(caps)}"
        if action == "hold":
            return ("hold: the optimum moves this coin by less than min_trade (edge below "
                    f"the round-trip cost, or a limit); {seen}")[:4000]
        return f"{'buy' if delta > 0 else 'sell'} {abs(delta):.6f} of equity; {seen}"[:4000]

    def _trigger(self, alpha: AlphaEvent, coin: str, w0: float,
                 target: float) -> dict[str, Any] | None:
        """Breakout detectors suggest a conditional entry: the Trader waits for the
        breakout in the signal's direction and a retest of the broken level."""
        entering = abs(target) > abs(w0) + self.cfg.allocator.min_trade
        if coin != alpha.coin or not entering or not alpha.detector_id.startswith("breakout"):
            return None
        side = "up" if target > 0 else "down"
        expr = parse_trigger(f"breakout(20, 2σ, {side}) AND retest(broken, 0.15%) "
                             f"WITHIN {self.cfg.fusion.base_horizon_s}s")
        return {"dsl_ver": DSL_VERSION, "expr": print_trigger(expr),
                "preconditions": [f"spread_bps<{10}"]}

    # -- reporting ------------------------------------------------------------------------
    def gross(self) -> float:
        return float(np.abs(self.book.w).sum())

    def net(self) -> float:
        return float(self.book.w.sum())
