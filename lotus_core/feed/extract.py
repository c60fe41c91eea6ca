"""Stateless extraction of a chunk of recording lines into numpy columns.

Runs in worker processes. `lotus_core.feed.chunks.extract_chunk` first reads a chunk by
one numba pass over its bytes (`lotus_core.feed.scan_chunk`), which takes the plain data
lines and leaves the rest to `ChunkBuilder` (`extract_built`): each line decoded straight
into the venue's typed structs (msgspec, `lotus_core.venues.hyperliquid.decode`) and its
values appended to the tables' rows. A line the typed decoder refuses is decoded again the
generic way (orjson, values pulled out by key), and a frame whose shape is wrong is
explained by the strict validator: the dead letters are the generic path's alone. Nothing
here depends on other lines (duplicates, ordering, replays are judged later, vectorised,
by `lotus_core.feed.parse`), so chunks can be extracted in any process and in any order.
"""

from __future__ import annotations

import gc
import re
import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lotus_core.feed.tables import GAP_REASONS, MAX_LEVELS
from lotus_core.feed.validate import explain
from lotus_core.venues.hyperliquid.decode import (
    REFUSED,
    BboMsg,
    BookMsg,
    CtxMsg,
    TradesMsg,
    decode_record,
)
from lotus_core.venues.hyperliquid.wire import (
    ASSET_CTX,
    BBO,
    CANDLE,
    CONTROL_CHANNELS,
    GREETING,
    L2BOOK,
    SPOT_ASSET_CTX,
    TRADES,
)

IGNORED_CHANNELS = frozenset({SPOT_ASSET_CTX})
GAP_CHANNEL = "lotusGap"
"""Lotus' own line kind: the recorder's note of a hole in the feed (docs/live.md)."""
RAW_EXCERPT = 2000
_NAN = "nan"
_SIDE = {"B": 1, "A": -1}
_px = itemgetter("px")
_sz = itemgetter("sz")
_lpx = attrgetter("px")  # the same, of a typed level
_lsz = attrgetter("sz")

# what each line turned out to be (per-line `kind` codes)
BAD = 0          # refused here (a dead letter in `dead`)
DATA = 1         # produced rows in a channel table
TEXT = 2         # the venue's plain-text greeting, or a blank line
CONTROL = 3      # + index into CONTROL_CHANNELS
IGNORED = 6
GAP = 7          # a lotusGap record (rows in the `gaps` table)
KIND_STATS = {TEXT: "text_frames",
              **{CONTROL + i: f"{c}_frames" for i, c in enumerate(CONTROL_CHANNELS)},
              IGNORED: "ignored_frames", GAP: "gap_records"}


def init_worker() -> None:
    """Forked workers inherit the parent's signal handlers (Dagster installs its own for
    run termination); restore the defaults so a worker exits when its pool shuts down."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us


def excerpt(line: bytes) -> str:
    return line.rstrip(b"\r\n")[:RAW_EXCERPT].decode("utf-8", errors="replace")


@dataclass
class Chunk:
    """One chunk's columns. Coins and intervals are local codes into `coins`/`intervals`."""

    first_line: int
    recv: np.ndarray                       # per line; -1 when the record itself was bad
    kind: np.ndarray                       # per line (codes above)
    tables: dict[str, dict[str, np.ndarray]]
    coins: list[str]
    intervals: list[str]
    dead: list[tuple[int, int | None, str | None, str | None, str, str, str]] = field(
        default_factory=list)


