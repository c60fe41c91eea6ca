"""The Decision-Maker, nightly: `dm_calibration` and `dm_decisions` (docs/dm.md).

Thin: read the lake, call `lotus_core.dm`, report metadata. The `dm:` and `trader:` settings
come from the `settings` resource (the code location's one Settings), never from a file.

- dm_calibration (day D): score → (μ, σ, hit probability) per detector and horizon, fitted
  on `signal_events` ⋈ `signal_eval` of the `calibration.train_days` days before D only.
- dm_decisions (day D): the DM and the paper Trader replayed together over D
  (`lotus_core.dm.joint.joint_day`): D's recording, MicroTape and published signals in one
  time-ordered stream; each decision starts from the positions, equity and drawdown the
  Trader holds after its fills, and its tickets go to the Trader as they would live. The
  Trader starts from `paper_trades`(D-1)'s final state, read from the lake (not an asset
  input: paper_trades depends on dm_decisions, an input would make a cycle). One row per
  ticket (dm-decision-1.0); `paper_trades`(D) replays them to the same fills. Without a
  recording for D, the DM alone (its own targets filled at mid), said in the metadata.
"""


from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from lotus_assets.metadata import dm_story
from lotus_assets.partitions import daily_partitions, history_in, lake_window_in
from lotus_core.dm.alpha import from_signal_events
from lotus_core.dm.calibration import Calibration, fit_calibration, training_frame
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.joint import joint_day, summary
from lotus_core.dm.replay import decisions_frame, replay
from lotus_core.feed.recordings import MissingRecordingError, require_recording
from lotus_core.time import previous_day
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.nightly import carried_state
from lotus_core.trader.priors import tr_priors as tr_priors_for
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource

TRAIN_DAYS = 7  # the history window the asset loads; settings may use fewer


