"""A chunk extracted by the numba scan (`lotus_core.feed.scan`), the lines it leaves read by
the typed and generic paths (`lotus_core.feed.extract.ChunkBuilder`), merged in line order.

Why: the scan reads the plain data lines (nearly all of a day) without per-line Python; the
other lines (text, control frames, anything unusual) keep their one set of rules. The
chunk is the one `ChunkBuilder` gives for the same lines: rows in line order, coins and
intervals coded first seen first over the tables in their order, decimals parsed by Arrow
(the same bits as `extract.floats`, tests/core/feed/test_feed_typed_decode.py).
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lotus_core.feed import extract as ex
from lotus_core.feed import scan

_MIN_LEVEL_BYTES = 19  # {"px":"1","sz":"1"}
_MIN_TRADE_BYTES = 50  # {"coin":"X","side":"B","px":"1","sz":"1","time":1,"tid":1}
_NAN = np.frombuffer(b"nan", dtype=np.uint8).copy()


@numba.njit(cache=True)
def _gather(buf: np.ndarray, spans: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """The strings buf[spans[i, a]:spans[i, b]] ("nan" where the start is -1) as Arrow's
    string buffers: (bytes, int32 offsets)."""
    n = spans.shape[0]
    offsets = np.empty(n + 1, dtype=np.int32)
    total = 0
    for i in range(n):
        offsets[i] = total
        s = spans[i, a]
        total += 3 if s < 0 else spans[i, b] - s
    offsets[n] = total
    out = np.empty(total, dtype=np.uint8)
    for i in range(n):
        s, at = spans[i, a], offsets[i]
        if s < 0:
            out[at], out[at + 1], out[at + 2] = _NAN[0], _NAN[1], _NAN[2]
        else:
            for k in range(spans[i, b] - s):
                out[at + k] = buf[s + k]
    return out, offsets


def _decimals(buf: np.ndarray, spans: np.ndarray, a: int) -> np.ndarray:
    """float64 of the decimal strings whose spans are columns a, a + 1 of `spans`."""
    data, offsets = _gather(buf, spans, a, a + 1)
    strings = pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets),
                                          pa.py_buffer(data))
    try:
        return pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, ValueError):  # never for the scan's plain decimals
        return ex.floats(strings.to_pylist())[0]


def _tables(buf: np.ndarray, counts: np.ndarray, books: np.ndarray, levels: np.ndarray,
            trades: np.ndarray, bbo: np.ndarray, ctx: np.ndarray, candles: np.ndarray
            ) -> dict[str, dict[str, np.ndarray]]:
    """The scan's rows as a chunk's tables (coins and intervals still the scan's ids)."""
    nbk, nlv, ntr, nbb, ncx, ncd = (int(c) for c in counts[:6])
    b, lv, t = books[:nbk], levels[:nlv], trades[:ntr]
    q, c, k = bbo[:nbb], ctx[:ncx], candles[:ncd]
    i64, i32 = np.int64, np.int32
    out: dict[str, dict[str, np.ndarray]] = {}
    out["books"] = {"recv": b[:, 1].copy(), "coin": b[:, 2].astype(i32),
                    "time": b[:, 3].copy(), "fast": b[:, 4].astype(bool),
                    "nb": b[:, 5].astype(np.int16), "na": b[:, 6].astype(np.int16),
                    "line": b[:, 0].copy(), "ok": np.ones(nbk, dtype=bool),
                    "px": _decimals(buf, lv, 0), "sz": _decimals(buf, lv, 2)}
    out["trades"] = {"recv": t[:, 1].copy(), "coin": t[:, 2].astype(i32),
                     "time": t[:, 3].copy(), "side": t[:, 4].astype(np.int8),
                     "px": _decimals(buf, t, 6), "sz": _decimals(buf, t, 8),
                     "tid": t[:, 5].copy(), "line": t[:, 0].copy(),
                     "ok": np.ones(ntr, dtype=bool)}
    out["bbo"] = {"recv": q[:, 1].copy(), "coin": q[:, 2].astype(i32), "time": q[:, 3].copy(),
                  "line": q[:, 0].copy(), "bid_px": _decimals(buf, q, 4),
                  "bid_sz": _decimals(buf, q, 6), "ask_px": _decimals(buf, q, 8),
                  "ask_sz": _decimals(buf, q, 10), "ok": np.ones(nbb, dtype=bool)}
    cx = {"recv": c[:, 1].copy(), "coin": c[:, 2].astype(i32), "line": c[:, 0].copy()}
    for j, name in enumerate(ex.CTX_FIELDS):
        cx[name] = _decimals(buf, c, 3 + 2 * j)
    cx["ok"] = np.ones(ncx, dtype=bool)
    out["ctx"] = cx
    kd = {"recv": k[:, 1].copy(), "coin": k[:, 2].astype(i32), "interval": k[:, 3].astype(i32),
          "line": k[:, 0].copy(), "t_open_ms": k[:, 4].copy(), "t_close_ms": k[:, 5].copy(),
          "n": k[:, 6].copy()}
    for j, name in enumerate(("o", "h", "l", "c", "v")):
        kd[name] = _decimals(buf, k, 7 + 2 * j)
    kd["ok"] = np.ones(ncd, dtype=bool)
    out["candles"] = kd
    for table in out.values():
        for name, col in table.items():
            if col.dtype == i64 and not col.flags.c_contiguous:
                table[name] = np.ascontiguousarray(col)
    return out


def _pow2(n: int) -> int:
    return 1 << max(4, (2 * n).bit_length())


def _names(buf: np.ndarray, first: np.ndarray, n: int) -> list[str]:
    return [buf[s:e].tobytes().decode("ascii") for s, e in first[:n].tolist()]


def extract_scanned(first_line: int, lines: list[bytes]) -> ex.Chunk:
    """`extract.extract_chunk`'s chunk of `lines`, the plain data lines read by the scan."""
    buf, accepted, recv, tables, coins, intervals = _scan(first_line, lines)
    kind = np.full(len(lines), ex.DATA, dtype=np.int8)
    rest = np.flatnonzero(~accepted)
    other = ex.extract_built(0, [lines[i] for i in rest.tolist()])
    numbers = rest + first_line  # the other chunk's line i is the chunk's line numbers[i]
    recv[rest] = other.recv
    kind[rest] = other.kind
    dead = [(int(numbers[d[0]]), *d[1:]) for d in other.dead]
    for table in other.tables.values():
        table["line"] = numbers[table["line"]] if len(numbers) else table["line"]
    _recode(other, coins, "coin")
    _recode(other, intervals, "interval")
    merged = {name: _merge(tables.get(name), other.tables[name]) for name in other.tables}
    coin_names = _first_seen(merged, coins, ("coin", "gap_coin"))
    interval_names = _first_seen(merged, intervals, ("interval",))
    return ex.Chunk(first_line, recv, kind, merged, coin_names, interval_names, dead)


def scanned(lines: list[bytes]) -> np.ndarray:
    """Which lines the scan reads itself (the others go to `ChunkBuilder`)."""
    return _scan(1, lines)[1]


def _scan(first_line: int, lines: list[bytes]) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, dict[str, dict[str, np.ndarray]], list[str],
        list[str]]:
    """(bytes, accepted, recv, tables, coin names, interval names) of the scan."""
    n = len(lines)
    lens = np.fromiter(map(len, lines), dtype=np.int64, count=n)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=starts[1:])
    buf = np.frombuffer(b"".join(lines), dtype=np.uint8)
    size = len(buf)
    e = np.empty
    books, bbo = e((n, scan.BOOK_COLS), np.int64), e((n, scan.BBO_COLS), np.int64)
    ctx, candles = e((n, scan.CTX_COLS), np.int64), e((n, scan.CANDLE_COLS), np.int64)
    levels = e((size // _MIN_LEVEL_BYTES + 1, scan.LEVEL_COLS), np.int64)
    trades = e((size // _MIN_TRADE_BYTES + 1, scan.TRADE_COLS), np.int64)
    coin_slots = np.full(_pow2(n + len(trades)), -1, dtype=np.int64)
    coin_first = e((n + len(trades), 2), np.int64)
    iv_slots = np.full(_pow2(n), -1, dtype=np.int64)
    iv_first = e((n, 2), np.int64)
    counts = np.zeros(8, dtype=np.int64)
    accepted, recv = scan.scan_lines(buf, starts, first_line, books, levels, trades, bbo, ctx,
                                     candles, coin_slots, coin_first, iv_slots, iv_first,
                                     counts)
    tables = _tables(buf, counts, books, levels, trades, bbo, ctx, candles)
    return (buf, accepted, recv, tables, _names(buf, coin_first, int(counts[6])),
            _names(buf, iv_first, int(counts[7])))


def _recode(other: ex.Chunk, names: list[str], key: str) -> None:
    """The other chunk's codes of `key` (coins or intervals) as the scan's ids (`names`
    grows by the ones the scan did not see)."""
    local = other.coins if key == "coin" else other.intervals
    ids = {name: i for i, name in enumerate(names)}
    lut = np.array([ids.setdefault(name, len(ids)) for name in local] + [-1], dtype=np.int32)
    names.extend(list(ids)[len(names):])
    for table in other.tables.values():
        for col in ((key, "gap_coin") if key == "coin" else (key,)):
            if col in table:
                table[col] = lut[table[col]]  # code -1 picks the trailing -1


def _merge(scanned: dict[str, np.ndarray] | None, other: dict[str, np.ndarray]
           ) -> dict[str, np.ndarray]:
    """One table's scanned rows and the other lines' rows, in line order."""
    if scanned is None or len(other["line"]) == 0:
        return other if scanned is None else scanned
    if len(scanned["line"]) == 0:
        return other
    both = {k: np.concatenate([scanned[k], other[k]]) for k in scanned}
    order = np.argsort(both["line"], kind="stable")
    flat = {"px", "sz"} if "nb" in both else set()
    out = {k: (v if k in flat else v[order]) for k, v in both.items()}
    if flat:  # a book's levels follow their frame
        width = both["nb"].astype(np.int64) + both["na"].astype(np.int64)
        starts = np.cumsum(width) - width
        w = width[order]
        at = np.repeat(starts[order] - (np.cumsum(w) - w), w) + np.arange(int(w.sum()))
        out["px"], out["sz"] = both["px"][at], both["sz"][at]
    return out


def _first_seen(tables: dict[str, dict[str, np.ndarray]], names: list[str],
                cols: tuple[str, ...]) -> list[str]:
    """Recode ids to codes in the order `_Codes` gives them: first seen over the tables in
    their order (-1 stays -1). Returns the names by code."""
    seen = [t[c] for t in tables.values() for c in cols if c in t]
    ids = np.concatenate(seen) if seen else np.zeros(0, dtype=np.int32)
    ids = ids[ids >= 0]
    uniq, first = np.unique(ids, return_index=True)
    order = uniq[np.argsort(first)]
    remap = np.full(len(names) + 1, -1, dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    for t in tables.values():
        for c in cols:
            if c in t:
                t[c] = remap[t[c]]
    return [names[i] for i in order.tolist()]
