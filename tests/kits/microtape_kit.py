"""FeedDay builders for tests and benchmarks: tiny hand-made days and a seeded random day.

Hand-made days (`book`, `trade`, `make_feed`) let a test state an exact answer. The random
day is not a market model (lotus_core.synth is); it only has to exercise every code path —
fast and slow books, bbo, replayed and multi-level trades, late candle updates, context —
at realistic volumes, quickly and reproducibly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from lotus_core.feed.tables import MAX_LEVELS, BookFrames, FeedDay

Level = tuple[float, float]

_DTYPES = {
    "trades": {"recv_ts_ms": "int64", "coin": "str", "time_ms": "int64", "side": "int8",
               "px": "float64", "sz": "float64", "tid": "int64"},
    "bbo": {"recv_ts_ms": "int64", "coin": "str", "time_ms": "int64", "bid_px": "float64",
            "bid_sz": "float64", "ask_px": "float64", "ask_sz": "float64"},
    "ctx": {"recv_ts_ms": "int64", "coin": "str", "funding": "float64",
            "open_interest": "float64", "oracle_px": "float64", "mark_px": "float64",
            "mid_px": "float64", "premium": "float64"},
    "candles": {"recv_ts_ms": "int64", "coin": "str", "interval": "str", "t_open_ms": "int64",
                "t_close_ms": "int64", "o": "float64", "h": "float64", "l": "float64",
                "c": "float64", "v": "float64", "n": "int64"},
}
_CHANNEL = {"trades": "trades", "bbo": "bbo", "ctx": "activeAssetCtx", "candles": "candle"}


def book(recv: int, bids: Sequence[Level], asks: Sequence[Level], coin: str = "BTC",
         fast: bool = False, time: int | None = None) -> dict:
    """One l2Book snapshot; levels best first as (px, sz)."""
    return {"recv_ts_ms": recv, "coin": coin, "time_ms": recv - 100 if time is None else time,
            "fast": fast, "bids": list(bids), "asks": list(asks)}


def trade(recv: int, side: int, px: float, sz: float, coin: str = "BTC",
          time: int | None = None, tid: int = 0) -> dict:
    """One trade; side +1 buyer aggressor, -1 seller."""
    return {"recv_ts_ms": recv, "coin": coin, "time_ms": recv - 100 if time is None else time,
            "side": side, "px": px, "sz": sz, "tid": tid}


def bbo(recv: int, bid: Level | None, ask: Level | None, coin: str = "BTC") -> dict:
    nan = (np.nan, np.nan)
    (bp, bs), (ap, asz) = bid or nan, ask or nan
    return {"recv_ts_ms": recv, "coin": coin, "time_ms": recv - 100, "bid_px": bp,
            "bid_sz": bs, "ask_px": ap, "ask_sz": asz}


def ctx(recv: int, coin: str = "BTC", funding: float = 1e-5, open_interest: float = 1000.0,
        oracle_px: float = 100.0, mark_px: float = 100.0, premium: float = 0.0) -> dict:
    return {"recv_ts_ms": recv, "coin": coin, "funding": funding,
            "open_interest": open_interest, "oracle_px": oracle_px, "mark_px": mark_px,
            "mid_px": mark_px, "premium": premium}


def candle(recv: int, t_open: int, o: float, h: float, low: float, c: float,
           coin: str = "BTC", interval: str = "1m") -> dict:
    return {"recv_ts_ms": recv, "coin": coin, "interval": interval, "t_open_ms": t_open,
            "t_close_ms": t_open + 59_999, "o": o, "h": h, "l": low, "c": c, "v": 1.0, "n": 1}


def frame(rows: Iterable[dict], table: str) -> pd.DataFrame:
    """A FeedDay table with the parser's dtypes, in receive order (stable)."""
    dtypes = _DTYPES[table]
    rows = list(rows)
    df = pd.DataFrame(rows, columns=list(dtypes)) if rows else pd.DataFrame(
        {k: pd.Series(dtype=v) for k, v in dtypes.items()})
    df = df.astype(dtypes)
    return df.sort_values("recv_ts_ms", kind="stable").reset_index(drop=True)


def book_frames(frames: Sequence[dict]) -> BookFrames:
    """BookFrames from `book(...)` dicts, in receive order (stable)."""
    frames = sorted(frames, key=lambda f: f["recv_ts_ms"])
    n = len(frames)
    mats = [np.full((n, MAX_LEVELS), np.nan) for _ in range(4)]
    for i, f in enumerate(frames):
        for side, (px, sz) in ((f["bids"], (mats[0], mats[1])), (f["asks"], (mats[2], mats[3]))):
            for j, (p, s) in enumerate(side[:MAX_LEVELS]):
                px[i, j], sz[i, j] = p, s
    meta = pd.DataFrame({
        "recv_ts_ms": pd.Series([f["recv_ts_ms"] for f in frames], dtype="int64"),
        "coin": pd.Series([f["coin"] for f in frames], dtype="str"),
        "time_ms": pd.Series([f["time_ms"] for f in frames], dtype="int64"),
        "fast": pd.Series([f["fast"] for f in frames], dtype="bool"),
        "n_bid": pd.Series([min(len(f["bids"]), MAX_LEVELS) for f in frames], dtype="int16"),
        "n_ask": pd.Series([min(len(f["asks"]), MAX_LEVELS) for f in frames], dtype="int16"),
    })
    return BookFrames(meta, *mats)


