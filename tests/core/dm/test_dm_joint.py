"""The DM and the paper Trader replayed together (`lotus_core.dm.joint`) on two recorded
fixture days: every decision starts from what the Trader holds after its fills, and
`paper_trades`' replay of the stored tickets gives the very fills, positions and reports
of the joint run, day after day (positions carried across midnight)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_assets.metadata import STORY_COLUMNS
from lotus_core.dm.alpha import AlphaError, PublishedAlphas
from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.joint import joint_day, joint_result
from lotus_core.dm.joint_tables import JointTables, tally_of
from lotus_core.dm.replay import decisions_frame, replay
from lotus_core.dm.schema import DM_DECISIONS_SCHEMA
from lotus_core.fabric.envelope import canonical_json
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.trader.config import trader_settings
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.nightly import carried_state, day_metadata, paper_day, paper_table
from lotus_core.trader.plan import ts_ms
from lotus_core.trader.replay import decisions_from_table
from tests.kits.dm_kit import alpha_stream, planted_training

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
DAYS = ("2026-01-02", "2026-01-03")  # recorded 12:00-14:00 UTC
DETS = ("breakout_retest_v1", "mean_reversion_z_v1")
# short barriers so exits happen inside the fixture's two hours
TRADER = {"stop_loss_bps": 15.0, "take_profit_bps": 30.0}


@pytest.fixture(scope="module")
def world():  # noqa: ANN201
    cfg = load_dm_settings({})
    train = pd.concat([planted_training(d, 1500, 25.0, i) for i, d in enumerate(DETS)])
    cal = Calibration(fit_calibration(train, cfg.calibration, "w"), cfg.calibration)
    days = {}
    for k, day in enumerate(DAYS):
        feed = parse_recording(FIXTURES / f"{day}.jsonl.gz", day)
        rows = build_microtape(feed, MicroTapeParams()).sort_values(["coin", "ts_ms"])
        alphas = alpha_stream(cfg.coins, DETS, 150, start_ms=ts_ms(f"{day}T12:05:00Z"),
                              span_ms=6_600_000, seed=11 + k)
        days[day] = (feed, rows, alphas)
    return cfg, cal, trader_settings(dict(TRADER)), days


def _joint(world, day: str, previous: pd.DataFrame | None):  # noqa: ANN001, ANN202
    cfg, cal, tcfg, days = world
    feed, rows, alphas = days[day]
    snap = carried_state(previous)
    trader = TraderEngine.restore(tcfg, snap) if snap else TraderEngine(tcfg)
    return joint_result(DmEngine(cfg, cal), trader, feed, rows, alphas), trader


def test_paper_trades_replay_gives_the_joint_runs_fills(world) -> None:  # noqa: ANN001
    _, _, tcfg, days = world
    previous = None
    for day in DAYS:
        res, trader = _joint(world, day, previous)
        table = decisions_frame(res.decisions)
        DM_DECISIONS_SCHEMA.validate(table)
        kinds = [o.kind for o in res.outputs]
        assert kinds.count("fill") >= 3 and "trigger_eval" in kinds, kinds
        feed, rows, _ = days[day]
        paper, engine = paper_day(tcfg, feed, decisions_from_table(table), previous, rows)
        # the same kernel, the same result: every output, byte for byte, and the end state
        assert paper["kind"].tolist()[:-1] == kinds
        assert paper["data_json"].tolist()[:-1] == [canonical_json(o.data).decode()
                                                   for o in res.outputs]
        assert engine.snapshot() == trader.snapshot()
        assert engine.portfolio_state() == trader.portfolio_state()
        previous = paper
    # day 2 started from day 1's final state (positions and seen decisions carried)
    assert json.loads(previous["data_json"].iloc[-1])["seen"][:1]


def test_every_decision_starts_from_what_the_trader_holds(world) -> None:  # noqa: ANN001
    cfg, cal, _, days = world
    res, _ = _joint(world, DAYS[0], None)
    assert len(res.contexts) == len({d.alpha_id for d in res.decisions})
    by_alpha = dict(zip(dict.fromkeys(d.alpha_id for d in res.decisions), res.contexts,
                        strict=True))
    held = 0
    for d in res.decisions:
        ctx = by_alpha[d.alpha_id]
        assert d.w0 == pytest.approx(ctx.weights.get(d.coin, 0.0), abs=1e-8)
        assert d.ticket["audit_refs"]["drawdown"] == repr(round(ctx.drawdown, 8))
        held += d.w0 != 0.0
    assert held, "some decisions must start from a position the Trader holds"
    # not the DM's own targets: after a target, the Trader's exits (barriers, time limit)
    # and lot rounding leave a different book, and the next decision sees it
    last: dict[str, float] = {}
    differs = 0
    for d in res.decisions:
        if d.coin in last and abs(last[d.coin] - d.w0) > 1e-3:
            differs += 1
        last[d.coin] = d.target
    assert differs > 0
    exits = [o.data for o in res.outputs if o.kind == "exec_report"
             and o.data["exec_metrics"]["purpose"] == "exit"]
    assert exits, "barriers or time limits closed positions"
    # the DM alone (own targets filled at mid) decides differently on the same day
    feed, rows, alphas = days[DAYS[0]]
    alone = replay(DmEngine(cfg, cal), rows, alphas)
    assert [d.w0 for d in alone.decisions] != [d.w0 for d in res.decisions]


def _signal_events(alphas: list) -> pd.DataFrame:  # noqa: ANN001
    """The alphas as signal_events rows (ALPHA_COLUMNS), with an unpublished row after each
    (a window the curators held back), in the table's (ts_ms, coin, detector_id) order."""
    rows = []
    for a in alphas:
        row = {"window_id": a.alpha_id, "ts_ms": a.ts_ms, "coin": a.coin,
               "detector_id": a.detector_id, "horizon_s": a.horizon_s,
               "signal": float(a.direction), "curated_sigma": a.curated_sigma,
               "published": True, **dict(a.meta)}
        rows += [row, {**row, "window_id": a.alpha_id + "x", "detector_id": "zz_held_v1",
                       "published": False}]
    return pd.DataFrame(rows).sort_values(["ts_ms", "coin", "detector_id"], kind="stable",
                                          ignore_index=True)


