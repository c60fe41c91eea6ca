"""The synthetic market generator: determinism, wire format, planted patterns and effects.

Every test reads real files written by `generate_day` into tmp dirs; generation is kept
to 1-hour windows so the whole module runs in well under half a minute.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from lotus_core.feed.parse import parse_recording
from lotus_core.synth import (
    TRUTH_SCHEMA_VERSION,
    DecoySpec,
    EffectSpec,
    SpecError,
    SynthSpec,
    default_spec,
    generate_day,
    generate_days,
    load_spec,
    null_spec,
)
from lotus_core.synth.coins import coin_profile
from lotus_core.time import day_start_ms
from lotus_core.venues.hyperliquid.numfmt import is_valid_price, is_valid_size
from tests.helpers import REAL_RECORDING

DAY = date(2025, 1, 6)  # a Monday
COINS = ["BTC", "ETH", "SOL"]
HOURS = (14, 15)
SEED = 11
DELTA_BPS = 20.0
HEX64 = re.compile(r"^0x[0-9a-f]{64}$")
ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")

DENSE_RATES = {"sweep": 3.0, "sweep_then_stall": 9.0, "depth_vacuum": 2.0, "wick_triplet": 1.5,
               "funding_shock": 1.5, "oi_shock": 1.5}


def dense_spec(effects: bool = True) -> SynthSpec:
    """Many triggers and fast-switching contexts, so one hour holds enough of everything."""
    effect = EffectSpec(name="stall_high_oi", trigger="sweep_then_stall",
                        context={"oi_high": True}, direction="with_trigger",
                        delta_bps=DELTA_BPS, horizon_s=60.0)
    return SynthSpec(pattern_rate_per_hour=DENSE_RATES, context_minutes=(4.0, 10.0),
                     effects=(effect,) if effects else (),
                     decoys=(DecoySpec(name="funding_high", tracks="oi_high", agreement=0.8),))


# --- reading a recording back ------------------------------------------------------------


def read_lines(path: Path) -> list[bytes]:
    with gzip.open(path) as fh:
        return fh.read().splitlines()


@dataclass
class CoinTape:
    """One coin's messages from a recording, parsed to floats (validity is checked apart)."""

    books: list[tuple[int, bool, list[tuple[float, float]], list[tuple[float, float]]]] = (
        field(default_factory=list))
    trades: list[tuple[int, int, float, float]] = field(default_factory=list)
    candles: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    ctx: list[tuple[int, float, float]] = field(default_factory=list)  # recv ms, OI, funding

    def mid(self) -> tuple[np.ndarray, np.ndarray]:
        fast = [(t, (b[0][0] + a[0][0]) / 2) for t, is_fast, b, a in self.books if is_fast]
        return np.array([f[0] for f in fast]), np.array([f[1] for f in fast])


def mid_at(times: np.ndarray, mids: np.ndarray, t_ms: int) -> float:
    return float(mids[max(0, np.searchsorted(times, t_ms, side="right") - 1)])


def read_tapes(path: Path) -> dict[str, CoinTape]:
    tapes: dict[str, CoinTape] = defaultdict(CoinTape)
    for line in read_lines(path):
        record = orjson.loads(line)
        msg = record["msg"]
        if not isinstance(msg, dict) or "data" not in msg:
            continue
        data = msg["data"]
        if msg["channel"] == "l2Book":
            side = [[(float(lv["px"]), float(lv["sz"])) for lv in s] for s in data["levels"]]
            tapes[data["coin"]].books.append(
                (data["time"], bool(data.get("fast")), side[0], side[1]))
        elif msg["channel"] == "trades":
            for t in data:
                tapes[t["coin"]].trades.append(
                    (t["time"], 1 if t["side"] == "B" else -1, float(t["px"]), float(t["sz"])))
        elif msg["channel"] == "candle":
            tapes[data["s"]].candles[data["t"]] = tuple(  # last push wins: the closed candle
                float(data[k]) for k in ("o", "h", "l", "c"))
        elif msg["channel"] == "activeAssetCtx":
            ctx = data["ctx"]
            tapes[data["coin"]].ctx.append(
                (record["recv_ts_ms"], float(ctx["openInterest"]), float(ctx["funding"])))
    return tapes


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dense_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dense")
    feed, truth = generate_day(out, DAY, COINS, SEED, dense_spec(), hours=HOURS)
    return feed, truth


