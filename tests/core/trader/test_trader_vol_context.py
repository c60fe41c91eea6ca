"""An execution's volatility context (`exec_metrics.context.vol_bps`) has one definition, so
live == nightly: the same recorded events through the one driver on the replay
clock (quiet coins' snapshots held back, `hold=True`) and on the live clock (`LiveColumns`,
every event handed over, as the daemon runs) give every output equal, vol_bps included, and
vol_bps is the EWMA over every two-sided snapshot of the coin received by then, whether the
replay handed that snapshot over or not. With tr priors that choose the order type by the
vol band, both runs choose the same orders, and the choice does follow vol."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.feed.tables import FeedDay
from lotus_core.synth.generator import generate_day
from lotus_core.synth.spec import default_spec
from lotus_core.trader.book import Book
from lotus_core.trader.config import trader_settings
from lotus_core.trader.driver import Decision
from lotus_core.trader.engine import VOL_ALPHA, Out, TraderEngine
from lotus_core.trader.learning import TrPriors, load_exec_learning
from lotus_core.trader.replay import market_events, replay_day
from lotus_core.trader.reports import iso
from lotus_core.trader.venues import BPS
from tests.kits.trader_live_kit import drive_live

COINS = ["BTC", "ETH"]
SETTINGS = trader_settings({"max_slippage_bps": 20.0, "stop_loss_bps": 30.0,
                            "take_profit_bps": 60.0, "limit_cancel_after_ms": 30_000})


class _Counted(TraderEngine):
    """The engine, counting the snapshots it is handed (to show the replay held some back)."""

    handed = 0

    def on_book(self, book: Book, quoted: bool = False) -> list[Out]:
        self.handed += 1
        return super().on_book(book, quoted)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[FeedDay, list[Any]]:
    """One generated hour (seed 7, BTC and ETH, fast and slow book frames) and its events
    as the live source delivers them."""
    feed = generate_day(Path(tmp_path_factory.mktemp("vol_feed")), date(2026, 1, 3), COINS, 7,
                        default_spec(), hours=(12, 13))[0]
    day = parse_recording(feed)
    return day, list(market_events(day))


def _decisions(day: FeedDay, hinted: bool, n: int = 16) -> list[Decision]:
    """Entries and exits on alternating coins, so each coin is by turns quiet (its snapshots
    held back), watched (a position's barriers) and working (orders)."""
    ts_ = day.books.meta["recv_ts_ms"]
    t0 = int(ts_.min()) + 30_000
    span = int(ts_.max()) - t0 - 60_000
    out = []
    for k in range(n):
        ts = t0 + k * span // n
        t: dict[str, Any] = {
            "schema_ver": "dm-decision-1.0", "decision_id": f"dec{k:02d}", "asof_ts": iso(ts),
            "portfolio_id": "default", "target_type": "weights",
            "targets": {COINS[k % 2]: (0.15, -0.1, 0.0)[k % 3]}, "horizon": "10m",
            "confidence": 0.5, "valid_until": iso(ts + 120_000),
            "rationale": {"top_alphas": ["det:test"]}}
        if hinted and k % 4 in (1, 3):
            t["audit_refs"] = {"tr.execution_strategy": "limit" if k % 4 == 1 else "twap"}
        out.append(Decision(ts, t))
    return out


def _replayed(day: FeedDay, decs: list[Decision], priors: TrPriors | None
              ) -> tuple[list[Out], _Counted]:
    engine = _Counted(SETTINGS, priors=priors)
    return replay_day(engine, day, decs).outputs, engine


def _lived(events: list[Any], decs: list[Decision], priors: TrPriors | None,
           engine: _Counted | None = None) -> tuple[list[Out], _Counted]:
    """The daemon's stepping: every event handed over one at a time, decisions waiting in a
    `DecisionClock` until the market passes their asof time (`engine`: a restored one)."""
    engine = engine or _Counted(SETTINGS, priors=priors)
    live, _ = drive_live(engine, events, decs)
    return live, engine


def _mids(day: FeedDay) -> dict[str, tuple[list[int], list[float]]]:
    """Per coin, (receive time, mid) of every two-sided snapshot in receive order."""
    m = day.books.meta
    bid, ask = day.books.tops()
    two = (m["n_bid"].to_numpy() > 0) & (m["n_ask"].to_numpy() > 0)
    order = np.argsort(m["recv_ts_ms"].to_numpy(np.int64), kind="stable")
    out: dict[str, tuple[list[int], list[float]]] = {}
    coin, ts = m["coin"].astype(str).to_numpy(), m["recv_ts_ms"].to_numpy(np.int64)
    for c in COINS:
        keep = order[(coin[order] == c) & two[order]]
        out[c] = (ts[keep].tolist(), (0.5 * (bid[keep] + ask[keep])).tolist())
    return out


def _vol_oracle(mids: dict[str, tuple[list[int], list[float]]], coin: str,
                at_ms: int) -> float | None:
    """The definition written out: EWMA (weight VOL_ALPHA) of |mid change| in bps over every
    two-sided snapshot of `coin` received at or before `at_ms`, in receive order."""
    v = old = None
    for ts, mid in zip(*mids[coin], strict=True):
        if ts > at_ms:
            break
        if old:
            move = abs(mid - old) / old * BPS
            v = move if v is None else v + VOL_ALPHA * (move - v)
        old = mid
    return v


def _entries(outs: list[Out]) -> list[tuple[str, dict[str, Any]]]:
    """(coin, exec_metrics) of each entry that got as far as its context."""
    return [(o.data["symbol"], o.data["exec_metrics"]) for o in outs
            if o.kind == "exec_report" and o.data["exec_metrics"]["purpose"] == "entry"
            and o.data["exec_metrics"]["context"]]


def test_replay_and_live_give_equal_outputs_vol_bps_included(
        recorded: tuple[FeedDay, list[Any]]) -> None:
    day, events = recorded
    decs = _decisions(day, hinted=True)
    replayed, held = _replayed(day, decs, None)
    live, every = _lived(events, decs, None)
    n_books = len(day.books.meta)
    assert every.handed == n_books and held.handed < n_books // 2, (
        "the replay must hold most snapshots back and the live run hand every one over")
    assert sum(o.kind == "fill" for o in replayed) > 10
    assert [(o.kind, o.data) for o in live] == [(o.kind, o.data) for o in replayed]
    entries = _entries(replayed)
    assert len(entries) >= 8
    mids = _mids(day)
    for coin, m in entries:  # the context is the definition's value, from every snapshot
        want = _vol_oracle(mids, coin, m["started_ms"])
        assert want is not None and m["context"]["vol_bps"] == pytest.approx(
            want, rel=1e-12, abs=1e-9), (coin, m)  # the report rounds to 1e-9


