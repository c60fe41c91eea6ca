"""The benchmarks a user runs (`python -m bench NAME`), each with what it is measured against.

Every entry is a module `bench.<module>` with a `main()` run as `python -m bench.<module>`
(plus the entry's own `args`). `python -m bench --list` prints them; `make bench` runs the
entries marked `quick`. The headline of each run goes to bench/results/headline.jsonl
(`bench.report.headline`), and `python -m bench report` renders the summary table of
BENCHMARKS.md from there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Benchmark:
    name: str                      # `python -m bench NAME`, and the headline record's key
    title: str                     # the summary table's row
    against: str                   # the peer or the physical limit it is measured against
    goal: str                      # what counts as good enough; "none set" when there is none
    module: str = ""               # bench.<module> (default: the name)
    args: tuple[str, ...] = ()     # passed before the user's own arguments
    quick: bool = False            # in `make bench` (`python -m bench.run`)

    @property
    def module_name(self) -> str:
        return self.module or self.name


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("microtape", "MicroTape build, 24 h x 3 coins",
              "the floor: gunzip + JSON parse of the same recording", "≥ 30 % of the floor's "
              "rate; peak < 2 GB", quick=True),
    Benchmark("signals", "Signal layer on one 24 h x 3-coin day",
              "the 60 s budget for a day (no peer)", "< 60 s a day", quick=True),
    Benchmark("router", "Herald router throughput",
              "the floor: ed25519 verify alone on every core",
              "10,000/s on SQLite, 5,000/s on PostgreSQL", quick=True),
    Benchmark("lessons", "Lessons stage, 1,000,000 windows",
              "econml DRLearner fitted per rule on the same windows", "< 60 s; estimates "
              "inside each other's CIs", quick=True),
    Benchmark("dm", "Decision-Maker: allocator solve and a day of decisions",
              "a cold cvxpy build and cvxportfolio's SinglePeriodOptimization",
              "< 10 s for a day of decisions", quick=True),
    Benchmark("dm_allocator", "Allocator solutions vs cvxportfolio",
              "cvxportfolio 1.5.1 (plain cvxpy where it cannot express a constraint)",
              "the same weights and binding sets at tight tolerances", module="dm",
              args=("--allocator-vs-cvxportfolio",)),
    Benchmark("trader", "Paper Trader, one 24 h day",
              "hftbacktest 2.4.4 on the same orders and book data",
              "the day < 30 s; events/s within 2x of hftbacktest", quick=True),
    Benchmark("trader_busy", "Paper Trader on busy books, 3 days",
              "hftbacktest 2.4.4 on the same orders and book data",
              "within 2x of hftbacktest's time; every fill difference explained"),
    Benchmark("live", "Live path: a 24 h day replayed at max speed",
              "the floor: gunzip + JSON parse of the same recording",
              "the day < 60 s and ≤ 5x the floor; tick -> scored p99 < 5 ms; < 1 GB"),
    Benchmark("batch_floor", "The live stages in their nightly batch form",
              "the floor: gunzip + JSON parse of the same recording",
              "none set (the lower bound for the live path)"),
    Benchmark("live_coins", "Live daemon at 3 / 10 / 30 coins",
              "real time: the share of one core the score process needs at 1x",
              "tick -> scored p99 < 5 ms"),
    Benchmark("parity_coins", "Live engine CPU per coin-hour, 3 to 100 coins",
              "flat cost per coin (the 3-coin figure)", "none set"),
    Benchmark("bus", "Signal Bus publish-to-subscriber latency",
              "the floor: a bare websockets broadcast on loopback", "none set"),
    Benchmark("scale", "Nightly chain at 3 / 10 / 30 coins x 24 h",
              "per-coin growth; the executors against in-process",
              "a 10-coin 24 h day < 5 min"),
    Benchmark("coin_shards", "Nightly chain with feed.coin_shards",
              "the same day with coin_shards: 1 (same bytes out)", "lower peak memory"),
    Benchmark("step_alone", "Per-step peak memory, 3 to 100 coins",
              "the same step on the 3-coin day (flat in the coins)",
              "every step within 10 % and < 2 GB at 100 coins"),
    Benchmark("learning_memory", "Learning steps' peak memory, 24,000 to 800,000 windows",
              "the same step on a 3-coin window (24,000 windows)", "within 10 %"),
    Benchmark("backfill", "A 30-day backfill through `dg launch`",
              "the slope while the 14-day windows fill", "flat once they are full"),
    Benchmark("closed_loop", "The closed loop through the real pipeline",
              "each market's null twin (nothing planted)",
              "planted lesson learned; none in the null twin", quick=True),
    Benchmark("pnl_after_learning", "Paper P&L with the newest priors",
              "the previous priors; the null twin", "none set (does learning pay?)"),
    Benchmark("economics", "A season's paper P&L net of every cost, learning on and frozen",
              "the null twin; the same season with learning frozen after night 1",
              "planted season net > 0 and on - frozen > 0 (95 % CIs clear of 0); null net "
              "≥ -0.05 % of equity, late turnover < 1/10 of planted's, on - frozen CI holds 0"),
    Benchmark("economics_size", "What planted effect a season needs to pay net of every cost",
              "the same planted season at the generator's default effect (8 bps)",
              "none set (the size from which the planted season's net CI is clear of 0)"),
    Benchmark("passive", "What a resting entry costs against a market order",
              "market orders on the same tickets; the execution rule's prior (fill "
              "probability 0.3, adverse selection 3 bps)",
              "none set (measures the figures the rule prices)"),
    Benchmark("validity", "Learner validity on planted truth",
              "the planted truth; null markets", "90 % coverage; ≥ 90 % power at 8 bps; "
              "no false activations"),
    Benchmark("seasons", "Evidence across nights",
              "null seasons; today's per-night rule", "≤ 5 % of null seasons activate"),
    Benchmark("pooled", "Pooled lessons: a market-wide interaction",
              "each detector's own search; the null twin", "found by name; null twin quiet"),
    Benchmark("breeding", "Breeding: the planted edge",
              "the null twin; leaky transforms", "edge captured; null quiet; no leak"),
    Benchmark("governance", "Compute governance",
              "uniform allocation at equal compute", "fewer nights to find the edge"),
    Benchmark("learning_sample", "The learning window's hash sample",
              "learning from every window; the null twin",
              "the planted rule found at rates 0.5 and 0.25"),
    Benchmark("context_timescale", "Funding context on its own timescale (flow market)",
              "funding ranked inside the grid's trailing 4 h on the same MicroTape days",
              "the planted funding hours told apart (AUC near 1) on the coin's own days"),
    Benchmark("vis", "Vision: reading rendered charts (sealed seeds)",
              "the series, labels and patterns the charts were drawn from",
              "close error < 1 px of the panel; symbol ≥ 95 %; every flag's precision ≥ 80 %"),
)

TOOLS: dict[str, str] = {
    "step_memory": "per-step tables of bench.scale result files, side by side",
    "replicate_coins": "a many-coin lake copied from a few-coin one (for step_alone)",
    "paper_pnl": "a lake's paper P&L split into trading, fees and funding (after `make run`)",
    "trader_identical": "paper tables saved before a Trader change and compared after it",
    "lake_identical": "every lake partition's hash saved before a change and compared after it",
    "relearn": "the lessons re-run night by night over a lake with another learning.yaml",
    "hetero": "the continuous heterogeneity search's planted pair found by name, and nulls",
    "kernels": "the live path's compiled kernels: first-run compile and cached load seconds",
    "vis_lessons": "the chart lessons' planted kinds of chart found by name, and nulls",
}
"""Runnable with `python -m bench NAME` too, but not benchmarks: no peer, no headline."""

BY_NAME = {b.name: b for b in BENCHMARKS}


def get(name: str) -> Benchmark | None:
    return BY_NAME.get(name)