@pytest.fixture(scope="module")
def truth(dense_day: tuple[Path, Path]) -> dict[str, Any]:
    return json.loads(dense_day[1].read_text())


@pytest.fixture(scope="module")
def tapes(dense_day: tuple[Path, Path]) -> dict[str, CoinTape]:
    return read_tapes(dense_day[0])


# --- determinism -------------------------------------------------------------------------


def test_same_inputs_give_identical_bytes(dense_day: tuple[Path, Path], tmp_path: Path) -> None:
    again = generate_day(tmp_path, DAY, COINS, SEED, dense_spec(), hours=HOURS)
    assert [p.name for p in again] == [p.name for p in dense_day]
    for first, second in zip(dense_day, again, strict=True):
        assert first.read_bytes() == second.read_bytes()
    raw = dense_day[0].read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[3] == 0  # gzip, no FNAME flag
    assert raw[4:8] == b"\0\0\0\0"  # mtime 0


def test_different_seed_differs(dense_day: tuple[Path, Path], tmp_path: Path) -> None:
    other, _ = generate_day(tmp_path, DAY, ["SOL"], SEED + 1, dense_spec(), hours=HOURS)
    mine, _ = generate_day(tmp_path / "same", DAY, ["SOL"], SEED, dense_spec(), hours=HOURS)
    assert gzip.decompress(other.read_bytes()) != gzip.decompress(mine.read_bytes())


def test_window_reproduces_the_same_hour_of_a_longer_run(tmp_path: Path) -> None:
    long_feed, long_truth = generate_day(tmp_path / "a", DAY, ["SOL"], SEED, dense_spec(),
                                         hours=(3, 5))
    short_feed, short_truth = generate_day(tmp_path / "b", DAY, ["SOL"], SEED, dense_spec(),
                                           hours=(4, 5))
    start = json.loads(short_truth.read_text())["window"]["start_ms"]

    def data_msgs(path: Path) -> list[bytes]:
        out = []
        for line in read_lines(path):
            msg = orjson.loads(line)["msg"]
            data = msg.get("data") if isinstance(msg, dict) else None
            if isinstance(data, dict) and data.get("time", data.get("t", 0)) >= start:
                out.append(orjson.dumps(msg))
        return out

    assert data_msgs(long_feed) == data_msgs(short_feed)
    long_patterns = json.loads(long_truth.read_text())["per_coin"]["SOL"]["patterns"]
    short_patterns = json.loads(short_truth.read_text())["per_coin"]["SOL"]["patterns"]
    assert [p for p in long_patterns if p["start_ms"] >= start] == short_patterns


# --- wire format -------------------------------------------------------------------------


def _level_ok(level: dict[str, Any], szd: int) -> None:
    assert list(level) == ["px", "sz", "n"]
    assert is_valid_price(level["px"], szd), level
    assert is_valid_size(level["sz"], szd), level
    assert isinstance(level["n"], int) and level["n"] >= 1


def _check_book(data: dict[str, Any], szd: int) -> None:
    fast = data.get("fast", False)
    assert list(data) == ["coin", "time", "levels"] + (["fast"] if fast else [])
    assert fast in (True, False) and isinstance(data["time"], int)
    bids, asks = data["levels"]
    assert len(bids) == len(asks) == (5 if fast else 20)
    for level in bids + asks:
        _level_ok(level, szd)
    bid_px = [Decimal(lv["px"]) for lv in bids]
    ask_px = [Decimal(lv["px"]) for lv in asks]
    assert bid_px == sorted(bid_px, reverse=True) and len(set(bid_px)) == len(bid_px)
    assert ask_px == sorted(ask_px) and len(set(ask_px)) == len(ask_px)
    assert bid_px[0] < ask_px[0]


def _check_trade(trade: dict[str, Any], szd: int) -> None:
    assert list(trade) == ["coin", "side", "px", "sz", "time", "hash", "tid", "users"]
    assert trade["side"] in ("A", "B")
    assert is_valid_price(trade["px"], szd) and is_valid_size(trade["sz"], szd)
    assert HEX64.match(trade["hash"])
    assert isinstance(trade["tid"], int) and 0 < trade["tid"] < 2**50
    assert len(trade["users"]) == 2 and all(ADDRESS.match(u) for u in trade["users"])