def _window(day: str, days: int) -> str:
    d = date.fromisoformat(day)
    return f"{d - timedelta(days=days)}..{d - timedelta(days=1)}"


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="dm",
    kinds={"parquet", "pandas"},
    ins={"events": lake_window_in("signal_events", -TRAIN_DAYS, 0),  # earlier days + D
         "evals": history_in("signal_eval", TRAIN_DAYS)},
    description="Per detector and horizon: a monotone (isotonic) map from curated_sigma to "
    "expected signed return mu (bps), sigma and hit probability, pooled across coins with "
    "shrunk per-coin offsets, reliability from out-of-fold calibration; fitted on earlier "
    "days only. Too little history: the conservative prior (mu = 0).",
)
def dm_calibration(context: dg.AssetExecutionContext, settings: SettingsResource,
                   events: pd.DataFrame, evals: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    cfg = settings.get().dm
    day = context.partition_key
    days = min(cfg.calibration.train_days, TRAIN_DAYS)
    first = str(date.fromisoformat(day) - timedelta(days=days))
    today = events[events["date"] == day] if len(events) else events
    if len(events) and len(evals):  # the day itself never trains its own calibration
        past = events[(events["date"] >= first) & (events["date"] < day)]
        train = training_frame(past, evals[(evals["date"] >= first) & (evals["date"] < day)])
    else:
        train = training_frame(pd.DataFrame({"window_id": pd.Series([], dtype="str"),
                                             "curated_sigma": pd.Series([], dtype="float64")}),
                               _empty_eval())
    known = set(today["detector_id"].astype(str)) if len(today) else set()
    table = fit_calibration(train, cfg.calibration, _window(day, days), detectors=known)
    return dg.Output(table, metadata={
        "train_window": _window(day, days),
        "train_rows": len(train),
        "train_days": sorted(set(train["day"])),
        "fitted": int((table["status"] == "fitted").sum()),
        "prior": int((table["status"] == "prior").sum()),
        "reliability": {f"{r.detector_id}@{r.horizon_s}s": round(float(r.reliability), 4)
                        for r in table.itertuples()},
    })


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


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="lake_io",
    group_name="dm",
    kinds={"parquet", "pandas"},
    ins={"signal_events": dg.AssetIn("signal_events"),
         "microtape_frames": dg.AssetIn("microtape_frames"),
         "dm_calibration": dg.AssetIn("dm_calibration")},
    deps=[dg.AssetKey("raw_feed")],
    description="The Decision-Maker and the paper Trader replayed together over the day "
    "(recorded books, trades and contexts, MicroTape, published signals in one time-ordered "
    "stream): each decision starts from the positions, equity and drawdown the Trader holds "
    "after its fills (carried from the previous day's paper_trades), and its tickets go to "
    "the Trader as live. One dm-decision-1.0 ticket per row (decision_id, ts_ms, coin, "
    "ticket_json, ..., seq); paper_trades replays them to the same fills.",
)
def dm_decisions(context: dg.AssetExecutionContext, feed: FeedSource, lake: LakeResource,
                 fabric: OpsDbResource, settings: SettingsResource,
                 signal_events: pd.DataFrame, microtape_frames: pd.DataFrame,
                 dm_calibration: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    lotus = settings.get()
    cfg = lotus.dm
    calib = Calibration(dm_calibration, cfg.calibration)
    alphas = from_signal_events(signal_events) if len(signal_events) else []
    engine = DmEngine(cfg, calib, cadence_ms=lotus.microtape.cadence_ms)
    day = context.partition_key
    try:
        require_recording(Path(feed.feed_dir), day)
        recorded = True
    except MissingRecordingError:
        recorded = False
    coupled: dict[str, Any] = {}
    if recorded:  # the Trader's positions: the joint replay
        store = lake.get()
        prev = previous_day(day)
        if store.exists("dm_decisions", prev) and not store.exists("paper_trades", prev):
            raise dg.Failure(description=(
                f"dm_decisions {day} starts from the paper Trader's final state of {prev}, but "
                f"paper_trades {prev} is missing while dm_decisions {prev} exists: materialize "
                f"paper_trades {prev} first (days run in order)"), metadata={"day": day})
        snap = carried_state(store.read("paper_trades", prev)
                             if store.exists("paper_trades", prev) else None)
        tcfg = lotus.trader
        with fabric.open() as fab:  # the tr priors paper_trades will use for this day
            priors = tr_priors_for(fab, day)
        trader = (TraderEngine.restore(tcfg, snap, priors=priors) if snap
                  else TraderEngine(tcfg, priors=priors))
        joint = joint_day(engine, trader, feed.replay_day(day), microtape_frames, alphas)
        decisions, gross, net = joint.decisions, joint.gross, joint.net
        fills = sum(o.kind == "fill" for o in joint.outputs)
        coupled = {"position_source": "paper Trader (joint replay)",
                   "carried_over": f"paper_trades {prev}" if snap else "none (flat start)",
                   "trader_fills": fills,
                   "trader_equity_end": round(trader.portfolio_state()["equity"], 6),
                   **summary(joint)}
    else:
        result = replay(engine, microtape_frames, alphas)
        decisions, gross, net = result.decisions, result.gross, result.net
        coupled = {"position_source": f"DM targets filled at mid (no recording for {day})"}
    table = decisions_frame(decisions)
    binding: dict[str, int] = {}
    for d in decisions:
        for b in d.binding:
            binding[b] = binding.get(b, 0) + 1
    solve = np.array([d.solve_ms for d in decisions])  # wall clock: metadata only
    return dg.Output(table, metadata={
        "portfolio_id": cfg.portfolio_id,
        "gross_budget": cfg.allocator.gross_max,
        "alphas": len(alphas),
        "decisions": len(table),
        "trades": int((table["action"] == "trade").sum()),
        "holds": int((table["action"] == "hold").sum()),
        "turnover_used": round(float(np.abs(table["target"] - table["w0"]).sum()), 8),
        "binding_constraints": dict(sorted(binding.items())),
        "vetoes": int(sum(1 for d in decisions for e in d.curation
                          if e["kind"] == "veto")),
        "gross_max": round(max(gross, default=0.0), 8),
        "gross_last": round(gross[-1] if gross else 0.0, 8),
        "net_min": round(min(net, default=0.0), 8),
        "net_max": round(max(net, default=0.0), 8),
        **coupled,
        **dm_story(table, day),
        "solve_ms_p50": round(float(np.percentile(solve, 50)), 3) if len(solve) else None,
        "solve_ms_p99": round(float(np.percentile(solve, 99)), 3) if len(solve) else None,
    })


DM_ASSETS = [dm_calibration, dm_decisions]
