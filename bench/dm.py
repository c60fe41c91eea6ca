# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""The Decision-Maker: allocator solve time for 3, 20 and 100 assets — the compiled (DPP)
problem re-solved warm, a cold cvxpy build-and-solve, and cvxportfolio's single-period
optimisation (SinglePeriodOptimization.execute) on the same problem — in one run; and a
day of DM decisions over a 24-hour 3-coin day. The agreement with cvxportfolio is
bench/dm_allocator.py.

Usage: python -m bench dm [--quick]
       python -m bench dm_allocator --problems 100
Needs cvxportfolio (pip install -e ".[bench]").
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

from bench.report import headline, write_section
from lotus_core.dm.allocator import BIG, Allocation, AllocationInput, Allocator
from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.replay import replay
from tests.kits.dm_kit import DAY0_MS, alpha_stream, planted_training, tape_rows

LAM = 5.0


def _problem(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 3))
    cov = (f @ np.diag([4.0, 2.0, 1.0]) @ f.T + np.diag(rng.uniform(1, 3, n))) * 2e-5
    return {"mu": rng.normal(0, 2e-3, n), "cov": cov, "cost": rng.uniform(1e-4, 5e-4, n),
            "w0": rng.normal(0, 0.3 / n, n), "cap": 0.5 if n == 3 else 0.1, "lev": 1.0,
            "turn": 0.6, "risk": 0.02}


def _mine(p: dict, n: int, opts: dict | None = None,
          alloc: Allocator | None = None) -> tuple[Allocator, Allocation]:
    a = alloc or Allocator(n, LAM, 0.0, solver_opts=opts)
    r = a.solve(AllocationInput(
        mu=p["mu"], cov=p["cov"], w0=p["w0"], cost=p["cost"], liquidity=np.full(n, BIG),
        kelly=np.full(n, BIG), asset_cap=np.full(n, p["cap"]), gross=BIG, leverage=p["lev"],
        net=BIG, turnover=p["turn"], risk_target=p["risk"]))
    return a, r


def _cvxportfolio(p: dict, n: int, opts: dict | None = None) -> np.ndarray:
    import cvxportfolio as cvx

    assets = [f"A{i}" for i in range(n)]
    idx = [*assets, "USDOLLAR"]
    sigma = pd.DataFrame(p["cov"], index=assets, columns=assets)
    pol = cvx.SinglePeriodOptimization(
        cvx.ReturnsForecast(r_hat=pd.Series(np.append(p["mu"], 0.0), index=idx))
        - LAM * cvx.FullCovariance(Sigma=sigma)
        - cvx.TransactionCost(a=pd.Series(p["cost"], index=assets), b=None),
        [cvx.LeverageLimit(p["lev"]), cvx.MaxWeights(p["cap"]), cvx.MinWeights(-p["cap"]),
         cvx.TurnoverLimit(p["turn"] / 2),  # cvxportfolio's turnover is ½‖z‖₁
         cvx.FullCovariance(Sigma=sigma) <= p["risk"] ** 2],
        solver="CLARABEL", include_cash_return=False, **(opts or {}))
    h = pd.Series(np.append(p["w0"], 1 - p["w0"].sum()), index=idx) * 1e6
    u, _, _ = pol.execute(h, None, t=pd.Timestamp("2026-01-02", tz="UTC"))
    return ((h + u) / h.sum()).to_numpy()[:-1]


def _pct(xs: list[float]) -> tuple[float, float]:
    return float(np.percentile(xs, 50)), float(np.percentile(xs, 99))


def solve_times(n: int, warm_reps: int, cold_reps: int) -> dict:
    base = _problem(n, 100 + n)
    alloc, _ = _mine(base, n)
    warm, warm_cpu = [], []
    for i in range(warm_reps):
        p = {**base, "mu": np.random.default_rng(i).normal(0, 2e-3, n)}
        t, c = time.perf_counter(), time.process_time()
        _mine(p, n, alloc=alloc)
        warm.append((time.perf_counter() - t) * 1e3)
        warm_cpu.append((time.process_time() - c) * 1e3)
    cold, peer = [], []
    for _ in range(cold_reps):
        t = time.perf_counter()
        _mine(base, n)
        cold.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        _cvxportfolio(base, n)
        peer.append((time.perf_counter() - t) * 1e3)
    return {"warm": _pct(warm), "warm_cpu": _pct(warm_cpu), "cold": _pct(cold),
            "peer": _pct(peer),
            "reps": (warm_reps, cold_reps)}