def _check_ctx(ctx: dict[str, Any], szd: int) -> None:
    assert list(ctx) == ["funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium",
                         "oraclePx", "markPx", "midPx", "impactPxs", "dayBaseVlm"]
    for key in ("funding", "openInterest", "dayNtlVlm", "premium", "midPx", "dayBaseVlm"):
        assert isinstance(ctx[key], str)
        Decimal(ctx[key])
    for key in ("prevDayPx", "oraclePx", "markPx"):
        assert is_valid_price(ctx[key], szd)
    assert len(ctx["impactPxs"]) == 2 and all(is_valid_price(p, szd) for p in ctx["impactPxs"])
    assert Decimal(ctx["impactPxs"][0]) < Decimal(ctx["impactPxs"][1])


def _check_candle(data: dict[str, Any], szd: int) -> None:
    assert list(data) == ["t", "T", "s", "i", "o", "c", "h", "l", "v", "n"]
    assert data["i"] == "1m" and data["T"] == data["t"] + 59_999 and data["t"] % 60_000 == 0
    o, c, h, low = (Decimal(data[k]) for k in ("o", "c", "h", "l"))
    assert all(is_valid_price(data[k], szd) for k in ("o", "c", "h", "l"))
    assert low <= min(o, c) <= max(o, c) <= h
    assert is_valid_size(data["v"], szd) and isinstance(data["n"], int) and data["n"] >= 1


def check_recording(path: Path, coins: list[str]) -> dict[str, int]:
    """Assert every line has the contract's shape; returns message counts per channel."""
    records = [orjson.loads(line) for line in read_lines(path)]
    assert records[0]["msg"] == "Websocket connection established."
    szd = {coin: coin_profile(coin).sz_decimals for coin in coins}
    seen: dict[str, int] = defaultdict(int)
    acks = set()
    tids: set[int] = set()
    fills = 0
    recv = [r["recv_ts_ms"] for r in records]
    assert all(isinstance(t, int) for t in recv) and recv == sorted(recv)
    day_start = day_start_ms(date.fromisoformat(path.name[:10]))
    assert day_start <= recv[0] and recv[-1] < day_start + 86_400_000
    for rec in records[1:]:
        assert list(rec) == ["recv_ts_ms", "msg"]
        msg = rec["msg"]
        channel = msg["channel"]
        seen[channel] += 1
        if channel == "pong":
            assert msg == {"channel": "pong"}
            continue
        data = msg["data"]
        if channel == "subscriptionResponse":
            sub = data["subscription"]
            acks.add((sub["type"], sub["coin"], sub.get("fast", False)))
        elif channel == "l2Book":
            _check_book(data, szd[data["coin"]])
            assert rec["recv_ts_ms"] > data["time"]
        elif channel == "trades":
            assert len({t["coin"] for t in data}) == 1 and len({t["time"] for t in data}) == 1
            for trade in data:
                _check_trade(trade, szd[trade["coin"]])
                tids.add(trade["tid"])
                fills += 1
        elif channel == "bbo":
            assert list(data) == ["coin", "time", "bbo"]
            for level in data["bbo"]:
                _level_ok(level, szd[data["coin"]])
            assert Decimal(data["bbo"][0]["px"]) < Decimal(data["bbo"][1]["px"])
        elif channel == "activeAssetCtx":
            assert list(data) == ["coin", "ctx"]
            _check_ctx(data["ctx"], szd[data["coin"]])
        elif channel == "candle":
            _check_candle(data, szd[data["s"]])
        else:
            pytest.fail(f"unexpected channel {channel}")
    assert len(tids) == fills, "trade ids must be unique"
    assert acks == {(kind, coin, fast) for coin in coins
                    for kind, fast in [("l2Book", False), ("l2Book", True), ("trades", False),
                                       ("bbo", False), ("activeAssetCtx", False),
                                       ("candle", False)]}
    return dict(seen)


