"""Parse and validate one day's recording into a `FeedDay`, never crashing on bad input.

One pass over the lines decodes JSON once and pulls out raw values with plain indexing;
a frame whose shape is wrong goes through a strict validator that says exactly what was
wrong. Numbers are converted and checked in bulk per channel afterwards (vectorised), so
the per-line cost stays close to the JSON decode itself.

What counts as bad (each a dead-letter reason):
  malformed_json, bad_record (not {"recv_ts_ms": int, "msg": ...}), malformed_message,
  unknown_channel, malformed_<channel> (shape or number errors), crossed_book,
  out_of_order (recv clock going back, or a venue time older than the stream's latest),
  duplicate_frame (a line identical to an earlier one), duplicate_trades (every trade in
  the frame was already seen), outside_day (received outside the partition's UTC day).
What is normal and only counted: plain-text frames such as "Websocket connection
established.", subscriptionResponse / pong / error frames, an l2Book or bbo snapshot
re-sent unchanged with the same venue time (the real venue does this), and individual
replayed trades inside a frame that also carries new ones. Level `n` (order count) is
not used by Lotus and not checked.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import io
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lotus_core.feed.tables import MAX_LEVELS, BookFrames, DeadLetter, FeedDay
from lotus_core.feed.validate import FeedFormatError, explain

CONTROL_CHANNELS = frozenset({"subscriptionResponse", "pong", "error"})
IGNORED_CHANNELS = frozenset({"activeSpotAssetCtx"})
_RAW_EXCERPT = 2000
_DAY_MS = 86_400_000
_CHUNK_LINES = 100_000
_NAN = "nan"
_px = itemgetter("px")
_sz = itemgetter("sz")

__all__ = ["FeedFormatError", "day_bounds_ms", "file_sha256", "iter_recording_lines",
           "open_recording", "parse_recording"]


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


def open_recording(path: Path) -> io.BufferedReader:
    """A buffered reader over the decompressed recording; iterate it for lines."""
    return io.BufferedReader(gzip.open(path, "rb"), buffer_size=1 << 20)


def iter_recording_lines(path: Path) -> Iterator[bytes]:
    """Decompressed lines of a recording (gzip JSONL), without their newline."""
    with open_recording(path) as reader:
        for line in reader:
            yield line.rstrip(b"\r\n")


def _excerpt(line: bytes) -> str:
    return line.rstrip(b"\r\n")[:_RAW_EXCERPT].decode("utf-8", errors="replace")


_DTYPES: dict[str, type] = {
    "recv": np.int64, "time": np.int64, "tid": np.int64, "line": np.int64, "t_open_ms": np.int64,
    "t_close_ms": np.int64, "n": np.int64, "coin": np.int32, "interval": np.int32,
    "side": np.int8, "nb": np.int16, "na": np.int16, "ok": np.bool_, "fast": np.bool_}


class _Names:
    """Small-integer codes for repeated strings (coins, intervals); -1 marks a bad value."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.names: list[str] = []

    def encode(self, values: tuple) -> np.ndarray:
        codes = self.codes
        out = np.empty(len(values), dtype=np.int32)
        for i, v in enumerate(values):
            c = codes.get(v) if type(v) is str else -1
            if c is None:
                c = -1 if v == "" else len(self.names)
                if c >= 0:
                    codes[v] = c
                    self.names.append(v)
            out[i] = c
        return out

    def decode(self, codes: np.ndarray) -> pd.arrays.ArrowStringArray:
        names = np.array(self.names + [""], dtype=object)
        return pd.array(names[codes], dtype="str")

    def name(self, code: int) -> str | None:
        return self.names[code] if code >= 0 else None