def test_tr_priors_choose_the_same_order_live_and_nightly_by_the_vol_band(
        recorded: tuple[FeedDay, list[Any]]) -> None:
    """A priors version (as `tr_priors` compiles it: a patch row and the fitted vol edges)
    that prefers a limit order when vol is hot. The upper edge sits at the median of the
    entries' vol, so about half choose limit; live and nightly choose alike."""
    day, events = recorded
    decs = _decisions(day, hinted=False)
    mids = _mids(day)
    vols = sorted(v for d in decs for c in d.ticket["targets"]
                  if (v := _vol_oracle(mids, c, d.ts_ms)) is not None)
    hi = vols[len(vols) // 2]
    cfg = load_exec_learning()[0]
    priors = TrPriors.from_rows(3, {"patch/*/vol=hot/order": 1.0, "edge/vol_bps/0": hi / 2,
                                    "edge/vol_bps/1": hi}, cfg)
    replayed, _ = _replayed(day, decs, priors)
    live, _ = _lived(events, decs, priors)
    assert [(o.kind, o.data) for o in live] == [(o.kind, o.data) for o in replayed]
    entries = [m for _, m in _entries(replayed) if m["context"]["vol_bps"] is not None]
    hot = [m["context"]["vol_bps"] > hi for m in entries]
    assert any(hot) and not all(hot), "the edge must split the entries"
    for m, is_hot in zip(entries, hot, strict=True):
        assert m["order"] == ("limit" if is_hot else "market"), m
        assert m["tr_choice"] == ({"order": "limit"} if is_hot else {}), m
        assert m["tr_priors_version"] == 3


def test_a_restarted_live_engine_goes_on_from_the_same_vol(
        recorded: tuple[FeedDay, list[Any]]) -> None:
    """The daemon checkpoints the engine and a restart restores it: the volatility state
    (`vol`, `vol_mid`) is in the snapshot, so the reports after the restart carry the
    vol_bps of a run that never stopped."""
    day, events = recorded
    decs = _decisions(day, hinted=True)
    whole, _ = _lived(events, decs, None)
    cut = len(events) // 2
    cut_ts = int(getattr(events[cut], "ts_ms", 0))
    first, engine = _lived(events[:cut], [d for d in decs if d.ts_ms < cut_ts], None)
    snap = json.loads(json.dumps(engine.snapshot()))
    assert set(snap["vol_mid"]) == set(COINS)
    again = _Counted.restore(SETTINGS, snap)
    assert isinstance(again, _Counted)
    second, _ = _lived(events[cut:], [d for d in decs if d.ts_ms >= cut_ts], None, again)
    after = [m["context"]["vol_bps"] for _, m in _entries(second)]
    assert len(after) >= 4 and all(v is not None for v in after)
    assert [m["context"] for _, m in _entries(first + second)] == [
        m["context"] for _, m in _entries(whole)]