def test_every_line_has_the_contract_shape(dense_day: tuple[Path, Path]) -> None:
    seen = check_recording(dense_day[0], COINS)
    per_hour = {k: v / len(COINS) for k, v in seen.items()}
    assert 7000 <= per_hour["l2Book"] <= 8000  # 7200 fast + 720 slow per coin-hour
    assert 1150 <= per_hour["activeAssetCtx"] <= 1250
    assert per_hour["trades"] > 500 and per_hour["candle"] > 60 and per_hour["bbo"] > 500
    assert seen["pong"] >= 110


def test_the_project_feed_parser_accepts_every_line(dense_day: tuple[Path, Path]) -> None:
    feed = parse_recording(dense_day[0])
    assert feed.dead == []
    assert {coin for _, coin in feed.counts} == set(COINS)


def test_real_frame_shapes_match_ours() -> None:
    """Our keys are the contract's; the real sample's keys (sorted) are the same set."""
    real = REAL_RECORDING  # the real sample, copied into the repo with its licence
    for line in read_lines(real):
        msg = orjson.loads(line)["msg"]
        if msg["channel"] == "trades":
            assert set(msg["data"][0]) == {"coin", "side", "px", "sz", "time", "hash", "tid",
                                           "users"}
        elif msg["channel"] == "l2Book":
            assert set(msg["data"]["levels"][0][0]) == {"px", "sz", "n"}


# --- truth file --------------------------------------------------------------------------


