"""The whole-day replays streamed coin-merged give the day held whole, byte for byte.

On the two recorded fixture days (day 2 starting from day 1's paper state): the DM and the
Trader's joint replay (`dm_decisions`, `paper_trades`) run on the day held whole in one
chunk (the replay before streaming: one merged order, one `drive`) and on the day
streamed: the market tables spilled from the day's coin shards (2 groups) and read back a
5-minute chunk at a time, the MicroTape read a coin at a time and merged into (ts, coin)
order in small slices; and the in-memory day cut in 10-minute chunks (each chunk's held-back
snapshots handed over at its end). The Parquet bytes of both tables must be the same."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.joint import joint_result
from lotus_core.dm.replay import TAPE_COLUMNS, decisions_frame, tape_order
from lotus_core.feed.packed import ReplayDay
from lotus_core.feed.shard_store import ShardStore
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake
from lotus_core.trader.config import trader_settings
from lotus_core.trader.day_chunks import CHUNK_COIN_MINUTES, DayChunk, chunk_ms_for, day_chunks
from lotus_core.trader.day_sources import spill_shards, tape_in_order, with_rows
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.nightly import carried_state, paper_table
from lotus_core.trader.plan import ts_ms
from tests.kits.dm_kit import alpha_stream, planted_training

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
DAYS = ("2026-01-02", "2026-01-03")
DETS = ("breakout_retest_v1", "mean_reversion_z_v1")
TRADER = {"stop_loss_bps": 15.0, "take_profit_bps": 30.0}  # exits inside the two hours
WHOLE = 1 << 62  # one chunk: the whole day


def _bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("stream")
    lake = Lake(root / "lake")
    out = {}
    for k, day in enumerate(DAYS):
        # the whole day from its 2 stored shards (tests/core/feed: the parse's very tables),
        # so the recording is decoded once
        feed = ShardStore(root / "shards").whole(FIXTURES / f"{day}.jsonl.gz", day, 2)
        tape = build_microtape(feed, MicroTapeParams()).sort_values(
            ["coin", "ts_ms"], kind="stable").reset_index(drop=True)
        lake.write_parts("microtape_frames", day,  # a row group per coin, as the step writes
                         (g for _, g in tape.groupby("coin", sort=True)), tape.iloc[:0])
        alphas = alpha_stream(("BTC", "ETH", "SOL"), DETS, 150,
                              start_ms=ts_ms(f"{day}T12:05:00Z"), span_ms=6_600_000, seed=11 + k)
        out[day] = (feed, CoinDay(lake, "microtape_frames", day), alphas)
    return {"root": root, "days": out}


def _sources(days: dict, day: str, scratch: Path) -> dict:
    """The day's chunk sources: whole (the reference), and each streamed form."""
    feed, tape, _ = days["days"][day]
    rows = tape_order(tape.whole())
    store = ShardStore(days["root"] / "shards")
    out = {"whole": lambda: [DayChunk(WHOLE, ReplayDay.of(feed), rows)],
           "in-memory 10-minute chunks": lambda: day_chunks(feed, rows, 600_000)}
    for n in (2,):
        def spilled(n: int = n) -> object:
            got = spill_shards(store.shards(FIXTURES / f"{day}.jsonl.gz", day, n),
                               scratch / f"{n}-{len(list(scratch.iterdir()))}", 300_000)
            assert got is not None and len(got.keys) > 10 and got.groups == n
            return with_rows(got.chunks(), tape_in_order(tape, TAPE_COLUMNS, rows=1000))
        out[f"{n} coin shards, streamed"] = spilled
    return out


def test_streamed_days_give_the_whole_days_dm_decisions_and_paper_trades(
        days: dict, tmp_path: Path) -> None:
    dm_cfg = load_dm_settings({})
    train = pd.concat([planted_training(d, 1500, 25.0, i) for i, d in enumerate(DETS)])
    cal = Calibration(fit_calibration(train, dm_cfg.calibration, "w"), dm_cfg.calibration)
    tcfg = trader_settings(dict(TRADER))
    previous: dict[str, pd.DataFrame | None] = {}
    for day in DAYS:
        got: dict[str, tuple[bytes, bytes]] = {}
        for name, source in _sources(days, day, tmp_path).items():
            snap = carried_state(previous.get(name))
            trader = TraderEngine.restore(tcfg, snap) if snap else TraderEngine(tcfg)
            joint = joint_result(DmEngine(dm_cfg, cal), trader, source(), None,
                                 days["days"][day][2])
            decisions, paper = decisions_frame(joint.decisions), paper_table(joint.outputs,
                                                                            trader)
            previous[name] = paper
            got[name] = (_bytes(decisions), _bytes(paper))
            assert len(decisions) > 100 and (paper["kind"] == "fill").sum() > 10
        reference = got.pop("whole")
        for name, tables in got.items():
            assert tables == reference, f"{day}: {name} differs from the whole day"


def test_a_chunk_holds_the_same_coin_minutes_whatever_the_coins() -> None:
    """A chunk holds CHUNK_COIN_MINUTES coin-minutes (a minute at least): the replay's
    chunk neither grows nor shrinks with the coins (its memory is flat)."""
    ms = {n: chunk_ms_for(n) for n in (1, 3, 7, 20, 30, 60, 100, 200, 300, 1000)}
    assert ms[3] == 100 * 60_000 and ms[100] == 3 * 60_000 and ms[1000] == 60_000
    for n, length in ms.items():
        if n <= CHUNK_COIN_MINUTES:
            assert n * length == pytest.approx(CHUNK_COIN_MINUTES * 60_000, abs=n)
