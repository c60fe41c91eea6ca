"""Parse and validate one day's recording into a `FeedDay`, never crashing on bad input.

One pass over the lines: JSON is decoded once, every frame is checked against the wire
contract, and anything refused becomes a `DeadLetter` with a reason. Level prices and
sizes are gathered as strings and converted in bulk per chunk (fast), with a per-frame
fallback that only runs when a chunk holds a malformed number.

What counts as bad (each a dead-letter reason):
  malformed_json, bad_record (not {"recv_ts_ms": int, "msg": ...}), malformed_message,
  unknown_channel, malformed_<channel> (shape or number errors), crossed_book,
  out_of_order (recv clock going back, or a venue time older than the stream's last),
  duplicate_frame (a line identical to an earlier one), duplicate_trades (every trade in
  the frame was already seen), outside_day (received outside the partition's UTC day).
What is normal and only counted: plain-text frames such as "Websocket connection
established.", subscriptionResponse / pong / error frames, an l2Book or bbo snapshot
re-sent unchanged with the same venue time (the real venue does this), and individual
replayed trades inside a frame that also carries new ones.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from lotus_core.feed.tables import MAX_LEVELS, BookFrames, DeadLetter, FeedDay

CONTROL_CHANNELS = frozenset({"subscriptionResponse", "pong", "error"})
IGNORED_CHANNELS = frozenset({"activeSpotAssetCtx"})
_RAW_EXCERPT = 2000
_CHUNK_FRAMES = 20_000
_DAY_MS = 86_400_000


class FeedFormatError(ValueError):
    """A frame that breaks the wire contract; the message says what was wrong."""


def day_bounds_ms(day: str) -> tuple[int, int]:
    """[start, end) of a UTC day in epoch milliseconds."""
    start = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
    return start, start + _DAY_MS


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def iter_recording_lines(path: Path) -> Iterator[bytes]:
    """Decompressed lines of a recording (gzip JSONL), without their newline."""
    with gzip.open(path, "rb") as raw, io.BufferedReader(raw, buffer_size=1 << 20) as reader:
        for line in reader:
            yield line.rstrip(b"\r\n")


class _BookChunks:
    """Collects l2Book frames as level strings and converts them to float arrays in bulk."""

    def __init__(self) -> None:
        self.meta: list[tuple[int, str, int, bool, int, int, int]] = []  # + line_no
        self.px: list[str] = []
        self.sz: list[str] = []
        self.frame_px: list[tuple[int, int]] = []  # (offset, count) into px/sz, bids then asks
        self.done_meta: list[pd.DataFrame] = []
        self.done_mats: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.refused_coins: list[str] = []  # frames refused at conversion, already counted

    def add(self, line_no: int, recv: int, coin: str, t: int, fast: bool,
            bids: list, asks: list) -> None:
        px, sz = self.px, self.sz
        offset = len(px)
        for level in bids:
            px.append(level["px"])
            sz.append(level["sz"])
        for level in asks:
            px.append(level["px"])
            sz.append(level["sz"])
        self.meta.append((recv, coin, t, fast, len(bids), len(asks), line_no))
        self.frame_px.append((offset, len(bids) + len(asks)))

    def flush(self, dead: list[DeadLetter], raw_by_line: dict[int, bytes]) -> None:
        if not self.meta:
            return
        try:
            px = np.array(self.px, dtype=np.float64)
            sz = np.array(self.sz, dtype=np.float64)
            good = np.ones(len(self.meta), dtype=bool)
        except (ValueError, TypeError):
            px, sz, good = self._convert_slowly(dead, raw_by_line)
        n = len(self.meta)
        mats = [np.full((n, MAX_LEVELS), np.nan) for _ in range(4)]
        nb = np.fromiter((m[4] for m in self.meta), dtype=np.int64, count=n)
        na = np.fromiter((m[5] for m in self.meta), dtype=np.int64, count=n)
        offs = np.fromiter((f[0] for f in self.frame_px), dtype=np.int64, count=n)
        _scatter_levels(mats[0], mats[1], px, sz, offs, nb)
        _scatter_levels(mats[2], mats[3], px, sz, offs + nb, na)
        sane = _book_is_sane(*mats, nb, na)
        for i in np.flatnonzero(good & ~sane):
            m = self.meta[i]
            dead.append(DeadLetter(m[6], m[0], "l2Book", m[1], "crossed_book",
                                   "levels out of order or best bid >= best ask",
                                   _excerpt(raw_by_line.get(m[6], b""))))
        good &= sane
        self.refused_coins.extend(self.meta[i][1] for i in np.flatnonzero(~good))
        meta = pd.DataFrame(
            [m[:6] for m in self.meta],
            columns=["recv_ts_ms", "coin", "time_ms", "fast", "n_bid", "n_ask"],
        )
        keep = good
        self.done_meta.append(meta.loc[keep])
        self.done_mats.append(tuple(m[keep] for m in mats))  # type: ignore[arg-type]
        self.meta, self.px, self.sz, self.frame_px = [], [], [], []

    def _convert_slowly(self, dead: list[DeadLetter], raw_by_line: dict[int, bytes]
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-frame conversion: only for a chunk that holds a malformed number."""
        px = np.full(len(self.px), np.nan)
        sz = np.full(len(self.sz), np.nan)
        good = np.ones(len(self.meta), dtype=bool)
        for i, (off, cnt) in enumerate(self.frame_px):
            try:
                px[off:off + cnt] = [float(v) for v in self.px[off:off + cnt]]
                sz[off:off + cnt] = [float(v) for v in self.sz[off:off + cnt]]
            except (ValueError, TypeError) as exc:
                good[i] = False
                m = self.meta[i]
                dead.append(DeadLetter(m[6], m[0], "l2Book", m[1], "malformed_l2Book",
                                       f"bad level number: {exc}",
                                       _excerpt(raw_by_line.get(m[6], b""))))
        return px, sz, good

    def result(self) -> BookFrames:
        if not self.done_meta:
            empty = np.empty((0, MAX_LEVELS))
            meta = pd.DataFrame({
                "recv_ts_ms": pd.Series(dtype="int64"), "coin": pd.Series(dtype="str"),
                "time_ms": pd.Series(dtype="int64"), "fast": pd.Series(dtype="bool"),
                "n_bid": pd.Series(dtype="int16"), "n_ask": pd.Series(dtype="int16"),
            })
            return BookFrames(meta, empty, empty.copy(), empty.copy(), empty.copy())
        meta = pd.concat(self.done_meta, ignore_index=True)
        meta = meta.astype({"recv_ts_ms": "int64", "coin": "str", "time_ms": "int64",
                            "fast": "bool", "n_bid": "int16", "n_ask": "int16"})
        mats = [np.concatenate([m[k] for m in self.done_mats]) for k in range(4)]
        return BookFrames(meta, *mats)