class _Codes:
    """Small-integer codes for repeated strings; -1 marks a value that is not a string."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.names: list[str] = []

    def encode(self, values: tuple) -> np.ndarray:
        if len(values) <= _FEW or not _PLAIN.issuperset(map(type, values)):
            return self._encode_each(values)  # a live frame's few; a list, a str subclass
        # each distinct value coded once (first seen first), then looked up in C
        lookup = {v: self._code(v) for v in dict.fromkeys(values)}
        return np.fromiter(map(lookup.__getitem__, values), dtype=np.int32, count=len(values))

    def _code(self, v: object) -> int:
        if type(v) is not str or v == "":
            return -1
        c = self.codes.get(v)
        if c is None:
            c = self.codes[v] = len(self.names)
            self.names.append(v)
        return c

    def _encode_each(self, values: tuple) -> np.ndarray:
        codes, names = self.codes, self.names
        out = np.empty(len(values), dtype=np.int32)
        for i, v in enumerate(values):
            c = codes.get(v) if type(v) is str else -1
            if c is None:
                c = -1 if v == "" else len(names)
                if c >= 0:
                    codes[v] = c
                    names.append(v)
            out[i] = c
        return out


_PLAIN = frozenset({str, int, float, bool, type(None)})
"""The hashable types a JSON decoder makes: equal values of two of them (1, 1.0, True)
are never strings, so coding by the distinct values equals coding one by one."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""The range of the int64 columns a receive time, a book's time and a gap's bounds go to:
a line with one outside it is a dead letter, never an overflow of the whole chunk."""

_SETTLE_LINES = 500
"""Lines between two `ChunkBuilder._settle_levels` (a chunk of at most this many is parsed
at its end only, as before)."""

_INT = frozenset({int})
"""`ints`' check that every value is a Python int (not a bool, not a float)."""

_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_FEW = 16
"""Values at most which plain decimals are parsed by `float` (the live feed's one-frame
chunks: Arrow's fixed cost, ~40 us a column, is most of such a chunk's extraction). Both
round correctly to the nearest float64, so a plain decimal gives the same bits either way
(tests/core/feed/test_feed_floats.py); anything else goes to Arrow as before."""


def floats(values: list | tuple) -> tuple[np.ndarray, np.ndarray]:
    """Decimal strings -> float64 (values, ok). Arrow builds a string array from the list and
    parses it in C++ (~55 ns a value, against ~95 for joining the strings and splitting them
    in Arrow and ~190 for `float` one by one); only a chunk holding a bad value pays per
    value."""
    if not values:
        return np.empty(0), np.ones(0, dtype=bool)
    if len(values) <= _FEW and all(type(v) is str and _DECIMAL.fullmatch(v) for v in values):
        return np.array([float(v) for v in values]), np.ones(len(values), dtype=bool)
    try:
        parts = pa.array(values, type=pa.string())
        if parts.null_count == 0:  # a None is a null to Arrow, a bad value to `float`
            return (pc.cast(parts, pa.float64()).to_numpy(zero_copy_only=False),
                    np.ones(len(values), dtype=bool))
    except (TypeError, ValueError):  # a value that is no string; one Arrow cannot parse
        pass
    out = np.full(len(values), np.nan)
    ok = np.ones(len(values), dtype=bool)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (ValueError, TypeError):
            ok[i] = False
    return out, ok


def _finite_floats(values: list) -> np.ndarray | None:
    """Arrow's float64 of every value, or None unless each is a string Arrow reads as a
    finite number (for these `float` gives the same bits: nan's sign, inf's spellings are
    left out; a None, an Arrow null, comes out as NaN)."""
    try:
        out = pc.cast(pa.array(values, type=pa.string()), pa.float64())
    except (TypeError, ValueError):
        return None
    got = out.to_numpy(zero_copy_only=False)
    return got if np.isfinite(got).all() else None


def ints(values: list | tuple) -> tuple[np.ndarray, np.ndarray]:
    """int64 (values, ok): a value that is not a Python int is flagged, never coerced."""
    if _INT.issuperset(map(type, values)):  # every value an int (a check in C)
        try:
            return np.array(values, dtype=np.int64), np.ones(len(values), dtype=bool)
        except OverflowError:
            pass
    ok = np.fromiter((type(v) is int and -2**63 <= v < 2**63 for v in values), dtype=bool,
                     count=len(values))
    return np.array([v if good else 0 for v, good in zip(values, ok, strict=True)],
                    dtype=np.int64), ok


def _transpose(rows: list[tuple], width: int) -> list[tuple]:
    return list(zip(*rows, strict=True)) if rows else [()] * width