def test_truth_layout(truth: dict[str, Any], dense_day: tuple[Path, Path]) -> None:
    assert truth["truth_schema_version"] == TRUTH_SCHEMA_VERSION
    assert truth["coins"] == COINS and truth["hours"] == list(HOURS) and truth["seed"] == SEED
    assert SynthSpec.from_dict(truth["spec"]) == dense_spec()
    assert truth["feed"]["file"] == dense_day[0].name
    canonical = orjson.dumps(truth, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
    assert dense_day[1].read_bytes() == canonical  # sorted keys, fixed layout
    start, end = truth["window"]["start_ms"], truth["window"]["end_ms"]
    for coin in COINS:
        ct = truth["per_coin"][coin]
        assert ct["regimes"][0]["start_ms"] == start and ct["regimes"][-1]["end_ms"] == end
        assert {s["regime"] for s in ct["regimes"]} <= {"quiet", "trend", "chop"}
        assert set(ct["contexts"]) == {"oi_high", "funding_high"}
        ids = [p["id"] for p in ct["patterns"]]
        assert len(set(ids)) == len(ids)
        for p in ct["patterns"]:
            assert start <= p["start_ms"] < p["end_ms"] <= end and p["coin"] == coin
        for e in ct["effects"]:
            assert e["trigger_id"] in ids and e["effect"] == "stall_high_oi"
            assert e["context_held"] == e["context_state"]["oi_high"]


def test_every_pattern_type_occurs(truth: dict[str, Any]) -> None:
    types = {p["type"] for ct in truth["per_coin"].values() for p in ct["patterns"]}
    assert types == set(DENSE_RATES)


def _patterns(truth: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(coin, p) for coin, ct in truth["per_coin"].items() for p in ct["patterns"]
            if p["type"] == kind]


# --- planted signatures ------------------------------------------------------------------


def test_sweeps_walk_the_book_on_one_side(truth: dict[str, Any],
                                          tapes: dict[str, CoinTape]) -> None:
    sweeps = _patterns(truth, "sweep")
    assert len(sweeps) >= 6
    for coin, p in sweeps:
        trades = np.array(tapes[coin].trades)
        inside = trades[(trades[:, 0] >= p["start_ms"]) & (trades[:, 0] < p["end_ms"])]
        normal_per_s = trades[:, 3].sum() / 3600
        assert set(inside[:, 1]) == {p["direction"]}
        assert len(set(inside[:, 2])) >= 3
        prices = inside[:, 2] * p["direction"]
        assert np.all(np.diff(prices) >= 0), "a sweep walks away from the touch"
        assert inside[:, 3].sum() > 20 * normal_per_s


def test_stalls_are_flat_and_quiet(truth: dict[str, Any], tapes: dict[str, CoinTape]) -> None:
    stalls = _patterns(truth, "sweep_then_stall")
    assert len(stalls) >= 10
    for coin, p in stalls:
        times, mids = tapes[coin].mid()
        a, b = p["stall_start_ms"] + 500, p["stall_end_ms"]
        window = mids[(times >= a) & (times < b)]
        assert (window.max() - window.min()) / window.mean() * 1e4 < 0.25 * p["move_bps"]
        trades = np.array(tapes[coin].trades)
        during = ((trades[:, 0] >= a) & (trades[:, 0] < b)).sum()
        assert during <= 0.3 * len(trades) / 3600 * (b - a) / 1000 + 2


def test_depth_vacuum_collapses_top_of_book(truth: dict[str, Any],
                                            tapes: dict[str, CoinTape]) -> None:
    vacuums = _patterns(truth, "depth_vacuum")
    assert vacuums
    for coin, p in vacuums:
        books = tapes[coin].books
        top5 = np.array([sum(s for _, s in b[:5]) + sum(s for _, s in a[:5])
                         for _, _, b, a in books])
        times = np.array([bk[0] for bk in books])
        inside = (times >= p["start_ms"]) & (times < p["end_ms"])
        assert inside.sum() >= 8
        assert top5[inside].max() <= 0.2 * np.median(top5)
        spreads = [(bk[3][0][0] - bk[2][0][0]) for bk, k in zip(books, inside, strict=True) if k]
        normal = np.median([bk[3][0][0] - bk[2][0][0] for bk in books])
        assert min(spreads) >= 2.5 * normal


def test_wick_triplets_leave_three_long_wicks(truth: dict[str, Any],
                                              tapes: dict[str, CoinTape]) -> None:
    triplets = _patterns(truth, "wick_triplet")
    assert triplets
    for coin, p in triplets:
        candles = tapes[coin].candles
        ranges = np.median([(h - low) / o * 1e4 for o, h, low, _ in candles.values()])
        for spike in p["spikes"]:
            o, h, low, c = candles[spike["minute_ms"]]
            wick = h - max(o, c) if p["direction"] > 0 else min(o, c) - low
            wick_bps = wick / o * 1e4
            assert wick_bps >= 0.5 * spike["wick_bps"]
            assert wick_bps >= 1.5 * ranges


def test_funding_and_oi_shocks_are_steps(truth: dict[str, Any],
                                         tapes: dict[str, CoinTape]) -> None:
    for kind, col, key, relative in (("oi_shock", 1, "oi_step_rel", True),
                                     ("funding_shock", 2, "funding_step", False)):
        shocks = _patterns(truth, kind)
        assert shocks
        for coin, p in shocks:
            rows = np.array(tapes[coin].ctx)  # ctx frames carry no venue time: use recv time
            before = rows[rows[:, 0] < p["start_ms"]][-1, col]
            after = rows[rows[:, 0] >= p["start_ms"] + 1000][0, col]
            step = (after / before - 1) if relative else after - before
            assert np.sign(step) == p["direction"] and abs(step) >= 0.8 * abs(p[key])
            changes = np.abs(np.diff(rows[:, col]) / (rows[:-1, col] if relative else 1))
            assert np.percentile(changes, 99) < 0.1 * abs(p[key])


# --- contexts, decoys, effects -----------------------------------------------------------


def _settled(truth: dict[str, Any], coin: str, name: str, times: np.ndarray) -> np.ndarray:
    """+1 / -1 where the context has held for 5 minutes (its ramp is done), else 0."""
    out = np.zeros(len(times))
    for seg in truth["per_coin"][coin]["contexts"][name]:
        inside = (times >= seg["start_ms"] + 300_000) & (times < seg["end_ms"])
        out[inside] = 1 if seg["value"] else -1
    return out


def test_contexts_are_visible_in_open_interest_and_funding(truth: dict[str, Any],
                                                           tapes: dict[str, CoinTape]) -> None:
    for coin in COINS:
        rows = np.array(tapes[coin].ctx)
        for name, col, gap in (("oi_high", 1, None), ("funding_high", 2, 2.0e-5)):
            state = _settled(truth, coin, name, rows[:, 0])
            if not (state > 0).any() or not (state < 0).any():
                continue
            high, low = np.median(rows[state > 0, col]), np.median(rows[state < 0, col])
            assert high - low > (gap if gap is not None else 0.03 * low), (coin, name)


def _state(coin_truth: dict[str, Any], name: str, times: np.ndarray) -> np.ndarray:
    out = np.zeros(len(times), dtype=bool)
    for seg in coin_truth["contexts"][name]:
        out[(times >= seg["start_ms"]) & (times < seg["end_ms"])] = seg["value"]
    return out


def test_decoy_agrees_with_what_it_tracks(truth: dict[str, Any]) -> None:
    for ct in truth["per_coin"].values():
        decoy = ct["decoys"]["funding_high"]
        assert decoy["tracks"] == "oi_high" and decoy["agreement_target"] == 0.8
        assert abs(decoy["agreement_realised"] - 0.8) < 0.01
        start, end = truth["window"]["start_ms"], truth["window"]["end_ms"]
        grid = np.arange(start, end, 1000)
        agree = np.mean(_state(ct, "oi_high", grid) == _state(ct, "funding_high", grid))
        assert abs(agree - 0.8) < 0.01  # recomputed from the segments themselves


def _forward_moves(truth: dict[str, Any], tapes: dict[str, CoinTape]
                   ) -> tuple[list[float], list[float]]:
    """Signed forward mid move (bps) after each stall, split by whether oi_high held."""
    held, not_held = [], []
    for coin, p in _patterns(truth, "sweep_then_stall"):
        times, mids = tapes[coin].mid()
        t0, t1 = p["end_ms"], p["end_ms"] + 60_000
        move = (mid_at(times, mids, t1) / mid_at(times, mids, t0) - 1) * 1e4 * p["direction"]
        segs = truth["per_coin"][coin]["contexts"]["oi_high"]
        ctx = next(s["value"] for s in segs if s["start_ms"] <= t0 < s["end_ms"])
        (held if ctx else not_held).append(move)
    return held, not_held


def test_planted_effect_is_visible(truth: dict[str, Any], tapes: dict[str, CoinTape]) -> None:
    held, not_held = _forward_moves(truth, tapes)
    assert len(held) >= 5 and len(not_held) >= 5
    uplift = np.mean(held) - np.mean(not_held)
    assert DELTA_BPS * 0.6 <= uplift <= DELTA_BPS * 1.4, (uplift, held, not_held)
    effects = [e for ct in truth["per_coin"].values() for e in ct["effects"]]
    assert {e["context_held"] for e in effects} == {True, False}
    assert all(e["applied_bps"] == (e["direction"] * DELTA_BPS if e["context_held"] else 0.0)
               for e in effects)


def test_null_spec_plants_no_effect(tmp_path: Path) -> None:
    feed, truth_path = generate_day(tmp_path, DAY, COINS, SEED, dense_spec(effects=False),
                                    hours=HOURS)
    truth = json.loads(truth_path.read_text())
    assert all(ct["effects"] == [] for ct in truth["per_coin"].values())
    held, not_held = _forward_moves(truth, read_tapes(feed))
    assert abs(np.mean(held) - np.mean(not_held)) < 0.4 * DELTA_BPS


# --- spec --------------------------------------------------------------------------------


def test_default_and_null_specs() -> None:
    spec = default_spec()
    assert [e.trigger for e in spec.effects] == ["sweep_then_stall"]
    assert [d.name for d in spec.decoys] == ["funding_high"]
    assert null_spec().effects == () and null_spec().decoys == spec.decoys
    assert SynthSpec.from_dict(spec.to_dict()) == spec


def test_spec_loads_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "effects:\n"
        "  - name: sweep_stall_high_oi\n"
        "    trigger: sweep_then_stall\n"
        "    context: {oi_high: true}\n"
        "    direction: with_trigger\n"
        "    delta_bps: 8.0\n"
        "    horizon_s: 60\n"
        "decoys:\n"
        "  - {name: funding_high, tracks: oi_high, agreement: 0.8}\n")
    assert load_spec(path) == default_spec()
    json_path = tmp_path / "spec.json"
    json_path.write_text(json.dumps(null_spec().to_dict()))
    assert load_spec(json_path) == null_spec()