def _scatter_levels(px_out: np.ndarray, sz_out: np.ndarray, px: np.ndarray, sz: np.ndarray,
                    starts: np.ndarray, counts: np.ndarray) -> None:
    """Place each frame's flat run of levels into its row of the padded matrices."""
    counts = np.minimum(counts, MAX_LEVELS)
    total = int(counts.sum())
    if total == 0:
        return
    rows = np.repeat(np.arange(len(counts)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    cols = np.arange(total) - first
    src = np.repeat(starts, counts) + cols
    px_out[rows, cols] = px[src]
    sz_out[rows, cols] = sz[src]


def _book_is_sane(bid_px: np.ndarray, bid_sz: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray,
                  nb: np.ndarray, na: np.ndarray) -> np.ndarray:
    """Bids strictly descending, asks strictly ascending, sizes positive, not crossed."""
    with np.errstate(invalid="ignore"):
        bid_ok = ~(np.diff(bid_px, axis=1) >= 0).any(axis=1)
        ask_ok = ~(np.diff(ask_px, axis=1) <= 0).any(axis=1)
        size_ok = ~((bid_sz <= 0).any(axis=1) | (ask_sz <= 0).any(axis=1))
        price_ok = ~((bid_px <= 0).any(axis=1) | (ask_px <= 0).any(axis=1))
        both = (nb > 0) & (na > 0)
        uncrossed = ~both | (bid_px[:, 0] < ask_px[:, 0])
    return bid_ok & ask_ok & size_ok & price_ok & uncrossed


def _excerpt(line: bytes) -> str:
    return line[:_RAW_EXCERPT].decode("utf-8", errors="replace")


def _num(v: object, key: str) -> float:
    if not isinstance(v, str):
        raise FeedFormatError(f"{key} must be a decimal string, got {type(v).__name__}")
    try:
        return float(v)
    except ValueError:
        raise FeedFormatError(f"{key} is not a number: {v!r}") from None


def _opt_num(v: object, key: str) -> float:
    return np.nan if v is None else _num(v, key)


def _int(v: object, key: str) -> int:
    if type(v) is not int:
        raise FeedFormatError(f"{key} must be an integer, got {type(v).__name__}")
    return v


def _str(v: object, key: str) -> str:
    if not isinstance(v, str) or not v:
        raise FeedFormatError(f"{key} must be a non-empty string")
    return v


def _levels(v: object) -> tuple[list, list]:
    if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], list)
            and isinstance(v[1], list)):
        raise FeedFormatError("levels must be [[bids], [asks]]")
    for side in v:
        for level in side:
            if not (isinstance(level, dict) and "px" in level and "sz" in level
                    and type(level.get("n")) is int):
                raise FeedFormatError("each level needs px, sz and an integer n")
    if len(v[0]) > MAX_LEVELS or len(v[1]) > MAX_LEVELS:
        raise FeedFormatError(f"more than {MAX_LEVELS} levels a side")
    return v[0], v[1]