def day_of_decisions(n_alphas: int, dm: dict | None = None) -> dict:
    cfg = load_dm_settings(dm or {})
    dets = ("breakout_retest_v1", "mean_reversion_z_v1", "sweep_flow_v1", "flow_pressure_v1")
    train = pd.concat([planted_training(d, 2000, 20.0, i) for i, d in enumerate(dets)])
    cal = Calibration(fit_calibration(train, cfg.calibration, "w"), cfg.calibration)
    rows = tape_rows(seconds=86_400)
    alphas = alpha_stream(cfg.coins, dets, n_alphas, start_ms=DAY0_MS + 120_000,
                          span_ms=86_000_000)
    engine = DmEngine(cfg, cal)
    solves: list[float] = []
    inner = engine.allocator.solve

    def timed(inp: AllocationInput) -> Allocation:  # every allocator call (base and tilt), wall-clock
        t0 = time.perf_counter()
        out = inner(inp)
        solves.append(time.perf_counter() - t0)
        return out

    engine.allocator.solve = timed  # type: ignore[method-assign]
    t, c = time.perf_counter(), time.process_time()
    res = replay(engine, rows, alphas)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    trades = sum(d.action == "trade" for d in res.decisions)
    hours = {(d.ts_ms - DAY0_MS) // 3_600_000 for d in res.decisions if d.action == "trade"}
    return {"wall": wall, "cpu": cpu, "rows": len(rows), "alphas": len(alphas),
            "decisions": len(res.decisions), "trades": trades, "trade_hours": len(hours),
            "solve_sum_s": sum(solves), "solves": len(solves)}


def joint_fixture_day(n_alphas: int = 175) -> dict:
    """The nightly kernel on a recorded day: the 2-hour fixture recording 2026-01-02 (3
    coins), its MicroTape, n alphas (the 24-hour day's rate), the DM alone vs the DM and the
    paper Trader stepped together (`lotus_core.dm.joint.joint_day`)."""
    from pathlib import Path

    from lotus_core.dm.joint import joint_result
    from lotus_core.feed.parse import parse_recording
    from lotus_core.microtape import MicroTapeParams, build_microtape
    from lotus_core.trader.config import trader_settings
    from lotus_core.trader.engine import TraderEngine
    from lotus_core.trader.plan import ts_ms

    cfg = load_dm_settings({})
    dets = ("breakout_retest_v1", "mean_reversion_z_v1", "sweep_flow_v1", "flow_pressure_v1")
    train = pd.concat([planted_training(d, 2000, 20.0, i) for i, d in enumerate(dets)])
    cal = Calibration(fit_calibration(train, cfg.calibration, "w"), cfg.calibration)
    day = "2026-01-02"
    feed = parse_recording(Path(__file__).resolve().parents[1] / "fixtures" / f"{day}.jsonl.gz",
                           day)
    rows = build_microtape(feed, MicroTapeParams())
    alphas = alpha_stream(cfg.coins, dets, n_alphas, start_ms=ts_ms(f"{day}T12:02:00Z"),
                          span_ms=7_000_000)
    t, c = time.perf_counter(), time.process_time()
    alone = replay(DmEngine(cfg, cal), rows, alphas)
    alone_s = (time.perf_counter() - t, time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    res = joint_result(DmEngine(cfg, cal), TraderEngine(trader_settings({})), feed, rows, alphas)
    joint_s = (time.perf_counter() - t, time.process_time() - c)
    return {"alphas": len(alphas), "rows": len(rows), "events": res.events,
            "alone": alone_s, "joint": joint_s, "decisions": len(res.decisions),
            "trades": sum(d.action == "trade" for d in res.decisions),
            "fills": sum(o.kind == "fill" for o in res.outputs),
            "alone_trades": sum(d.action == "trade" for d in alone.decisions)}


def _verdict(seconds: float, goal: float) -> str:
    return f"met ({seconds:.1f} s)" if seconds < goal else f"not met ({seconds:.1f} s)"


def _load_note(load: float, load_end: float) -> str:
    """Says how busy the 2-core machine was, so a reader knows how far wall time is from idle."""
    busy = max(load, load_end) > 1.5
    return (f"1-minute load average {load:.1f} at the start and {load_end:.1f} at the end of "
            "this run: " + ("a busy machine, so wall-clock figures are inflated; the CPU-time "
            "columns (`time.process_time`, this process only) approximate an idle machine and "
            "the ratios between columns, measured in the same run, are the meaningful part."
            if busy else "a quiet machine (nothing else running), so wall-clock figures are "
            "what this hardware gives."))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--allocator-vs-cvxportfolio", action="store_true",
                    help="only the allocator-vs-cvxportfolio agreement (bench/dm_allocator.py), "
                    "written to its own BENCHMARKS.md block")
    ap.add_argument("--problems", type=int, default=100,
                    help="problems per size for --allocator-vs-cvxportfolio")
    args = ap.parse_args()
    if args.allocator_vs_cvxportfolio:
        from bench.dm_allocator import main as agreement_main

        agreement_main(args.problems)
        return
    warnings.filterwarnings("ignore")
    load = os.getloadavg()[0]
    reps = {3: (200, 20), 20: (200, 20), 100: (40, 5)}
    if args.quick:
        reps = {3: (40, 5), 20: (40, 5), 100: (10, 2)}
    times = {}
    for n, (w, c) in reps.items():
        times[n] = solve_times(n, w, c)
        print(n, times[n], flush=True)
    day = day_of_decisions(2100)
    print(day, flush=True)
    # the same day with a turnover budget that never runs out: every decision solves twice
    busy = day_of_decisions(2100, {"allocator": {"turnover_day": 1000.0}})
    print(busy, flush=True)
    joint = joint_fixture_day()
    print(joint, flush=True)
    load_end = os.getloadavg()[0]
    lines = [
        "## Decision-Maker", "",
        "Allocator solve time (ms, p50 / p99) on the same problem for each size: maximise "
        "μᵀw − λwᵀΣw − cᵀ|w − w₀| under leverage, per-asset, turnover and risk limits "
        "(random factor covariance, random μ, w₀ and costs). **warm**: the one compiled "
        "DPP problem of `lotus_core.dm.allocator.Allocator` re-solved with new parameters "
        "(what the DM does per decision); **cold**: build the cvxpy problem, compile and "
        "solve; **cvxportfolio 1.5.1**: `SinglePeriodOptimization.execute` with the same "
        "objective and constraints (it rebuilds its problem per call). Solver: Clarabel for all.",
        "",
        "| assets | warm p50 / p99 | warm, CPU time p50 / p99 | cold cvxpy p50 / p99 | cvxportfolio p50 / p99 | repetitions (warm, cold) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, t in times.items():
        lines.append(f"| {n} | {t['warm'][0]:.1f} / {t['warm'][1]:.1f} | "
                     f"{t['warm_cpu'][0]:.1f} / {t['warm_cpu'][1]:.1f} | {t['cold'][0]:.1f} / "
                     f"{t['cold'][1]:.1f} | {t['peer'][0]:.1f} / {t['peer'][1]:.1f} | "
                     f"{t['reps'][0]}, {t['reps'][1]} |")
    lines += [
        "", "Agreement of the allocator with cvxportfolio on the same problem (every "
        "constraint binding somewhere, the tether at its default, tight and production "
        "tolerances): the next section, `python -m bench dm_allocator`.",
        "", f"A day of decisions: a generated 24-hour, 3-coin MicroTape ({day['rows']:,} rows) "
        f"and {day['alphas']:,} published alphas (about the live count of the signal bench's "
        "24-hour day), replayed through `DmEngine` (fusion, Ledoit–Wolf covariance, two "
        f"allocator solves per decision: base and tilt, curators, tickets): "
        f"**{day['wall']:.1f} s** wall ({day['cpu']:.1f} s of CPU time) for {day['decisions']:,} tickets ({day['trades']:,} "
        f"trades), of which {day['solve_sum_s']:.1f} s in {day['solves']:,} allocator solves. "
        "With the default policy the turnover budget is paced (6.0 of equity per day, at most "
        "0.25 in any trailing hour, × multipliers): trades spread over "
        f"{day['trade_hours']} of the 24 hours, and a decision whose window is spent holds "
        "without solving. The DM alone here (positions = its own targets): the nightly asset "
        "also steps the paper Trader (`lotus_core.dm.joint`), whose replay cost is the Trader "
        "section's. The same day "
        "with a turnover budget that never runs out (every decision solves, base and tilt): "
        f"**{busy['wall']:.1f} s** wall ({busy['cpu']:.1f} s CPU), {busy['solve_sum_s']:.1f} s "
        f"in {busy['solves']:,} solves, {busy['trades']:,} trades. Goal: < 10 s for the day "
        f"with the default policy: {_verdict(day['wall'], 10.0)} in wall clock, "
        f"{_verdict(day['cpu'], 10.0)} in CPU time; with every decision solving "
        f"{_verdict(busy['wall'], 10.0)} in wall clock, {_verdict(busy['cpu'], 10.0)} in CPU "
        "time (a warm solve hands Clarabel cvxpy's compiled data directly: "
        "`lotus_core.dm.direct`).", "",
        "The nightly kernel on a recorded day (`dm_decisions` runs the DM and the paper Trader "
        "together): the 2-hour, 3-coin fixture recording 2026-01-02 "
        f"({joint['events']['book'] + joint['events']['trade'] + joint['events']['ctx']:,} book, trade and context events, {joint['rows']:,} MicroTape "
        f"rows) and {joint['alphas']} alphas (the 24-hour day's rate). DM alone: "
        f"{joint['alone'][0]:.1f} s wall ({joint['alone'][1]:.1f} s CPU), "
        f"{joint['alone_trades']} trades; DM and Trader in one stream (`lotus_core.dm.joint`): "
        f"{joint['joint'][0]:.1f} s wall ({joint['joint'][1]:.1f} s CPU), "
        f"{joint['decisions']} tickets, {joint['trades']} trades, {joint['fills']} fills.", "",
        _load_note(load, load_end),
    ]
    write_section("dm", "\n".join(lines))
    sizes = list(times)
    headline("dm", "warm solve p50 " + " / ".join(f"{times[n]['warm'][0]:.1f}" for n in sizes)
             + f" ms at {' / '.join(map(str, sizes))} assets (cvxportfolio "
             + " / ".join(f"{times[n]['peer'][0]:.1f}" for n in sizes)
             + f" ms); a day of decisions {day['wall']:.1f} s",
             "p99 " + " / ".join(f"{times[n]['warm'][1]:.1f}" for n in sizes) + " ms over "
             + " / ".join(str(times[n]['reps'][0]) for n in sizes) + " solves")


if __name__ == "__main__":
    main()
