"""The Decision-Maker, nightly: `dm_calibration` and `dm_decisions` (docs/dm.md).

Thin: read the lake, call `lotus_core.dm`, report metadata. The `dm:` and `trader:` settings
come from the `settings` resource (the code location's one Settings), never from a file.

- dm_calibration (day D): score → (μ, σ, hit probability) per detector and horizon, fitted
  on `signal_events` ⋈ `signal_eval` of the `calibration.train_days` days before D only
  (with the midnight-crossing horizons that `signal_eval_late` of those days completed).
- dm_decisions and paper_trades (day D), one multi-asset, one replay
  (`lotus_core.dm.joint.joint_day`): D's recording, MicroTape and published signals in one
  time-ordered stream; each decision starts from the positions, equity and drawdown the
  Trader holds after its fills, and its tickets go to the Trader as they would live. The
  Trader runs once a night, inside that replay, and `paper_trades` is its table. It starts
  from `paper_trades`(D-1)'s final state: a declared input of the asset's own previous day
  (a self-dependency, visible in lineage; two assets reading each other would be a cycle).
  The stored tickets replayed alone give the same fills (tests/core/dm/test_dm_joint.py).
  The day is streamed coin-merged, a 15-minute chunk of every coin at a time (the market
  tables from the coin shards or the cached parse, the MicroTape sorted from its Parquet
  partition by DuckDB): the same bytes as the day held whole
  (tests/core/trader/test_day_stream.py, docs/scale.md).
  Without a recording for D, the DM alone (its own targets filled at mid), said in the
  metadata, and no paper_trades partition.
- Costs: one model (`lotus_core.costs`) from the `trader:` settings: the DM prices its
  trades with the fee schedule and book the Trader fills on; both outputs show priced
  against paid per coin (`priced_vs_paid`).
- The DM's universe on D: the configured `dm.coins` that D's MicroTape carries, each from
  its first row (the engine's rule, the live loop's too); the others are left out of the
  problem, named once (`coins_left_out`, and a log line).
"""


import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from lotus_assets.metadata import (
    STORY_COLUMNS,
    dm_story,
    numeric,
    paper_story,
    rounded,
    table_of,
)
from lotus_assets.partitions import coin_day_in, daily_partitions, history_in, lake_window_in
from lotus_assets.vis import VIS_TABLES
from lotus_core.costs import COST_TABLE, CostModel
from lotus_core.dm.alpha import PublishedAlphas
from lotus_core.dm.calibration import (
    Calibration,
    fit_calibration,
    training_frame,
)
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.engine import universe as universe_of
from lotus_core.dm.joint import joint_day
from lotus_core.dm.joint_tables import (
    DecisionTally,
    JointTables,
    cost_table,
    tally_of,
    ticket_notes,
)
from lotus_core.dm.replay import TAPE_COLUMNS, decisions_frame, replay
from lotus_core.dm.training_window import read_training
from lotus_core.dm.vis_source import vis_alphas, vis_training_frame, with_training, with_vis
from lotus_core.feed.recordings import MissingRecordingError, require_recording
from lotus_core.feed.shard_store import ShardStore
from lotus_core.feed.shards import by_coin_group
from lotus_core.store.by_coin import CoinDay, CoinDays, InOrder
from lotus_core.store.lake import Lake, ObjectLake
from lotus_core.time import previous_day
from lotus_core.trader.day_chunks import DayChunk, chunk_ms_for, day_chunks
from lotus_core.trader.day_sources import spill_shards, tape_in_order, with_rows
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.learning import load_exec_learning
from lotus_core.trader.nightly import EXECUTION_REPORT, carried_state
from lotus_core.trader.priors import tr_priors as tr_priors_for
from lotus_core.vis.source import DETECTOR, sources
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource

TRAIN_DAYS = 7  # the history window the asset loads; settings may use fewer


def lake_input(window: dg.AssetIn) -> dg.AssetIn:
    """A lake window read by the lake IO manager whoever makes the table: the chart tables
    (`VIS_TABLES`) are not made by the chain, so no output of the chain names their IO
    manager."""
    return dg.AssetIn(window.key, metadata=window.metadata,
                      partition_mapping=window.partition_mapping, input_manager_key="lake_io")