class _Collector:
    """Raw values gathered by the hot loop, converted to numpy column chunks every
    `_CHUNK_LINES` lines so that only one chunk of Python objects is alive at a time."""

    def __init__(self) -> None:
        self.coins = _Names()
        self.intervals = _Names()
        self.book_meta: list[tuple[int, str, int, bool, int, int, int]] = []
        self.book_px: list[str] = []
        self.book_sz: list[str] = []
        self.trades: list[tuple] = []   # recv, coin, time, side, px, sz, tid, line
        self.bbo: list[tuple] = []      # recv, coin, time, bpx, bsz, apx, asz, line
        self.ctx: list[tuple] = []      # recv, coin, funding, oi, oracle, mark, mid, prem, line
        self.candles: list[tuple] = []  # recv, coin, i, t, T, o, h, l, c, v, n, line
        self.chunks: dict[str, dict[str, list[np.ndarray]]] = {
            k: {} for k in ("books", "trades", "bbo", "ctx", "candles")}

    def _put(self, table: str, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self.chunks[table].setdefault(name, []).append(values)

    def column(self, table: str, name: str) -> np.ndarray:
        parts = self.chunks[table].get(name)
        return np.concatenate(parts) if parts else np.empty(0, dtype=_DTYPES.get(name, np.float64))

    def matrix(self, name: str) -> np.ndarray:
        parts = self.chunks["books"].get(name)
        return np.concatenate(parts) if parts else np.empty((0, MAX_LEVELS))

    def flush(self) -> None:
        self._flush_books()
        self._flush_rows()

    def _flush_books(self) -> None:
        if not self.book_meta:
            return
        recv, coin, t, fast, nb, na, lines = _columns(self.book_meta, 7)
        n = len(recv)
        nb_a = np.array(nb, dtype=np.int64)
        na_a = np.array(na, dtype=np.int64)
        px, px_ok = _floats(self.book_px)
        sz, sz_ok = _floats(self.book_sz)
        starts = np.cumsum(nb_a + na_a) - (nb_a + na_a)
        mats = [np.full((n, MAX_LEVELS), np.nan) for _ in range(4)]
        _scatter(mats[0], px, starts, nb_a)
        _scatter(mats[1], sz, starts, nb_a)
        _scatter(mats[2], px, starts + nb_a, na_a)
        _scatter(mats[3], sz, starts + nb_a, na_a)
        ok = np.ones(n, dtype=bool)
        ok[np.repeat(np.arange(n), nb_a + na_a)[~(px_ok & sz_ok)]] = False
        self._put("books", recv=np.array(recv, dtype=np.int64), coin=self.coins.encode(coin),
                  time=np.array(t, dtype=np.int64), fast=np.array(fast, dtype=bool),
                  nb=nb_a.astype(np.int16), na=na_a.astype(np.int16),
                  line=np.array(lines, dtype=np.int64), ok=ok, bid_px=mats[0],
                  bid_sz=mats[1], ask_px=mats[2], ask_sz=mats[3])
        # cleared in place: the hot loop holds these lists' bound append/extend methods
        self.book_meta.clear()
        self.book_px.clear()
        self.book_sz.clear()

    def _flush_rows(self) -> None:
        if self.trades:
            recv, coin, t, side, px, sz, tid, lines = _columns(self.trades, 8)
            t_a, t_ok = _ints(t)
            tid_a, tid_ok = _ints(tid)
            px_a, px_ok = _floats(px)
            sz_a, sz_ok = _floats(sz)
            self._put("trades", recv=np.array(recv, dtype=np.int64),
                      coin=self.coins.encode(coin), time=t_a, side=np.array(side, dtype=np.int8),
                      px=px_a, sz=sz_a, tid=tid_a, line=np.array(lines, dtype=np.int64),
                      ok=t_ok & tid_ok & px_ok & sz_ok)
            self.trades.clear()
        if self.bbo:
            recv, coin, t, bpx, bsz, apx, asz, lines = _columns(self.bbo, 8)
            t_a, ok = _ints(t)
            nums = {}
            for name, values in (("bid_px", bpx), ("bid_sz", bsz), ("ask_px", apx),
                                 ("ask_sz", asz)):
                nums[name], good = _floats(values)
                ok &= good
            self._put("bbo", recv=np.array(recv, dtype=np.int64), coin=self.coins.encode(coin),
                      time=t_a, line=np.array(lines, dtype=np.int64), ok=ok, **nums)
            self.bbo.clear()
        if self.ctx:
            recv, coin, funding, oi, oracle, mark, mid, prem, lines = _columns(self.ctx, 9)
            ok = np.ones(len(recv), dtype=bool)
            nums = {}
            for name, values in (("funding", funding), ("open_interest", oi),
                                 ("oracle_px", oracle), ("mark_px", mark), ("mid_px", mid),
                                 ("premium", prem)):
                nums[name], good = _floats(values)
                ok &= good
            self._put("ctx", recv=np.array(recv, dtype=np.int64), coin=self.coins.encode(coin),
                      line=np.array(lines, dtype=np.int64), ok=ok, **nums)
            self.ctx.clear()
        if self.candles:
            recv, coin, interval, t_open, t_close, o, h, lo, c, v, n, lines = _columns(
                self.candles, 12)
            ok = np.ones(len(recv), dtype=bool)
            cols: dict[str, np.ndarray] = {}
            for name, values in (("t_open_ms", t_open), ("t_close_ms", t_close), ("n", n)):
                cols[name], good = _ints(values)
                ok &= good
            for name, values in (("o", o), ("h", h), ("l", lo), ("c", c), ("v", v)):
                cols[name], good = _floats(values)
                ok &= good
            self._put("candles", recv=np.array(recv, dtype=np.int64),
                      coin=self.coins.encode(coin), interval=self.intervals.encode(interval),
                      line=np.array(lines, dtype=np.int64), ok=ok, **cols)
            self.candles.clear()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing allocates millions of acyclic containers; the cyclic GC would rescan them all
    over and over (measured: 5x slower transposes). Reference counting still frees them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_recording(path: Path, day: str | None = None) -> FeedDay:
    """Read a `<YYYY-MM-DD>.jsonl.gz` recording; `day` defaults to the file name's date."""
    with _gc_paused():
        return _parse(Path(path), day)


def _parse(path: Path, day: str | None) -> FeedDay:
    day = day or path.name.split(".")[0]
    start_ms, end_ms = day_bounds_ms(day)
    sha = file_sha256(path)
    col = _Collector()
    dead: list[DeadLetter] = []
    stats: Counter[str] = Counter()
    late: list[tuple[int, int | None, str, str | None, str, str]] = []  # raw fetched later

    seen_lines: set[int] = set()
    seen_tids: set[tuple[str, int, int]] = set()
    book_last: dict[tuple[str, bool], tuple[int, list]] = {}
    last_recv = -1
    line_no = 0
    loads = orjson.loads
    book_meta_append = col.book_meta.append
    px_extend, sz_extend = col.book_px.extend, col.book_sz.extend
    bbo_append, ctx_append = col.bbo.append, col.ctx.append
    candle_append, trade_append = col.candles.append, col.trades.append

    def reject(recv: int | None, channel: str | None, coin: str | None, reason: str,
               detail: str, line: bytes) -> None:
        dead.append(DeadLetter(line_no, recv, channel, coin, reason, detail, _excerpt(line)))

    reader = open_recording(path)
    chunk = _CHUNK_LINES
    for line_no, line in enumerate(reader, start=1):  # noqa: B007 - reject() reads line_no
        if line_no % chunk == 0:
            col.flush()
        try:
            rec = loads(line)
            recv = rec["recv_ts_ms"]
            msg = rec["msg"]
            if type(recv) is not int:
                raise TypeError
        except orjson.JSONDecodeError as exc:
            if line.strip():
                reject(None, None, None, "malformed_json", str(exc), line)
            else:
                stats["blank_lines"] += 1
            continue
        except (TypeError, KeyError, IndexError):
            reject(None, None, None, "bad_record",
                   'a line must be {"recv_ts_ms": <int>, "msg": <message>}', line)
            continue
        key = hash(line)
        if key in seen_lines:
            reject(recv, None, None, "duplicate_frame", "identical to an earlier line", line)
            continue
        seen_lines.add(key)
        if recv < last_recv:
            reject(recv, None, None, "out_of_order",
                   f"recv_ts_ms {recv} is before the previous line's {last_recv}", line)
            continue
        last_recv = recv
        if not start_ms <= recv < end_ms:
            reject(recv, None, None, "outside_day", f"recv_ts_ms {recv} is not within {day} UTC",
                   line)
            continue
        try:
            channel = msg["channel"]
            data = msg.get("data")
            if channel == "bbo":
                b, a = data["bbo"]
                bbo_append((recv, data["coin"], data["time"],
                            b["px"] if b is not None else _NAN, b["sz"] if b is not None else _NAN,
                            a["px"] if a is not None else _NAN, a["sz"] if a is not None else _NAN,
                            line_no))
            elif channel == "l2Book":
                coin = data["coin"]
                t = data["time"]
                levels = data["levels"]
                bids, asks = levels
                if type(t) is not int or type(coin) is not str:
                    raise TypeError
                fast = data.get("fast") is True
                prev = book_last.get((coin, fast))
                if prev is not None and t <= prev[0]:
                    if t == prev[0] and prev[1] == levels:
                        stats["resent_snapshots"] += 1
                        continue
                    if t < prev[0]:
                        reject(recv, channel, coin, "out_of_order",
                               f"book time {t} is before the stream's last {prev[0]}", line)
                        continue
                nb, na = len(bids), len(asks)
                if nb > MAX_LEVELS or na > MAX_LEVELS:
                    raise TypeError
                frame_px = [*map(_px, bids), *map(_px, asks)]  # fails before any list grows
                frame_sz = [*map(_sz, bids), *map(_sz, asks)]
                px_extend(frame_px)
                sz_extend(frame_sz)
                book_last[(coin, fast)] = (t, levels)
                book_meta_append((recv, coin, t, fast, nb, na, line_no))
            elif channel == "trades":
                kept = 0
                rows = [(recv, tr["coin"], tr["time"], _SIDE[tr["side"]], tr["px"], tr["sz"],
                         tr["tid"], line_no) for tr in data]
                if not rows:
                    raise TypeError
                tkeys = [(r[1], r[2], r[6]) for r in rows]
                fresh = [k not in seen_tids for k in tkeys]  # unhashable ids fail before changes
                for row, tkey, is_new in zip(rows, tkeys, fresh, strict=True):
                    if not is_new or tkey in seen_tids:
                        stats["replayed_trades"] += 1
                        continue
                    seen_tids.add(tkey)
                    trade_append(row)
                    kept += 1
                if kept == 0:
                    reject(recv, channel, rows[0][1], "duplicate_trades",
                           "every trade in the frame was already seen", line)
            elif channel == "activeAssetCtx":
                c = data["ctx"]
                mid, prem = c.get("midPx"), c.get("premium")
                ctx_append((recv, data["coin"], c["funding"], c["openInterest"], c["oraclePx"],
                            c["markPx"], _NAN if mid is None else mid,
                            _NAN if prem is None else prem, line_no))
            elif channel == "candle":
                candle_append((recv, data["s"], data["i"], data["t"], data["T"], data["o"],
                               data["h"], data["l"], data["c"], data["v"], data["n"], line_no))
            elif channel in CONTROL_CHANNELS:
                stats[f"{channel}_frames"] += 1
            elif channel in IGNORED_CHANNELS:
                stats["ignored_frames"] += 1
            else:
                reject(recv, str(channel), None, "unknown_channel",
                       f"channel {channel!r} is not one Lotus reads", line)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            if isinstance(msg, str):
                stats["text_frames"] += 1
                continue
            reason, ch, coin, detail = explain(msg)
            reject(recv, ch, coin, reason, detail, line)
    reader.close()
    stats["lines"] = line_no
    col.flush()

    books = _finish_books(col, late)
    trades = _finish_trades(col, late)
    bbo = _finish_bbo(col, late, stats)
    ctx = _finish_ctx(col, late)
    candles = _finish_candles(col, late)
    if late:
        raw = _fetch_lines(path, {entry[0] for entry in late})
        dead += [DeadLetter(n, r, ch, c, reason, detail, _excerpt(raw.get(n, b"")))
                 for n, r, ch, c, reason, detail in late]
    dead.sort(key=lambda d: d.line_no)
    counts = _counts(books.meta, trades, bbo, ctx, candles)
    trades, bbo, ctx, candles = (f.drop(columns="line_no") for f in (trades, bbo, ctx, candles))
    return FeedDay(day=day, source=str(path), sha256=sha, books=books, trades=trades, bbo=bbo,
                   ctx=ctx, candles=candles, counts=counts, dead=dead, stats=dict(stats))


_SIDE = {"B": 1, "A": -1}


def _fetch_lines(path: Path, wanted: set[int]) -> dict[int, bytes]:
    """The raw text of a few lines, for dead letters found after the main pass."""
    out = {}
    for n, line in enumerate(iter_recording_lines(path), start=1):
        if n in wanted:
            out[n] = line
            if len(out) == len(wanted):
                break
    return out


def _arrow_floats(values: list | tuple) -> np.ndarray | None:
    """Decimal strings -> float64 via one joined buffer, split and cast by Arrow in C++
    (about 3x faster than numpy's per-object conversion); None when it cannot decide."""
    try:
        joined = pa.array(["\n".join(values)], type=pa.large_string())
    except TypeError:  # not all str
        return None
    parts = pc.split_pattern(joined, "\n").flatten()
    if len(parts) != len(values):
        return None  # a value held a newline
    try:
        return pc.cast(parts, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None


def _floats(values: list | tuple) -> tuple[np.ndarray, np.ndarray]:
    """Bulk string->float; returns (values, ok mask). Only a bad chunk pays per-value cost."""
    fast = _arrow_floats(values)
    if fast is not None:
        return fast, np.ones(len(values), dtype=bool)
    try:
        return np.array(values, dtype=np.float64), np.ones(len(values), dtype=bool)
    except (ValueError, TypeError):
        out = np.full(len(values), np.nan)
        ok = np.ones(len(values), dtype=bool)
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except (ValueError, TypeError):
                ok[i] = False
        return out, ok


def _ints(values: list | tuple) -> tuple[np.ndarray, np.ndarray]:
    """Bulk int64 conversion; a value that is not a Python int is flagged, never coerced."""
    try:
        if all(type(v) is int for v in values):
            return np.array(values, dtype=np.int64), np.ones(len(values), dtype=bool)
    except TypeError:
        pass
    ok = np.fromiter((type(v) is int and -2**63 <= v < 2**63 for v in values), dtype=bool,
                     count=len(values))
    return np.array([v if good else 0 for v, good in zip(values, ok, strict=True)],
                    dtype=np.int64), ok


def _columns(rows: list[tuple], width: int) -> list[tuple]:
    return list(zip(*rows, strict=True)) if rows else [()] * width


def _refuse(late: list, names: _Names, lines: np.ndarray, recv: np.ndarray, coins: np.ndarray,
            bad: np.ndarray, channel: str, reason: str, detail: str) -> None:
    for i in np.flatnonzero(bad):
        late.append((int(lines[i]), int(recv[i]), channel, names.name(int(coins[i])), reason,
                     detail))


def _stream_order(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A stable order grouping rows by stream (receive order kept inside each stream), and
    for each position in that order whether it starts a new stream."""
    codes = np.zeros(len(keys[0]), dtype=np.int64)
    for k in keys:
        codes = codes * (int(k.max()) + 1 if len(k) else 1) + k
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = sorted_codes[1:] != sorted_codes[:-1]
    return order, starts


def _older_than_stream(keys: list[np.ndarray], t: np.ndarray) -> np.ndarray:
    """Rows whose venue time is older than the latest earlier time in the same stream."""
    if len(t) == 0:
        return np.zeros(0, dtype=bool)
    order, starts = _stream_order(keys)
    ts = t[order]
    group = np.cumsum(starts) - 1
    span = int(ts.max() - ts.min()) + 1
    shifted = group * span + (ts - ts.min())  # monotone across streams: one running max
    prev_max = np.maximum.accumulate(shifted)
    older = np.zeros(len(t), dtype=bool)
    older[1:] = (shifted[1:] < prev_max[:-1]) & ~starts[1:]
    out = np.zeros(len(t), dtype=bool)
    out[order] = older
    return out


def _same_as_previous(keys: list[np.ndarray], values: list[np.ndarray]) -> np.ndarray:
    """Rows identical (in `values`) to the previous row of the same stream: a re-send."""
    if len(values[0]) == 0:
        return np.zeros(0, dtype=bool)
    order, starts = _stream_order(keys)
    same = ~starts
    for v in values:
        vs = v[order]
        eq = np.zeros(len(vs), dtype=bool)
        eq[1:] = (vs[1:] == vs[:-1]) | (np.isnan(vs[1:]) & np.isnan(vs[:-1]))
        same &= eq
    out = np.zeros(len(same), dtype=bool)
    out[order] = same
    return out


def _finish_books(col: _Collector, late: list) -> BookFrames:
    get = col.column
    recv, coin, line = get("books", "recv"), get("books", "coin"), get("books", "line")
    nb, na = get("books", "nb"), get("books", "na")
    numbers_ok = get("books", "ok")
    mats = [col.matrix(k) for k in ("bid_px", "bid_sz", "ask_px", "ask_sz")]
    _refuse(late, col.coins, line, recv, coin, ~numbers_ok, "l2Book", "malformed_l2Book",
            "a level px or sz is not a decimal number")
    sane = _book_is_sane(*mats, nb, na)
    _refuse(late, col.coins, line, recv, coin, numbers_ok & ~sane, "l2Book", "crossed_book",
            "levels out of order, non-positive, or best bid >= best ask")
    keep = numbers_ok & sane
    meta = pd.DataFrame({
        "recv_ts_ms": recv[keep], "coin": col.coins.decode(coin[keep]),
        "time_ms": get("books", "time")[keep], "fast": get("books", "fast")[keep],
        "n_bid": nb[keep], "n_ask": na[keep]})
    return BookFrames(meta, *(m[keep] for m in mats))


def _scatter(out: np.ndarray, flat: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> None:
    """Place each frame's run of `counts` flat values into its row of a padded matrix."""
    total = int(counts.sum())
    if total == 0:
        return
    rows = np.repeat(np.arange(len(counts)), counts)
    cols = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    out[rows, cols] = flat[np.repeat(starts, counts) + cols]


def _book_is_sane(bid_px: np.ndarray, bid_sz: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray,
                  nb: np.ndarray, na: np.ndarray) -> np.ndarray:
    """Bids strictly descending, asks strictly ascending, prices and sizes positive, uncrossed."""
    with np.errstate(invalid="ignore"):
        bid_ok = ~(np.diff(bid_px, axis=1) >= 0).any(axis=1)
        ask_ok = ~(np.diff(ask_px, axis=1) <= 0).any(axis=1)
        positive = ~((bid_sz <= 0) | (ask_sz <= 0) | (bid_px <= 0) | (ask_px <= 0)).any(axis=1)
        uncrossed = ~((nb > 0) & (na > 0)) | (bid_px[:, 0] < ask_px[:, 0])
    return bid_ok & ask_ok & positive & uncrossed


def _frame(col: _Collector, table: str, names: list[str], keep: np.ndarray,
           rename: dict[str, str]) -> pd.DataFrame:
    """The kept rows of a channel's columns; code columns decoded to str."""
    out = {}
    for name in names:
        values = col.column(table, name)[keep]
        if name == "coin":
            values = col.coins.decode(values)
        elif name == "interval":
            values = col.intervals.decode(values)
        out[rename.get(name, name)] = values
    return pd.DataFrame(out)


def _base(col: _Collector, table: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (col.column(table, "recv"), col.column(table, "coin"),
            col.column(table, "line"), col.column(table, "ok"))


def _finish_trades(col: _Collector, late: list) -> pd.DataFrame:
    recv, coin, line, ok = _base(col, "trades")
    px, sz = col.column("trades", "px"), col.column("trades", "sz")
    ok = ok & (coin >= 0) & (px > 0) & (sz > 0)
    bad = np.isin(line, line[~ok])  # one bad trade refuses its whole frame
    first = bad.copy()
    first[1:] &= line[1:] != line[:-1]
    _refuse(late, col.coins, line, recv, coin, first, "trades", "malformed_trades",
            "a trade has a bad coin, time, tid, or a non-positive / non-numeric px or sz")
    return _frame(col, "trades", ["recv", "coin", "time", "side", "px", "sz", "tid", "line"],
                  ~bad, {"recv": "recv_ts_ms", "time": "time_ms", "line": "line_no"})


def _finish_bbo(col: _Collector, late: list, stats: Counter[str]) -> pd.DataFrame:
    recv, coin, line, ok = _base(col, "bbo")
    ok = ok & (coin >= 0)
    t = col.column("bbo", "time")
    nums = {k: col.column("bbo", k) for k in ("bid_px", "bid_sz", "ask_px", "ask_sz")}
    _refuse(late, col.coins, line, recv, coin, ~ok, "bbo", "malformed_bbo",
            "bad coin, time, or a non-numeric px/sz")
    with np.errstate(invalid="ignore"):
        crossed = ok & (nums["bid_px"] >= nums["ask_px"])
    _refuse(late, col.coins, line, recv, coin, crossed, "bbo", "crossed_book",
            "best bid >= best ask")
    keep = ok & ~crossed
    idx = np.flatnonzero(keep)
    old = np.zeros(len(keep), dtype=bool)
    old[idx[_older_than_stream([coin[idx].astype(np.int64)], t[idx])]] = True
    _refuse(late, col.coins, line, recv, coin, old, "bbo", "out_of_order",
            "bbo time before the stream's latest")
    keep &= ~old
    idx = np.flatnonzero(keep)
    resent = _same_as_previous([coin[idx].astype(np.int64)], [t[idx].astype(np.float64)] +
                               [nums[k][idx] for k in nums])
    stats["resent_snapshots"] += int(resent.sum())
    keep[idx[resent]] = False
    return _frame(col, "bbo", ["recv", "coin", "time", *nums, "line"], keep,
                  {"recv": "recv_ts_ms", "time": "time_ms", "line": "line_no"})


_CTX = ("funding", "open_interest", "oracle_px", "mark_px", "mid_px", "premium")


def _finish_ctx(col: _Collector, late: list) -> pd.DataFrame:
    recv, coin, line, ok = _base(col, "ctx")
    ok = ok & (coin >= 0)
    for name in _CTX[:4]:
        ok &= ~np.isnan(col.column("ctx", name))
    _refuse(late, col.coins, line, recv, coin, ~ok, "activeAssetCtx",
            "malformed_activeAssetCtx",
            "bad coin, or funding / openInterest / oraclePx / markPx not a decimal number")
    return _frame(col, "ctx", ["recv", "coin", *_CTX, "line"], ok,
                  {"recv": "recv_ts_ms", "line": "line_no"})


def _finish_candles(col: _Collector, late: list) -> pd.DataFrame:
    recv, coin, line, ok = _base(col, "candles")
    interval = col.column("candles", "interval")
    o, h, lo, c = (col.column("candles", k) for k in ("o", "h", "l", "c"))
    with np.errstate(invalid="ignore"):
        ok = ok & (coin >= 0) & (interval >= 0) & (lo <= np.minimum(o, c)) & (
            h >= np.maximum(o, c))
    _refuse(late, col.coins, line, recv, coin, ~ok, "candle", "malformed_candle",
            "bad s / i / t / T / n, a non-numeric price, or not l <= o, c <= h")
    idx = np.flatnonzero(ok)
    t_open = col.column("candles", "t_open_ms")
    old = np.zeros(len(ok), dtype=bool)
    old[idx[_older_than_stream([coin[idx].astype(np.int64), interval[idx].astype(np.int64)],
                               t_open[idx])]] = True
    _refuse(late, col.coins, line, recv, coin, old, "candle", "out_of_order",
            "candle opened before the stream's current one")
    return _frame(col, "candles", ["recv", "coin", "interval", "t_open_ms", "t_close_ms", "o",
                                   "h", "l", "c", "v", "n", "line"], ok & ~old,
                  {"recv": "recv_ts_ms", "line": "line_no"})


def _counts(books: pd.DataFrame, trades: pd.DataFrame, bbo: pd.DataFrame, ctx: pd.DataFrame,
            candles: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Accepted frames per (channel, coin); a trades frame counts once however many trades."""
    out: dict[tuple[str, str], int] = {}
    for channel, frame in (("l2Book", books), ("bbo", bbo), ("activeAssetCtx", ctx),
                           ("candle", candles)):
        for coin, n in frame.groupby("coin", sort=True).size().items():
            out[(channel, str(coin))] = int(n)
    for coin, n in trades.groupby("coin", sort=True)["line_no"].nunique().items():
        out[("trades", str(coin))] = int(n)
    return out