def test_the_spilled_tables_are_the_tables_of_the_day_held_whole(world, tmp_path) -> None:  # noqa: ANN001
    """`dm_decisions`' step spills both tables as the replay makes them and reads the
    alphas a slice at a time: row for row the tables and the metadata folds of
    the joint run held whole, whatever the batch and slice sizes."""
    cfg, cal, tcfg, days = world
    day = DAYS[0]
    whole, trader = _joint(world, day, None)
    decisions, paper = decisions_frame(whole.decisions), paper_table(whole.outputs, trader)
    feed, rows, alphas = days[day]
    events = _signal_events(alphas)

    def slices(columns: list[str]):  # noqa: ANN202 - 37-row slices of the table
        return (events[columns].iloc[lo:lo + 37] for lo in range(0, len(events), 37))

    streamed = TraderEngine(tcfg)
    tables = JointTables(tmp_path, batch_rows=7)
    published = PublishedAlphas(slices)
    assert len(published) == len(alphas)
    joint_day(DmEngine(cfg, cal), streamed, feed, rows, published, tables)
    tables.finish(streamed)
    assert len(decisions) > 20 and tables.decisions.rows == len(decisions)
    got = pd.concat(list(tables.decisions.slices(rows=20)), ignore_index=True)
    pd.testing.assert_frame_equal(got.astype(decisions.dtypes), decisions)
    got = pd.concat(list(tables.paper.slices(rows=20)), ignore_index=True)
    pd.testing.assert_frame_equal(got.astype(paper.dtypes), paper)
    assert tables.tally == tally_of(whole.decisions, whole.gross, whole.net, whole.contexts)
    assert tables.paper_tally.metadata(streamed) == day_metadata(paper, trader)
    at = np.array([0, 3, len(decisions) - 1])
    assert (tables.decisions.take(at, ["ticket_json"])["ticket_json"].tolist()
            == decisions["ticket_json"].iloc[at].tolist())
    story = tables.decisions.columns(STORY_COLUMNS)
    pd.testing.assert_frame_equal(story.astype(decisions[STORY_COLUMNS].dtypes),
                                  decisions[STORY_COLUMNS])


def test_published_alphas_are_read_once_in_order() -> None:
    cfg = load_dm_settings({})
    events = _signal_events(alpha_stream(cfg.coins, DETS, 5, seed=3))
    published = PublishedAlphas(lambda columns: [events[columns]])
    assert published.at(2).alpha_id == events[events["published"]]["window_id"].iloc[2]
    with pytest.raises(IndexError, match="read once, in order"):
        published.at(1)
    backwards = events.iloc[::-1]
    with pytest.raises(AlphaError, match="not in time order"):
        PublishedAlphas(lambda columns: [backwards[columns]])
    reads = iter([events, events.iloc[:4]])  # the second read finds fewer windows
    shrunk = PublishedAlphas(lambda columns: [next(reads)[columns]])
    assert shrunk.at(1).ts_ms == int(shrunk.times[1])
    with pytest.raises(AlphaError, match="fewer published windows"):
        shrunk.at(4)