def make_feed(books: Sequence[dict] = (), trades: Sequence[dict] = (),
              bbos: Sequence[dict] = (), ctxs: Sequence[dict] = (),
              candles: Sequence[dict] = (), day: str = "test") -> FeedDay:
    """A FeedDay from row dicts (see `book`, `trade`, `bbo`, `ctx`, `candle`)."""
    bf = book_frames(books)
    tables = {"trades": frame(trades, "trades"), "bbo": frame(bbos, "bbo"),
              "ctx": frame(ctxs, "ctx"), "candles": frame(candles, "candles")}
    return assemble(bf, tables, day)


def assemble(bf: BookFrames, tables: dict[str, pd.DataFrame], day: str) -> FeedDay:
    counts: Counter = Counter()
    for coin, n in bf.meta["coin"].value_counts().items():
        counts[("l2Book", str(coin))] = int(n)
    for name, df in tables.items():
        for coin, n in df["coin"].value_counts().items():
            counts[(_CHANNEL[name], str(coin))] = int(n)
    return FeedDay(day=day, source="testkit", sha256="", books=bf, counts=dict(counts),
                   **tables)


# ----------------------------------------------------------------------------- random day

_COINS = {"BTC": (100_000.0, 1.0), "ETH": (3_000.0, 0.1), "SOL": (150.0, 0.01)}
_STEP_MS = 100