def _window(day: str, days: int) -> str:
    d = date.fromisoformat(day)
    return f"{d - timedelta(days=days)}..{d - timedelta(days=1)}"


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="dm",
    kinds={"parquet", "pandas"},
    # earlier days + D: nothing read until the step reads the earlier days' columns whole
    # and D's detectors a slice at a time
    ins={"events": lake_window_in("signal_events_days", -TRAIN_DAYS, 0, by_coin=True,
                                 reads="signal_events"),
         "evals": history_in("signal_eval_days", TRAIN_DAYS, by_coin=True, reads="signal_eval"),
         # midnight-crossing horizons completed by a later day's tape: late(k) completes
         # k - 1 from k's tape, so earlier days only (late(D) would read day D's outcomes)
         "late": history_in("signal_eval_late", TRAIN_DAYS, by_coin=True),
         # the charts as a source (detector `vis`): their strands (D too, naming the source)
         # and their realised outcomes of the earlier days; missing days are none
         "vis_strands": lake_input(lake_window_in("vis_strands", -TRAIN_DAYS, 0)),
         "vis_eval": lake_input(history_in("vis_eval", TRAIN_DAYS))},
    description="Per detector and horizon: a monotone (isotonic) map from curated_sigma to "
    "expected signed return mu (bps), sigma and hit probability, pooled across coins with "
    "shrunk per-coin offsets, reliability from out-of-fold calibration; fitted on earlier "
    "days only. Too little history: the conservative prior (mu = 0). The submitted charts "
    "are one more source, detector `vis` (score: the reading's confidence; outcome: "
    "vis_eval's return signed by the direction its pattern flags state).",
)
def dm_calibration(context: dg.AssetExecutionContext, settings: SettingsResource,
                   events: CoinDays, evals: CoinDays,
                   late: CoinDays, vis_strands: pd.DataFrame,
                   vis_eval: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    cfg = settings.get().dm
    day = context.partition_key
    days = min(cfg.calibration.train_days, TRAIN_DAYS)
    first = str(date.fromisoformat(day) - timedelta(days=days))

    def training(w: CoinDays) -> list[CoinDay]:
        # the day itself never trains its own calibration: its events name the detectors only
        return [d for d in w.days if first <= d.day < day]

    window = read_training(training(events), training(evals), training(late),
                           cfg.calibration.horizons_s, cfg.calibration.max_windows)
    if len(window.events) and len(window.evals):
        train = training_frame(window.events, window.evals)
    else:
        train = training_frame(pd.DataFrame({"window_id": pd.Series([], dtype="str"),
                                             "curated_sigma": pd.Series([], dtype="float64")}),
                               _empty_eval())
    charts = (vis_strands[(vis_strands["date"] >= first) & (vis_strands["date"] < day)]
              if len(vis_strands) else vis_strands)
    vis_train = vis_training_frame(charts, vis_eval[vis_eval["date"] >= first]
                                   if len(vis_eval) else vis_eval)
    train = with_training(train, vis_train)
    today = events.get(day)
    known = ({str(d) for part in today.slices(["detector_id"]) for d in part["detector_id"]}
             if today is not None else set())
    if len(vis_strands) and len(sources(vis_strands[vis_strands["date"] == day])):
        known.add(DETECTOR)  # a new source: its prior until its outcomes are enough
    table = fit_calibration(train, cfg.calibration, _window(day, days), detectors=known)
    extra = {"vis_rows": len(vis_train)} if len(vis_train) or DETECTOR in known else {}
    return dg.Output(table, metadata=rounded({
        **extra,
        "train_window": _window(day, days),
        "train_rows": len(train),
        "train_windows": f"{window.windows:,} (kept at rate {window.rate:.4g})",
        "train_days": sorted(set(train["day"])),
        "fitted": int((table["status"] == "fitted").sum()),
        "prior": int((table["status"] == "prior").sum()),
        "reliability": {f"{r.detector_id}@{r.horizon_s}s": float(r.reliability)
                        for r in table.itertuples()},
    }))


def _empty_eval() -> pd.DataFrame:
    return pd.DataFrame({"window_id": pd.Series([], dtype="str"),
                         "ts_ms": pd.Series([], dtype="int64"),
                         "coin": pd.Series([], dtype="str"),
                         "detector_id": pd.Series([], dtype="str"),
                         "horizon_s": pd.Series([], dtype="int64"),
                         "fwd_ret_bps": pd.Series([], dtype="float64"),
                         "net_ret_bps": pd.Series([], dtype="float64"),
                         "hit": pd.Series([], dtype="boolean"),
                         "status": pd.Series([], dtype="str")})


@dg.multi_asset(
    partitions_def=daily_partitions,
    outs={
        "dm_decisions": dg.AssetOut(
            io_manager_key="lake_io", group_name="dm", kinds={"parquet", "pandas"},
            is_required=False,
            description="The Decision-Maker's tickets of the day, decided with the paper "
            "Trader in one replay (recorded books, trades and contexts, MicroTape, published "
            "signals in one time-ordered stream): each decision starts from the positions, "
            "equity and drawdown the Trader holds after its fills. One dm-decision-1.0 ticket "
            "per row (decision_id, ts_ms, coin, ticket_json, ..., seq)."),
        "paper_trades": dg.AssetOut(
            io_manager_key="lake_io", group_name="trader", kinds={"parquet", "pandas"},
            is_required=False,
            description="The paper Trader's day from the same replay: every ticket executed "
            "against the recorded L2 books (latency, book walk, queue position, TWAP, "
            "barriers, funding) by the daemon's engine; one row per fill, order, position "
            "change and report, and a final state row the next day starts from (its input "
            "`previous_paper`: this asset's own previous day)."),
    },
    # read a slice at a time, the published windows only (`PublishedAlphas`)
    ins={"signal_events": coin_day_in("signal_events"),
         "dm_calibration": dg.AssetIn("dm_calibration"),
         "previous_paper": lake_window_in("paper_trades", -1, -1),
         # the day's charts: those that state a direction are alphas too (detector `vis`);
         # a day without its vis_strands partition has none
         "vis_strands": lake_input(lake_window_in("vis_strands", 0, 0))},
    # read by the step itself, streamed by time (never every coin's whole day at once)
    deps=[dg.AssetKey("raw_feed"), dg.AssetKey("microtape_frames")],
    can_subset=True,
)
def dm_decisions_and_paper_trades(
        context: dg.AssetExecutionContext, feed: FeedSource, lake: LakeResource,
        fabric: OpsDbResource, settings: SettingsResource, signal_events: CoinDay,
        dm_calibration: pd.DataFrame, previous_paper: pd.DataFrame,
        vis_strands: pd.DataFrame) -> Iterator[dg.Output[pd.DataFrame | InOrder]]:
    """One replay, two tables: the DM decides on what the Trader holds, the Trader fills
    the tickets; both come from the same run, so the Trader runs once a night, and the
    previous day's paper_trades (the state both start from) is a declared input.

    The day is streamed coin-merged (`_streamed`): the replay steps it a time chunk at a
    time, the MicroTape read from the lake in (ts, coin) order a batch at a time, the
    published alphas read as the replay reaches them, and both tables spilled as they are
    made (`JointTables`), handed to the lake a slice at a time: the step holds a chunk of
    the day, not the day."""
    lotus = settings.get()
    cfg = lotus.dm
    calib = Calibration(dm_calibration, cfg.calibration)
    day = context.partition_key
    charts = vis_alphas(vis_strands)
    if charts:
        context.log.info("%s: %d chart(s) with a direction decide as source %r", day,
                         len(charts), DETECTOR)
    alphas = with_vis(PublishedAlphas(signal_events.slices), charts)
    store = lake.get()
    carried = [c for c, n in store.coin_rows("microtape_frames", day).items() if n > 0]
    engine = DmEngine(cfg, calib, cadence_ms=lotus.microtape.cadence_ms,
                      costs=CostModel.from_trader(lotus.trader))
    universe = _universe(context, cfg.coins, carried, day)
    selected = context.op_execution_context.selected_output_names
    try:
        require_recording(Path(feed.feed_dir), day)
    except MissingRecordingError:
        # paper_trades first: Dagster orders a multi-asset's outputs by their dependencies,
        # and dm_decisions(D) reads paper_trades(D-1)
        if "paper_trades" in selected:
            context.log.warning("%s: no recording, so no paper Trader day (paper_trades not "
                                "materialised)", day)
        if "dm_decisions" in selected:
            result = replay(engine, store.read("microtape_frames", day),
                            [alphas.at(i) for i in range(len(alphas.times))])
            table = decisions_frame(result.decisions)
            yield _decisions_output(
                table, table, None, tally_of(result.decisions, result.gross, result.net),
                cfg, {"position_source": f"DM targets filled at mid (no recording for {day})",
                      **universe, **_costs(cost_table(result.decisions))},
                day, len(alphas.times))
        return
    prev = previous_day(day)
    if store.exists("dm_decisions", prev) and previous_paper.empty:
        raise dg.Failure(description=(
            f"dm_decisions {day} starts from the paper Trader's final state of {prev}, but "
            f"paper_trades {prev} is missing while dm_decisions {prev} exists: materialize "
            f"{prev} first (days run in order)"), metadata={"day": day})
    snap = carried_state(previous_paper.drop(columns=["date"], errors="ignore"))
    tcfg = lotus.trader
    with fabric.open() as fab:  # compiled the night before: a replay is stable
        priors = tr_priors_for(fab, day, cfg=load_exec_learning()[0])
    trader = (TraderEngine.restore(tcfg, snap, priors=priors) if snap
              else TraderEngine(tcfg, priors=priors))
    with tempfile.TemporaryDirectory(prefix="replay-", dir=_scratch(lotus.home)) as tmp:
        tables = JointTables(Path(tmp))
        joint_day(engine, trader, _streamed(feed, store, day, Path(tmp)), None, alphas,
                  tables)
        tables.finish(trader)
        tally = tables.tally
        costs = _costs(tables.costs.table())
        coupled = {"position_source": "paper Trader (joint replay)",
                   "carried_over": f"paper_trades {prev}" if snap else "none (flat start)",
                   "trader_fills": tables.paper_tally.fills,
                   "trader_equity_end": trader.portfolio_state()["equity"],
                   **tally.holdings(), **universe, **costs}
        # paper_trades first: Dagster orders a multi-asset's outputs by their dependencies,
        # and dm_decisions(D) reads paper_trades(D-1)
        if "paper_trades" in selected:
            meta = tables.paper_tally.metadata(trader)
            context.log.info("%s: %d decisions, %d fills, equity %.2f", day, tally.decisions,
                             meta["fills"], meta["equity"])
            shown = pd.concat([p[p["kind"].isin(["fill", "state"])]
                               for p in tables.paper.slices()], ignore_index=True)
            yield dg.Output(InOrder(tables.paper.slices(), tables.paper.empty, ("seq",)),
                            output_name="paper_trades", metadata=rounded({
                "decisions": tally.decisions, "carried_over": snap is not None,
                "tr_priors_ver": priors.version,
                "statuses": meta["statuses"], "positions": meta["positions"],
                **costs,
                # how the day's orders met the book (lotus_core.trader.nightly.EXECUTION_REPORT)
                **numeric({k: meta[k] for k in EXECUTION_REPORT}),
                **paper_story(shown, meta, store, day),
            }))
        if "dm_decisions" in selected:
            yield _decisions_output(
                InOrder(tables.decisions.slices(), tables.decisions.empty, ("seq",)),
                tables.decisions.columns(STORY_COLUMNS),
                lambda at: ticket_notes(tables.decisions.take(at, ["ticket_json"])
                                        ["ticket_json"]),
                tally, cfg, coupled, day, len(alphas.times))


def _universe(context: dg.AssetExecutionContext, configured: Sequence[str],
              carried: Sequence[str], day: str) -> dict[str, Any]:
    """The DM's universe on `day` (the engine's rule, `lotus_core.dm.engine.universe`, over
    the day's MicroTape coins), and the configured coins its data lacks, said once (a log
    line and the metadata): left out of the problem, not held at zero by its caps."""
    coins, left_out = universe_of(configured, carried)
    if left_out:
        context.log.warning("%s: dm.coins %s have no MicroTape rows today: left out of the "
                            "Decision-Maker's problem", day, ", ".join(left_out))
    return {"universe": ", ".join(coins) or "-", "coins_left_out": ", ".join(left_out) or "-"}


def _costs(table: pd.DataFrame) -> dict[str, Any]:
    """Priced against paid per coin (`lotus_core.costs.COST_TABLE`), and the day's
    notional-weighted figures as numbers (plotted by partition)."""
    n = float(table["notional_usd"].sum()) if len(table) else 0.0

    def mean(col: str) -> float | None:
        return float((table[col] * table["notional_usd"]).sum()) / n if n > 0 else None

    return {"priced_vs_paid": table_of(table, COST_TABLE),
            **numeric({"cost_priced_bps": mean("priced_bps"), "cost_paid_bps": mean("paid_bps"),
                       "fee_paid_bps": mean("fee_paid_bps")})}


def _scratch(home: Path) -> Path:
    folder = Path(home) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _streamed(feed: FeedSource, store: Lake | ObjectLake, day: str,
              scratch: Path) -> Iterator[DayChunk]:
    """The day's market events and MicroTape rows in time chunks: with coin shards, cut
    from the stored shards one shard at a time (`spill_shards`); without, from the cached
    parse. The MicroTape a coin at a time, merged into (ts, coin) order (`tape_in_order`).
    Chunks as long as the day's coins allow (`chunk_ms_for`)."""
    chunks: Iterator[DayChunk] | None = None
    chunk_ms = chunk_ms_for(len(store.coins("microtape_frames", day)))
    if by_coin_group(feed.coin_shards):
        shards = ShardStore(Path(feed.shard_dir)).shards(feed.recording(day), day,
                                                          feed.coin_shards)
        spilled = spill_shards(shards, scratch / "feed", chunk_ms)
        chunks = spilled.chunks() if spilled is not None else None
    if chunks is None:
        chunks = day_chunks(feed.replay_day(day), None, chunk_ms)
    rows = tape_in_order(CoinDay(store, "microtape_frames", day), TAPE_COLUMNS, scratch)
    return with_rows(chunks, rows)


def _decisions_output(table: pd.DataFrame | InOrder, story: pd.DataFrame,
                      notes: Callable[[np.ndarray], list[str]] | None, tally: DecisionTally,
                      cfg: Any, coupled: dict[str, Any], day: str, alphas: int
                      ) -> dg.Output[pd.DataFrame | InOrder]:
    """`story`: the tickets' STORY_COLUMNS (`dm_story`); `notes`: their reasons by row."""
    return dg.Output(table, output_name="dm_decisions", metadata=rounded({
        "portfolio_id": cfg.portfolio_id,
        "gross_budget": cfg.allocator.gross_max,
        "alphas": alphas,
        "decisions": tally.decisions,
        "trades": tally.trades,
        "holds": tally.holds,
        "turnover_used": tally.turnover_used,
        "binding_constraints": dict(sorted(tally.binding.items())),
        "vetoes": tally.vetoes,
        **tally.book(),
        **coupled,
        **dm_story(story, day, notes),
        "solve_ms_p50": tally.solve_percentile(50),
        "solve_ms_p99": tally.solve_percentile(99),
    }))


DM_ASSETS = [dm_calibration, dm_decisions_and_paper_trades, *VIS_TABLES]
"""With the chart tables the DM reads (`lotus_assets.vis.VIS_TABLES`: not executable, made
by the `lotus_vis` job; the code location holds the assets themselves)."""