def parse_recording(path: Path, day: str | None = None) -> FeedDay:
    """Read a `<YYYY-MM-DD>.jsonl.gz` recording; `day` defaults to the file name's date."""
    path = Path(path)
    day = day or path.name.split(".")[0]
    start_ms, end_ms = day_bounds_ms(day)
    sha = file_sha256(path)

    dead: list[DeadLetter] = []
    counts: Counter[tuple[str, str]] = Counter()
    stats: Counter[str] = Counter()
    books = _BookChunks()
    book_raw: dict[int, bytes] = {}
    trades: list[tuple] = []
    bbo: list[tuple] = []
    ctx: list[tuple] = []
    candles: list[tuple] = []

    seen_lines: set[int] = set()
    seen_tids: set[tuple[str, int, int]] = set()
    last_recv = -1
    book_last: dict[tuple[str, bool], tuple[int, list]] = {}
    bbo_last: dict[str, tuple[int, list]] = {}
    candle_last: dict[tuple[str, str], int] = {}
    loads = orjson.loads

    def reject(line_no: int, recv: int | None, channel: str | None, coin: str | None,
               reason: str, detail: str, line: bytes) -> None:
        dead.append(DeadLetter(line_no, recv, channel, coin, reason, detail, _excerpt(line)))

    for line_no, line in enumerate(iter_recording_lines(path), start=1):
        stats["lines"] += 1
        if not line.strip():
            stats["blank_lines"] += 1
            continue
        try:
            rec = loads(line)
        except orjson.JSONDecodeError as exc:
            reject(line_no, None, None, None, "malformed_json", str(exc), line)
            continue
        if not (isinstance(rec, dict) and type(rec.get("recv_ts_ms")) is int and "msg" in rec):
            reject(line_no, None, None, None, "bad_record",
                   'a line must be {"recv_ts_ms": <int>, "msg": <message>}', line)
            continue
        recv: int = rec["recv_ts_ms"]
        msg = rec["msg"]
        line_key = hash(line)
        if line_key in seen_lines:
            reject(line_no, recv, None, None, "duplicate_frame",
                   "identical to an earlier line", line)
            continue
        seen_lines.add(line_key)
        if recv < last_recv:
            reject(line_no, recv, None, None, "out_of_order",
                   f"recv_ts_ms {recv} is before the previous line's {last_recv}", line)
            continue
        last_recv = recv
        if not start_ms <= recv < end_ms:
            reject(line_no, recv, None, None, "outside_day",
                   f"recv_ts_ms {recv} is not within {day} UTC", line)
            continue
        if isinstance(msg, str):
            stats["text_frames"] += 1
            continue
        if not isinstance(msg, dict) or not isinstance(msg.get("channel"), str):
            reject(line_no, recv, None, None, "malformed_message",
                   "msg must be a text frame or an object with a string channel", line)
            continue
        channel: str = msg["channel"]
        if channel in CONTROL_CHANNELS:
            stats[f"{channel}_frames"] += 1
            continue
        if channel in IGNORED_CHANNELS:
            stats["ignored_frames"] += 1
            continue
        data = msg.get("data")
        coin: str | None = None
        try:
            if channel == "l2Book":
                if not isinstance(data, dict):
                    raise FeedFormatError("data must be an object")
                coin = _str(data.get("coin"), "coin")
                t = _int(data.get("time"), "time")
                bids, asks = _levels(data.get("levels"))
                fast = data.get("fast") is True
                prev = book_last.get((coin, fast))
                if prev is not None and t <= prev[0]:
                    if t == prev[0] and prev[1] == data["levels"]:
                        stats["resent_snapshots"] += 1
                        continue
                    if t < prev[0]:
                        reject(line_no, recv, channel, coin, "out_of_order",
                               f"book time {t} is before the stream's last {prev[0]}", line)
                        continue
                book_last[(coin, fast)] = (t, data["levels"])
                books.add(line_no, recv, coin, t, fast, bids, asks)
                book_raw[line_no] = line
                if len(books.meta) >= _CHUNK_FRAMES:
                    books.flush(dead, book_raw)
                    book_raw.clear()
            elif channel == "trades":
                if not isinstance(data, list) or not data:
                    raise FeedFormatError("data must be a non-empty array of trades")
                fresh = []
                for tr in data:
                    if not isinstance(tr, dict):
                        raise FeedFormatError("each trade must be an object")
                    coin = _str(tr.get("coin"), "coin")
                    side = tr.get("side")
                    if side not in ("B", "A"):
                        raise FeedFormatError(f"side must be 'B' or 'A', got {side!r}")
                    tt = _int(tr.get("time"), "time")
                    tid = _int(tr.get("tid"), "tid")
                    px = _num(tr.get("px"), "px")
                    sz = _num(tr.get("sz"), "sz")
                    if px <= 0 or sz <= 0:
                        raise FeedFormatError("px and sz must be positive")
                    fresh.append((recv, coin, tt, 1 if side == "B" else -1, px, sz, tid))
                kept = 0
                for row in fresh:
                    key = (row[1], row[2], row[6])
                    if key in seen_tids:
                        stats["replayed_trades"] += 1
                        continue
                    seen_tids.add(key)
                    trades.append(row)
                    kept += 1
                if kept == 0:
                    reject(line_no, recv, channel, coin, "duplicate_trades",
                           "every trade in the frame was already seen", line)
                    continue
            elif channel == "bbo":
                if not isinstance(data, dict):
                    raise FeedFormatError("data must be an object")
                coin = _str(data.get("coin"), "coin")
                t = _int(data.get("time"), "time")
                pair = data.get("bbo")
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise FeedFormatError("bbo must be [bid, ask]")
                vals = []
                for lvl in pair:
                    if lvl is None:
                        vals += [np.nan, np.nan]
                    elif isinstance(lvl, dict):
                        vals += [_num(lvl.get("px"), "px"), _num(lvl.get("sz"), "sz")]
                    else:
                        raise FeedFormatError("a bbo side must be a level or null")
                if vals[0] == vals[0] and vals[2] == vals[2] and vals[0] >= vals[2]:
                    reject(line_no, recv, channel, coin, "crossed_book",
                           f"bid {vals[0]} >= ask {vals[2]}", line)
                    continue
                prev_b = bbo_last.get(coin)
                if prev_b is not None and t <= prev_b[0]:
                    if t == prev_b[0] and prev_b[1] == pair:
                        stats["resent_snapshots"] += 1
                        continue
                    if t < prev_b[0]:
                        reject(line_no, recv, channel, coin, "out_of_order",
                               f"bbo time {t} is before the stream's last {prev_b[0]}", line)
                        continue
                bbo_last[coin] = (t, pair)
                bbo.append((recv, coin, t, *vals))
            elif channel == "activeAssetCtx":
                if not isinstance(data, dict) or not isinstance(data.get("ctx"), dict):
                    raise FeedFormatError("data must be {coin, ctx: {...}}")
                coin = _str(data.get("coin"), "coin")
                c = data["ctx"]
                ctx.append((recv, coin, _num(c.get("funding"), "funding"),
                            _num(c.get("openInterest"), "openInterest"),
                            _num(c.get("oraclePx"), "oraclePx"), _num(c.get("markPx"), "markPx"),
                            _opt_num(c.get("midPx"), "midPx"),
                            _opt_num(c.get("premium"), "premium")))
            elif channel == "candle":
                if not isinstance(data, dict):
                    raise FeedFormatError("data must be one candle object")
                coin = _str(data.get("s"), "s")
                interval = _str(data.get("i"), "i")
                t_open = _int(data.get("t"), "t")
                row = (recv, coin, interval, t_open, _int(data.get("T"), "T"),
                       _num(data.get("o"), "o"), _num(data.get("h"), "h"),
                       _num(data.get("l"), "l"), _num(data.get("c"), "c"),
                       _num(data.get("v"), "v"), _int(data.get("n"), "n"))
                if not (row[7] <= min(row[5], row[8]) and row[6] >= max(row[5], row[8])):
                    raise FeedFormatError("candle must satisfy l <= o, c <= h")
                last_open = candle_last.get((coin, interval))
                if last_open is not None and t_open < last_open:
                    reject(line_no, recv, channel, coin, "out_of_order",
                           f"candle t {t_open} is before the stream's current {last_open}", line)
                    continue
                candle_last[(coin, interval)] = t_open
                candles.append(row)
            else:
                reject(line_no, recv, channel, None, "unknown_channel",
                       f"channel {channel!r} is not one Lotus reads", line)
                continue
        except FeedFormatError as exc:
            reject(line_no, recv, channel, coin, f"malformed_{channel}", str(exc), line)
            continue
        counts[(channel, coin or "")] += 1

    books.flush(dead, book_raw)
    book_frames = books.result()
    for coin in books.refused_coins:
        counts[("l2Book", coin)] -= 1
    counts = +counts  # drop zero counts
    dead.sort(key=lambda d: d.line_no)
    return FeedDay(
        day=day,
        source=str(path),
        sha256=sha,
        books=book_frames,
        trades=_frame(trades, {"recv_ts_ms": "int64", "coin": "str", "time_ms": "int64",
                               "side": "int8", "px": "float64", "sz": "float64",
                               "tid": "int64"}),
        bbo=_frame(bbo, {"recv_ts_ms": "int64", "coin": "str", "time_ms": "int64",
                         "bid_px": "float64", "bid_sz": "float64", "ask_px": "float64",
                         "ask_sz": "float64"}),
        ctx=_frame(ctx, {"recv_ts_ms": "int64", "coin": "str", "funding": "float64",
                         "open_interest": "float64", "oracle_px": "float64",
                         "mark_px": "float64", "mid_px": "float64", "premium": "float64"}),
        candles=_frame(candles, {"recv_ts_ms": "int64", "coin": "str", "interval": "str",
                                 "t_open_ms": "int64", "t_close_ms": "int64", "o": "float64",
                                 "h": "float64", "l": "float64", "c": "float64",
                                 "v": "float64", "n": "int64"}),
        counts=dict(counts),
        dead=dead,
        stats=dict(stats),
    )


def _frame(rows: list[tuple], dtypes: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(dtypes)) if rows else pd.DataFrame(
        {k: pd.Series(dtype=v) for k, v in dtypes.items()})
    return df.astype(dtypes)