def _levels(rng: np.random.Generator, best: np.ndarray, n_lev: int, sign: int,
            tick: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    gaps = rng.choice(np.array([1, 1, 1, 2, 3]), size=(len(best), n_lev))
    gaps[:, 0] = 0
    px = (best[:, None] + sign * np.cumsum(gaps, axis=1)) * tick
    sz = np.round(rng.lognormal(np.log(scale), 1.0, size=px.shape), 5) + 1e-5
    return np.round(px, 6), sz


def random_feed(seed: int, start_ms: int = 1_767_355_200_000, duration_ms: int = 900_000,
                coins: Sequence[str] = ("BTC", "ETH"), fast_every_ms: int = 500,
                slow_every_ms: int = 5_000, trade_msgs_per_s: float = 0.6,
                fast_switch: bool = True) -> FeedDay:
    """A reproducible random FeedDay with every channel the MicroTape reads.

    With `fast_switch` the first coin's fast stream runs only in the middle half of the
    period, so the cancel-rate stream switch is exercised. The first trades message of each
    coin replays old trades, as the venue does on subscribe.
    """
    rng = np.random.default_rng(seed)
    end = start_ms + duration_ms
    n_steps = duration_ms // _STEP_MS + 1
    book_parts: list[dict[str, np.ndarray]] = []
    rows: dict[str, list[pd.DataFrame]] = {k: [] for k in _DTYPES}
    for ci, coin in enumerate(coins):
        base, tick = _COINS.get(coin, (50.0, 0.001))
        moves = rng.choice(np.array([-1, 0, 1]), size=n_steps, p=[0.12, 0.76, 0.12])
        jumps = rng.random(n_steps) < 0.002
        moves[jumps] *= rng.integers(3, 12, jumps.sum())
        bid_t = np.round(base / tick) + np.cumsum(moves)
        spread_t = rng.choice(np.array([1, 1, 1, 1, 2, 3]), size=n_steps)

        def state(t: np.ndarray, bid_t=bid_t, spread_t=spread_t) -> tuple[np.ndarray, ...]:
            i = np.clip((t - start_ms) // _STEP_MS, 0, n_steps - 1)
            return bid_t[i], bid_t[i] + spread_t[i]

        scale = 100.0 / base
        streams = [(slow_every_ms, MAX_LEVELS, False, start_ms, end)]
        if fast_every_ms and ci == 0 and fast_switch:
            streams.append((fast_every_ms, 5, True, start_ms + duration_ms // 4,
                            end - duration_ms // 4))
        elif fast_every_ms:
            streams.append((fast_every_ms, 5, True, start_ms, end))
        for every, n_lev, fast, t0, t1 in streams:
            t = np.arange(t0 + rng.integers(0, every), t1, every)
            t = t + rng.integers(-every // 5, every // 5 + 1, len(t))
            recv = t + rng.integers(20, 300, len(t))
            keep = recv <= end
            t, recv = t[keep], recv[keep]
            b, a = state(t)
            bpx, bsz = _levels(rng, b, n_lev, -1, tick, scale)
            apx, asz = _levels(rng, a, n_lev, +1, tick, scale)
            pad = MAX_LEVELS - n_lev
            book_parts.append({
                "recv": recv, "time": t, "coin": np.full(len(t), coin, dtype=object),
                "fast": np.full(len(t), fast), "n": np.full(len(t), n_lev),
                "bid_px": np.pad(bpx, ((0, 0), (0, pad)), constant_values=np.nan),
                "bid_sz": np.pad(bsz, ((0, 0), (0, pad)), constant_values=np.nan),
                "ask_px": np.pad(apx, ((0, 0), (0, pad)), constant_values=np.nan),
                "ask_sz": np.pad(asz, ((0, 0), (0, pad)), constant_values=np.nan),
            })
        # trades: messages of 1..n same-side trades, sometimes walking several levels
        n_msg = rng.poisson(trade_msgs_per_s * duration_ms / 1000)
        mt = np.sort(rng.integers(start_ms, end, n_msg))
        per = rng.geometric(0.55, n_msg)
        tt = np.repeat(mt, per)
        side = np.repeat(rng.choice(np.array([-1, 1]), n_msg), per)
        walk = np.concatenate([np.arange(k) for k in per]) * (rng.random(len(tt)) < 0.5)
        b, a = state(tt)
        px = np.where(side > 0, a + walk, b - walk) * tick
        sz = np.round(rng.lognormal(np.log(scale / 3), 1.2, len(tt)), 5) + 1e-5
        recv = tt + np.repeat(rng.integers(30, 400, n_msg), per)
        replay = rng.integers(start_ms - 60_000, start_ms, 20)
        tt = np.concatenate([np.sort(replay), tt])
        recv = np.concatenate([np.full(20, int(mt[0]) + 200 if n_msg else start_ms), recv])
        side = np.concatenate([rng.choice(np.array([-1, 1]), 20), side])
        px = np.concatenate([np.full(20, base), px])
        sz = np.concatenate([np.full(20, scale), sz])
        rows["trades"].append(pd.DataFrame({
            "recv_ts_ms": recv, "coin": coin, "time_ms": tt, "side": side, "px": px,
            "sz": sz, "tid": np.arange(len(tt)) + 1_000_000 * ci}))
        # bbo, context, candles
        t = np.sort(rng.integers(start_ms, end, duration_ms // 1500))
        b, a = state(t)
        rows["bbo"].append(pd.DataFrame({
            "recv_ts_ms": t + 50, "coin": coin, "time_ms": t, "bid_px": b * tick,
            "bid_sz": rng.uniform(0.1, 2, len(t)) * scale, "ask_px": a * tick,
            "ask_sz": rng.uniform(0.1, 2, len(t)) * scale}))
        t = np.arange(start_ms + 700, end - 1_000, 3_000)
        t = t + rng.integers(-500, 500, len(t))
        b, a = state(t)
        mid = (b + a) / 2 * tick
        oracle = mid * (1 + rng.normal(0, 2e-4, len(t)))
        rows["ctx"].append(pd.DataFrame({
            "recv_ts_ms": t + 40, "coin": coin,
            "funding": np.round(1e-5 + np.cumsum(rng.normal(0, 1e-7, len(t))), 10),
            "open_interest": 1e4 / scale + np.cumsum(rng.normal(0, 5, len(t))),
            "oracle_px": oracle, "mark_px": mid, "mid_px": mid,
            "premium": (mid - oracle) / oracle}))
        t = np.sort(rng.integers(start_ms, end, duration_ms // 2_500))
        t_open = (t // 60_000) * 60_000
        i_open = np.clip((t_open - start_ms) // _STEP_MS, 0, n_steps - 1)
        i_now = np.clip((t - start_ms) // _STEP_MS, 0, n_steps - 1)
        o, c = bid_t[i_open] * tick, bid_t[i_now] * tick
        # a loose but valid high/low around the open and close
        h = np.maximum(o, c) + rng.integers(0, 5, len(t)) * tick
        lo = np.minimum(o, c) - rng.integers(0, 5, len(t)) * tick
        rows["candles"].append(pd.DataFrame({
            "recv_ts_ms": t + rng.integers(50, 900, len(t)), "coin": coin, "interval": "1m",
            "t_open_ms": t_open, "t_close_ms": t_open + 59_999, "o": o, "h": h, "l": lo,
            "c": c, "v": 1.0, "n": 1}))

    parts = {k: np.concatenate([p[k] for p in book_parts]) for k in book_parts[0]}
    order = np.argsort(parts["recv"], kind="stable")
    meta = pd.DataFrame({
        "recv_ts_ms": parts["recv"][order].astype(np.int64),
        "coin": pd.Series(parts["coin"][order], dtype="str"),
        "time_ms": parts["time"][order].astype(np.int64),
        "fast": parts["fast"][order],
        "n_bid": parts["n"][order].astype(np.int16),
        "n_ask": parts["n"][order].astype(np.int16),
    })
    bf = BookFrames(meta, *(parts[k][order] for k in ("bid_px", "bid_sz", "ask_px", "ask_sz")))
    tables = {}
    for name, dfs in rows.items():
        df = pd.concat(dfs, ignore_index=True).astype(_DTYPES[name])
        tables[name] = df.sort_values("recv_ts_ms", kind="stable").reset_index(drop=True)
    return assemble(bf, tables, day=pd.Timestamp(start_ms, unit="ms").strftime("%Y-%m-%d"))