@pytest.mark.parametrize(("patch", "key"), [
    ({"effects": [{"direction": "sideways"}]}, "effects[0].direction"),
    ({"effects": [{"trigger": "moonshot"}]}, "effects[0].trigger"),
    ({"effects": [{"context": {"funding_high": True}}]}, "effects[0].context.funding_high"),
    ({"effects": [{"context": {"vix_high": True}}]}, "effects[0].context"),
    ({"effects": [{"horizon_s": -5}]}, "effects[0].horizon_s"),
    ({"effects": [{"delta_bps": "big"}]}, "effects[0].delta_bps"),
    ({"effects": [{"colour": "red"}]}, "effects[0].colour"),
    ({"decoys": [{"agreement": 1.5}]}, "decoys[0].agreement"),
    ({"decoys": [{"tracks": "funding_high"}]}, "decoys[0].tracks"),
    ({"pattern_rate_per_hour": {"sweep": -1}}, "pattern_rate_per_hour.sweep"),
    ({"pattern_rate_per_hour": {"spoof": 1}}, "pattern_rate_per_hour.spoof"),
    ({"context_minutes": [90, 20]}, "context_minutes"),
    ({"extra": 1}, "spec.extra"),
])
def test_bad_spec_names_the_key(patch: dict[str, Any], key: str) -> None:
    raw = default_spec().to_dict()
    for section, value in patch.items():
        if section in ("effects", "decoys"):
            raw[section] = [{**raw[section][0], **value[0]}]
        elif section == "pattern_rate_per_hour":
            raw[section] = {**raw[section], **value}
        else:
            raw[section] = value
    with pytest.raises(SpecError) as err:
        SynthSpec.from_dict(raw)
    assert str(err.value).startswith(key), str(err.value)