def extract_built(first_line: int, lines: list[bytes], typed: bool = True) -> Chunk:
    """`chunks.extract_chunk` by `ChunkBuilder` alone (typed, or generic: `typed=False`)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        builder = ChunkBuilder(first_line)
        if typed:
            builder.add_lines(lines)
        else:
            for line in lines:
                builder.add_line(line)
        return builder.finish()
    finally:
        if enabled:
            gc.enable()


class ChunkBuilder:
    """A chunk built one line at a time: `extract_chunk` feeds it lines (`add_lines`); the
    live feed loop, which has already parsed each frame it records, hands it the record's
    parts (`add_record`), so a live frame is decoded once. Only `add_record` (and
    `bad_line`) judge a line: one validation code for the nightly chain and the live path.
    `add_lines` reads itself only the lines its typed decoder proves to be of the contract's
    shape, into the rows `add_record` would append (tests/core/feed/
    test_feed_typed_decode.py), and hands it every other line."""

    def __init__(self, first_line: int) -> None:
        self.first_line = first_line
        self.recv: list[int] = []
        self.kind = bytearray()
        self.dead: list[tuple] = []
        self.book_meta: list[tuple] = []
        self.book_px: list[str] = []
        self.book_sz: list[str] = []
        self._px_parts: list[np.ndarray] = []  # book levels parsed already (`_settle_levels`)
        self._sz_parts: list[np.ndarray] = []
        self._unsettled = False  # a level string that is no finite number: parse at the end
        self.trades: list[tuple] = []
        self.bbo: list[tuple] = []
        self.ctx: list[tuple] = []
        self.candles: list[tuple] = []
        self.gaps: list[tuple] = []

    def add_line(self, line: bytes) -> None:
        """One recording line, decoded here."""
        try:
            rec = orjson.loads(line)
            recv = rec["recv_ts_ms"]
            msg = rec["msg"]
            if type(recv) is not int or not INT64_MIN <= recv <= INT64_MAX:
                raise TypeError
        except (orjson.JSONDecodeError, TypeError, KeyError, IndexError) as exc:
            self.bad_line(line, exc)
            return
        self.add_record(recv, msg, line)

    def add_lines(self, lines: Sequence[bytes]) -> None:
        """Recording lines, each decoded straight into the venue's typed structs
        (`lotus_core.venues.hyperliquid.decode`) and its values appended as `add_record`
        appends them; a line the typed decoder refuses goes to `add_line`, which alone
        judges it (dead letters, text, control frames): one set of rules either way. Every
        `_SETTLE_LINES` lines the books' level strings are parsed (`_settle_levels`)."""
        for at in range(0, len(lines), _SETTLE_LINES):
            if at:
                self._settle_levels()
            self._add_typed(lines[at:at + _SETTLE_LINES])

    def _add_typed(self, lines: Iterable[bytes]) -> None:  # noqa: C901
        """`add_lines`' loop."""
        recv_add, kind_add, slow = self.recv.append, self.kind.append, self.add_line
        book_add, px_ext, sz_ext = self.book_meta.append, self.book_px.extend, self.book_sz.extend
        trade_add, bbo_add = self.trades.append, self.bbo.append
        ctx_add, candle_add = self.ctx.append, self.candles.append
        decode, side_code, most, nan = decode_record, _SIDE, MAX_LEVELS, _NAN
        line_no = self.first_line + len(self.kind)
        for line in lines:
            try:
                rec = decode(line)
            except REFUSED:
                slow(line)
                line_no += 1
                continue
            recv, msg = rec.recv_ts_ms, rec.msg
            if isinstance(msg, BookMsg):  # the most frequent first
                book = msg.data
                bids, asks = book.levels
                nb, na = len(bids), len(asks)
                if nb > most or na > most:
                    slow(line)
                    line_no += 1
                    continue
                px_ext(map(_lpx, bids))
                px_ext(map(_lpx, asks))
                sz_ext(map(_lsz, bids))
                sz_ext(map(_lsz, asks))
                book_add((recv, book.coin, book.time, book.fast, nb, na, line_no))
            elif isinstance(msg, BboMsg):
                bbo = msg.data
                b, a = bbo.bbo
                bbo_add((recv, bbo.coin, bbo.time,
                         nan if b is None else b.px, nan if b is None else b.sz,
                         nan if a is None else a.px, nan if a is None else a.sz, line_no))
            elif isinstance(msg, TradesMsg):
                for t in msg.data:
                    trade_add((recv, t.coin, t.time, side_code[t.side], t.px, t.sz, t.tid,
                               line_no))
            elif isinstance(msg, CtxMsg):
                coin, c = msg.data.coin, msg.data.ctx
                mid, prem = c.midPx, c.premium
                ctx_add((recv, coin, c.funding, c.openInterest, c.oraclePx, c.markPx,
                         nan if mid is None else mid, nan if prem is None else prem, line_no))
            else:  # CandleMsg
                k = msg.data
                candle_add((recv, k.coin, k.interval, k.t_open, k.t_close, k.o, k.h, k.low, k.c,
                            k.v, k.n, line_no))
            recv_add(recv)
            kind_add(DATA)
            line_no += 1

    def _settle_levels(self) -> None:
        """Parse the books' level strings gathered so far while they are still in cache, and
        free them (a chunk of 50,000 lines holds ~1M; parsed on the way, its extraction
        took ~15% less CPU). Only if every one is a finite number Arrow reads: then `float`
        reads each to the same bits, so these are the values `floats` over the whole chunk
        gives, by Arrow or one by one (tests/core/feed/test_feed_typed_decode.py).
        Otherwise these and all later ones stay strings for `finish`, as before."""
        if self._unsettled or not self.book_px:
            return
        px, sz = _finite_floats(self.book_px), _finite_floats(self.book_sz)
        if px is None or sz is None:
            self._unsettled = True
            return
        self._px_parts.append(px)
        self._sz_parts.append(sz)
        self.book_px.clear()
        self.book_sz.clear()

    def _levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(px, px_ok, sz, sz_ok) of every book level: the settled parts, then `floats`
        of the strings still pending."""
        px, px_ok = floats(self.book_px)
        sz, sz_ok = floats(self.book_sz)
        if not self._px_parts:
            return px, px_ok, sz, sz_ok
        done = sum(map(len, self._px_parts))
        return (np.concatenate([*self._px_parts, px]),
                np.concatenate([np.ones(done, dtype=bool), px_ok]),
                np.concatenate([*self._sz_parts, sz]),
                np.concatenate([np.ones(done, dtype=bool), sz_ok]))

    def bad_line(self, line: bytes, exc: Exception) -> None:
        """A line that is not a record: not JSON (`orjson.JSONDecodeError`), or JSON that
        is not {"recv_ts_ms": <int>, "msg": ...}."""
        line_no = self.first_line + len(self.kind)
        self.recv.append(-1)
        if isinstance(exc, orjson.JSONDecodeError):
            if not line.strip():
                self.kind.append(TEXT)  # a blank line: nothing lost, counted with text frames
                return
            self.dead.append((line_no, None, None, None, "malformed_json", str(exc),
                              excerpt(line)))
        else:
            self.dead.append((line_no, None, None, None, "bad_record",
                              'a line must be {"recv_ts_ms": <int>, "msg": <message>}',
                              excerpt(line)))
        self.kind.append(BAD)

    def add_record(self, recv: int, msg: object, line: bytes) -> None:  # noqa: C901
        """The record `line` holds, already decoded: `recv` its recv_ts_ms (an int), `msg`
        its message (a JSON value)."""
        line_no = self.first_line + len(self.kind)
        self.recv.append(recv)
        try:
            channel = msg["channel"]  # type: ignore[index]
            data = msg.get("data")  # type: ignore[attr-defined]
            if channel == BBO:
                b, a = data["bbo"]
                self.bbo.append((recv, data["coin"], data["time"],
                                 b["px"] if b is not None else _NAN,
                                 b["sz"] if b is not None else _NAN,
                                 a["px"] if a is not None else _NAN,
                                 a["sz"] if a is not None else _NAN, line_no))
            elif channel == L2BOOK:
                coin = data["coin"]
                t = data["time"]
                bids, asks = data["levels"]
                if type(t) is not int or not INT64_MIN <= t <= INT64_MAX \
                        or type(coin) is not str:
                    raise TypeError
                nb, na = len(bids), len(asks)
                if nb > MAX_LEVELS or na > MAX_LEVELS:
                    raise TypeError
                frame_px = [*map(_px, bids), *map(_px, asks)]  # fails before any list grows
                frame_sz = [*map(_sz, bids), *map(_sz, asks)]
                self.book_px.extend(frame_px)
                self.book_sz.extend(frame_sz)
                self.book_meta.append((recv, coin, t, data.get("fast") is True, nb, na, line_no))
            elif channel == TRADES:
                rows = [(recv, tr["coin"], tr["time"], _SIDE[tr["side"]], tr["px"], tr["sz"],
                         tr["tid"], line_no) for tr in data]
                if not rows:
                    raise TypeError
                self.trades.extend(rows)
            elif channel == ASSET_CTX:
                c = data["ctx"]
                mid, prem = c.get("midPx"), c.get("premium")
                self.ctx.append((recv, data["coin"], c["funding"], c["openInterest"],
                                 c["oraclePx"], c["markPx"], _NAN if mid is None else mid,
                                 _NAN if prem is None else prem, line_no))
            elif channel == CANDLE:
                self.candles.append((recv, data["s"], data["i"], data["t"], data["T"],
                                     data["o"], data["h"], data["l"], data["c"], data["v"],
                                     data["n"], line_no))
            elif channel in CONTROL_CHANNELS:
                self.kind.append(CONTROL + CONTROL_CHANNELS.index(channel))
                return
            elif channel == GAP_CHANNEL:
                self._gap(recv, data, line, line_no)
                return
            elif channel in IGNORED_CHANNELS:
                self.kind.append(IGNORED)
                return
            else:
                self.dead.append((line_no, recv, str(channel), None, "unknown_channel",
                                  f"channel {channel!r} is not one Lotus reads", excerpt(line)))
                self.kind.append(BAD)
                return
            self.kind.append(DATA)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            if isinstance(msg, str):
                if msg == GREETING or not msg.strip():
                    self.kind.append(TEXT)  # the venue's one plain-text frame
                    return
                self.dead.append((line_no, recv, None, None, "malformed_json",
                                  "a text frame that is not JSON (the venue's only plain-text "
                                  "frame is its greeting)", excerpt(line)))
                self.kind.append(BAD)
                return
            reason, ch, coin, detail = explain(msg)
            self.dead.append((line_no, recv, ch, coin, reason, detail, excerpt(line)))
            self.kind.append(BAD)

    def _gap(self, recv: int, data: object, line: bytes, line_no: int) -> None:
        """A lotusGap record: one `gaps` row per coin it names (coin "" for all coins);
        a record of the wrong shape is a `malformed_lotusGap` dead letter."""
        try:
            start, end = data["start_ms"], data["end_ms"]  # type: ignore[index]
            reason = GAP_REASONS.index(data["reason"])  # type: ignore[index]
            coins = data.get("coins")  # type: ignore[attr-defined]
            names = [""] if coins is None else list(coins)
            if (type(start) is not int or not (end is None or type(end) is int)
                    or not INT64_MIN <= start <= INT64_MAX
                    or (end is not None and not INT64_MIN <= end <= INT64_MAX)
                    or (end is not None and end < start) or not names
                    or not all(type(c) is str and (c or coins is None) for c in names)):
                raise TypeError
        except (KeyError, TypeError, ValueError, AttributeError):
            self.dead.append((line_no, recv, GAP_CHANNEL, None, "malformed_lotusGap",
                              "data must be {start_ms: int, end_ms: int >= start_ms | null, "
                              "reason: disconnect | stall, coins: [str] | null}",
                              excerpt(line)))
            self.kind.append(BAD)
            return
        self.gaps.extend((recv, start, -1 if end is None else end, reason, c, line_no)
                         for c in names)
        self.kind.append(GAP)

    def finish(self, empty: bool = True) -> Chunk:
        """The chunk; `empty=False` leaves out the tables no line reached (a live batch of a
        frame touches one: building the other four's empty columns cost ~0.1 ms)."""
        coins, intervals = _Codes(), _Codes()
        build = {
            "books": (self.book_meta, lambda: _books(self.book_meta, *self._levels(), coins)),
            "trades": (self.trades, lambda: _trades(self.trades, coins)),
            "bbo": (self.bbo, lambda: _bbo(self.bbo, coins)),
            "ctx": (self.ctx, lambda: _ctx(self.ctx, coins)),
            "candles": (self.candles, lambda: _candles(self.candles, coins, intervals)),
            "gaps": (self.gaps, lambda: _gaps(self.gaps, coins)),
        }
        tables = {name: make() for name, (rows, make) in build.items() if empty or rows}
        return Chunk(self.first_line, np.array(self.recv, dtype=np.int64),
                     np.frombuffer(bytes(self.kind), dtype=np.int8).copy(), tables,
                     coins.names, intervals.names, self.dead)


def _scatter(out: np.ndarray, flat: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> None:
    """Place each frame's run of `counts` flat values into its row of a padded matrix."""
    total = int(counts.sum())
    if total == 0:
        return
    rows = np.repeat(np.arange(len(counts)), counts)
    cols = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    out[rows, cols] = flat[np.repeat(starts, counts) + cols]


def _books(meta: list[tuple], px_a: np.ndarray, px_ok: np.ndarray, sz_a: np.ndarray,
           sz_ok: np.ndarray, coins: _Codes) -> dict[str, np.ndarray]:
    """A chunk's books with their levels flat (`px`, `sz`: each frame's bids then asks), not
    padded to MAX_LEVELS: a fast 5-level frame costs 10 values, not 40 (what a chunk holds
    and ships back from a worker); `book_matrices` pads them when the day is assembled."""
    recv, coin, t, fast, nb, na, lines = _transpose(meta, 7)
    n = len(recv)
    nb_a = np.array(nb, dtype=np.int64)
    na_a = np.array(na, dtype=np.int64)
    ok = np.ones(n, dtype=bool)
    ok[np.repeat(np.arange(n), nb_a + na_a)[~(px_ok & sz_ok)]] = False
    return {"recv": np.array(recv, dtype=np.int64), "coin": coins.encode(coin),
            "time": np.array(t, dtype=np.int64), "fast": np.array(fast, dtype=bool),
            "nb": nb_a.astype(np.int16), "na": na_a.astype(np.int16),
            "line": np.array(lines, dtype=np.int64), "ok": ok, "px": px_a, "sz": sz_a}


BOOK_MATRICES = ("bid_px", "bid_sz", "ask_px", "ask_sz")


def book_matrices(table: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The (n, MAX_LEVELS) float64 bid_px, bid_sz, ask_px, ask_sz of a chunk's books, best
    level first, NaN-padded, from its flat `px` / `sz`."""
    if len(table["nb"]) <= _FEW_BOOKS:
        return _few_book_matrices(table)
    mats = [np.empty((len(table["nb"]), MAX_LEVELS)) for _ in range(4)]
    book_matrices_into(table, mats)
    return mats


def book_matrices_into(table: dict[str, np.ndarray], mats: list[np.ndarray]) -> None:
    """`book_matrices` written into `mats` (views of the day's matrices, one row a frame):
    the assembly fills its own without a chunk's copy of them in between."""
    nb_a, na_a = table["nb"].astype(np.int64), table["na"].astype(np.int64)
    px_a, sz_a = table["px"], table["sz"]
    starts = np.cumsum(nb_a + na_a) - (nb_a + na_a)
    for m in mats:
        m.fill(np.nan)
    _scatter(mats[0], px_a, starts, nb_a)
    _scatter(mats[1], sz_a, starts, nb_a)
    _scatter(mats[2], px_a, starts + nb_a, na_a)
    _scatter(mats[3], sz_a, starts + nb_a, na_a)


def kept_books(table: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """A books table's frames where `mask`, with their flat levels (what `book_matrices`
    reads)."""
    flat = np.repeat(mask, table["nb"].astype(np.int64) + table["na"].astype(np.int64))
    return {"nb": table["nb"][mask], "na": table["na"][mask], "px": table["px"][flat],
            "sz": table["sz"][flat]}


_FEW_BOOKS = 8
"""Frames at most which `book_matrices` copies each frame's levels by slices (a live batch
of a frame or two: the vectorised scatter's fixed cost is most of such a batch's parse)."""


def _few_book_matrices(table: dict[str, np.ndarray]) -> list[np.ndarray]:
    """`book_matrices` a frame at a time: the same values in the same places."""
    px_a, sz_a = table["px"], table["sz"]
    n = len(table["nb"])
    mats = [np.full((n, MAX_LEVELS), np.nan) for _ in range(4)]
    at = 0
    for i, (nb, na) in enumerate(zip(table["nb"].tolist(), table["na"].tolist(), strict=True)):
        mid, end = at + nb, at + nb + na
        mats[0][i, :nb], mats[1][i, :nb] = px_a[at:mid], sz_a[at:mid]
        mats[2][i, :na], mats[3][i, :na] = px_a[mid:end], sz_a[mid:end]
        at = end
    return mats


def padded_books(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A chunk's books table with the four matrices in place of the flat levels (a new
    dict; the chunk's own is left as it is)."""
    out = {k: v for k, v in table.items() if k not in ("px", "sz")}
    out.update(zip(BOOK_MATRICES, book_matrices(table), strict=True))
    return out


def _trades(rows: list[tuple], coins: _Codes) -> dict[str, np.ndarray]:
    recv, coin, t, side, px, sz, tid, lines = _transpose(rows, 8)
    t_a, t_ok = ints(t)
    tid_a, tid_ok = ints(tid)
    px_a, px_ok = floats(px)
    sz_a, sz_ok = floats(sz)
    return {"recv": np.array(recv, dtype=np.int64), "coin": coins.encode(coin), "time": t_a,
            "side": np.array(side, dtype=np.int8), "px": px_a, "sz": sz_a, "tid": tid_a,
            "line": np.array(lines, dtype=np.int64), "ok": t_ok & tid_ok & px_ok & sz_ok}


def _bbo(rows: list[tuple], coins: _Codes) -> dict[str, np.ndarray]:
    recv, coin, t, bpx, bsz, apx, asz, lines = _transpose(rows, 8)
    t_a, ok = ints(t)
    out = {"recv": np.array(recv, dtype=np.int64), "coin": coins.encode(coin), "time": t_a,
           "line": np.array(lines, dtype=np.int64)}
    for name, values in (("bid_px", bpx), ("bid_sz", bsz), ("ask_px", apx), ("ask_sz", asz)):
        out[name], good = floats(values)
        ok &= good
    out["ok"] = ok
    return out


CTX_FIELDS = ("funding", "open_interest", "oracle_px", "mark_px", "mid_px", "premium")


def _ctx(rows: list[tuple], coins: _Codes) -> dict[str, np.ndarray]:
    recv, coin, *values, lines = _transpose(rows, 9)
    ok = np.ones(len(recv), dtype=bool)
    out = {"recv": np.array(recv, dtype=np.int64), "coin": coins.encode(coin),
           "line": np.array(lines, dtype=np.int64)}
    for name, column in zip(CTX_FIELDS, values, strict=True):
        out[name], good = floats(column)
        ok &= good
    out["ok"] = ok
    return out


def _gaps(rows: list[tuple], coins: _Codes) -> dict[str, np.ndarray]:
    """Gap rows; `gap_coin` is a coin code, -1 for a gap of every coin (named apart from
    `coin` so a coin shard keeps every gap: the tape reads the ones of its coins)."""
    recv, start, end, reason, coin, lines = _transpose(rows, 6)
    return {"recv": np.array(recv, dtype=np.int64), "start": np.array(start, dtype=np.int64),
            "end": np.array(end, dtype=np.int64), "reason": np.array(reason, dtype=np.int8),
            "gap_coin": coins.encode(coin), "line": np.array(lines, dtype=np.int64)}


def _candles(rows: list[tuple], coins: _Codes, intervals: _Codes) -> dict[str, np.ndarray]:
    recv, coin, interval, t_open, t_close, o, h, lo, c, v, n, lines = _transpose(rows, 12)
    ok = np.ones(len(recv), dtype=bool)
    out = {"recv": np.array(recv, dtype=np.int64), "coin": coins.encode(coin),
           "interval": intervals.encode(interval), "line": np.array(lines, dtype=np.int64)}
    for name, values in (("t_open_ms", t_open), ("t_close_ms", t_close), ("n", n)):
        out[name], good = ints(values)
        ok &= good
    for name, values in (("o", o), ("h", h), ("l", lo), ("c", c), ("v", v)):
        out[name], good = floats(values)
        ok &= good
    out["ok"] = ok
    return out
