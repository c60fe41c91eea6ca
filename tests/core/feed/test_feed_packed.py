"""The replay form of a day (lotus_core.feed.packed): books packed flat, built from the
whole parse or shard by shard (one shard's padded books held at a time), gives the whole
parse's market events (every Book's levels the same floats) and the very same joint DM +
Trader and paper Trader outputs, on the faulty fixture day's first quarter hour."""

from __future__ import annotations

import gzip
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.joint import joint_result
from lotus_core.dm.replay import decisions_frame
from lotus_core.fabric.envelope import canonical_json
from lotus_core.feed.packed import PackedBooks, ReplayDay, pack_shards
from lotus_core.feed.parse import parse_recording
from lotus_core.feed.shard_store import ShardStore
from lotus_core.feed.shards import CoinShard, parse_shards
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.trader import replay as replay_mod
from lotus_core.trader.config import trader_settings
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.nightly import paper_day
from lotus_core.trader.plan import ts_ms
from lotus_core.trader.replay import Day, decisions_from_table, market_events
from tests.core.feed.test_feed_parse import _faulty_copy
from tests.core.feed.test_feed_shards import _mixed_copy
from tests.kits.dm_kit import alpha_stream, planted_training

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
DAY = "2026-01-02"


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> tuple[Path, Path]:
    """(the faulty quarter hour, the same with trades frames that mix coins)."""
    tmp = tmp_path_factory.mktemp("packed")
    head = gzip.decompress((FIXTURES / f"{DAY}.jsonl.gz").read_bytes()).splitlines(True)
    (tmp / "head.jsonl.gz").write_bytes(gzip.compress(b"".join(head[:15_000]), mtime=0))
    (tmp / "plain").mkdir()
    path = _faulty_copy(tmp / "head.jsonl.gz", tmp / "plain" / f"{DAY}.jsonl.gz")
    return path, _mixed_copy(path, tmp / f"{DAY}.jsonl.gz")


@pytest.fixture(scope="module")
def whole(days):
    return parse_recording(days[0], workers=1)


@pytest.fixture(scope="module")
def events(whole) -> list:
    return list(market_events(whole))


def _one_at_a_time(shards: Iterator[CoinShard]) -> Iterator[CoinShard]:
    """The shards, failing if a shard's padded books outlive the next shard's turn."""
    held: weakref.ref | None = None
    for shard in shards:
        assert held is None or held() is None, "the previous shard's books are still held"
        held = weakref.ref(shard.feed.books.bid_px)
        yield shard
        del shard


def _same_tables(packed: ReplayDay, whole: Day) -> None:
    pd.testing.assert_frame_equal(packed.books.meta, whole.books.meta)
    pd.testing.assert_frame_equal(packed.trades, whole.trades)
    pd.testing.assert_frame_equal(packed.ctx, whole.ctx)


def test_packed_books_hold_the_levels_present(whole):
    b = whole.books
    packed = PackedBooks.pack(b)
    nb, na = b.meta["n_bid"].to_numpy(), b.meta["n_ask"].to_numpy()
    assert len(packed.bid_px) == nb.sum() and len(packed.ask_sz) == na.sum()
    assert (nb < 20).mean() > 0.5  # the fast stream: most frames are short
    assert packed.nbytes < 0.6 * sum(getattr(b, m).nbytes for m in ("bid_px", "bid_sz",
                                                                     "ask_px", "ask_sz"))
    for i in (0, 1, len(b) // 2, len(b) - 1):
        assert packed.levels(i) == (b.bid_px[i, :nb[i]].tolist(), b.bid_sz[i, :nb[i]].tolist(),
                                    b.ask_px[i, :na[i]].tolist(), b.ask_sz[i, :na[i]].tolist())
    tops = packed.tops()
    np.testing.assert_array_equal(tops[0], b.bid_px[:, 0])
    np.testing.assert_array_equal(tops[1], b.ask_px[:, 0])
    _same_tables(ReplayDay.of(whole), whole)


@pytest.mark.parametrize("n", [2, 3])
def test_the_replay_day_packed_shard_by_shard_is_the_whole_parses(days, whole, events, n):
    packed = pack_shards(_one_at_a_time(parse_shards(days[0], n, workers=1)))
    assert packed is not None and packed.sha256 == whole.sha256
    _same_tables(packed, whole)
    assert list(market_events(packed)) == events


def test_a_day_whose_trades_frames_mix_coins_is_parsed_whole(days, tmp_path):
    mixed, store = days[1], ShardStore(tmp_path / "store")
    assert pack_shards(store.shards(mixed, DAY, 2)) is None  # and the shards are stored
    got = store.replay_day(mixed, DAY, 2)
    _same_tables(got, parse_recording(mixed, DAY, workers=1))
    assert {9_000_001, 9_000_002} <= set(got.trades["tid"])


def test_the_joint_and_paper_replays_are_the_same_on_the_packed_day(days, whole, tmp_path,
                                                                     monkeypatch):
    cfg = load_dm_settings({})
    dets = ("breakout_retest_v1", "mean_reversion_z_v1")
    train = pd.concat([planted_training(d, 1500, 25.0, i) for i, d in enumerate(dets)])
    cal = Calibration(fit_calibration(train, cfg.calibration, "w"), cfg.calibration)
    rows = build_microtape(whole, MicroTapeParams()).sort_values(["coin", "ts_ms"])
    alphas = alpha_stream(cfg.coins, dets, 60, start_ms=ts_ms(f"{DAY}T12:03:00Z"),
                          span_ms=660_000, seed=5)
    tcfg = trader_settings({"stop_loss_bps": 15.0, "take_profit_bps": 30.0})
    packed = ShardStore(tmp_path / "store").replay_day(days[0], DAY, 2)

    def run(day: Day) -> tuple[list[str], list[str], dict, list[str], dict]:
        trader = TraderEngine(tcfg)
        res = joint_result(DmEngine(cfg, cal), trader, day, rows, alphas)
        table = decisions_frame(res.decisions)
        paper, _ = paper_day(tcfg, day, decisions_from_table(table), None, rows)
        return ([o.kind for o in res.outputs], [canonical_json(o.data).decode()
                                               for o in res.outputs],
                trader.snapshot(), paper["data_json"].tolist(), res.events)

    whole_run = run(whole)
    assert whole_run[0].count("fill") >= 3 and whole_run[4]["book"] > 0
    # and with the replay's events and MicroTape rows made in many small blocks
    monkeypatch.setattr(replay_mod, "_BLOCK", 1000)
    assert len(rows) > 2000 and sum(whole_run[4].values()) > 2000
    assert run(packed) == whole_run