def test_effect_on_an_undirected_trigger_needs_a_fixed_direction() -> None:
    effect = {"name": "e", "trigger": "depth_vacuum", "context": {},
              "direction": "with_trigger", "delta_bps": 5.0, "horizon_s": 30.0}
    with pytest.raises(ValidationError, match="direction: depth_vacuum has no side"):
        EffectSpec(**effect)
    with pytest.raises(SpecError, match=r"effects\[0\]\.direction"):
        SynthSpec.from_dict({**default_spec().to_dict(), "effects": [effect]})
    with pytest.raises(ValidationError, match=r"effects\[0\]\.context\.funding_high"):
        default_spec().replace(effects=(default_spec().effects[0].replace(
            context={"funding_high": True}),))


def test_generate_days_writes_consecutive_days(tmp_path: Path) -> None:
    messages: list[str] = []
    coins = ["DOGE", "ZZZ"]  # sizes without decimals; a coin outside the table
    paths = generate_days(tmp_path, date(2025, 1, 4), 2, coins, 3, null_spec(),
                          hours=(23, 24), progress=messages.append)
    assert [p.name for p in paths] == ["2025-01-04.jsonl.gz", "2025-01-04.truth.json",
                                       "2025-01-05.jsonl.gz", "2025-01-05.truth.json"]
    assert len(messages) == 2
    check_recording(paths[0], coins)
    assert parse_recording(paths[2]).dead == []  # incl. the last messages before midnight
    first, second = (json.loads(p.read_text())["per_coin"]["ZZZ"]["params"]
                     for p in paths[1::2])
    assert first["close_px"] == pytest.approx(second["open_px"])
    _, mids = read_tapes(paths[0])["ZZZ"].mid()  # the day ends where the next one opens
    assert abs(mids[-1] / first["close_px"] - 1) < 5e-4
    with pytest.raises(ValueError, match="hours"):
        generate_day(tmp_path, DAY, ["BTC"], 1, null_spec(), hours=(5, 5))
    with pytest.raises(ValueError, match="coins"):
        generate_day(tmp_path, DAY, ["BTC", "BTC"], 1, null_spec())


def test_generate_days_in_two_processes_writes_the_same_bytes(tmp_path: Path) -> None:
    """Days are independent: `workers=2` (what `lotus fixtures ensure` uses) is byte-equal."""
    one = generate_days(tmp_path / "one", date(2025, 1, 4), 2, ["SOL"], 5, null_spec(),
                        hours=(3, 4))
    two = generate_days(tmp_path / "two", date(2025, 1, 4), 2, ["SOL"], 5, null_spec(),
                        hours=(3, 4), workers=2)
    assert [p.name for p in one] == [p.name for p in two]
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
