"""A chunk extracted by the numba scan (`lotus_core.feed.scan`), the lines it leaves read by
the typed and generic paths (`lotus_core.feed.extract.ChunkBuilder`), merged in line order.

Why: the scan reads the plain data lines (nearly all of a day) without per-line Python; the
other lines (text, control frames, anything unusual) keep their one set of rules. The
chunk is the one `ChunkBuilder` gives for the same lines: rows in line order, coins and
intervals coded first seen first over the tables in their order, decimals to the same
bits as `extract.floats` (tests/core/feed/test_feed_scan.py).
"""

from __future__ import annotations

import numpy as np

from lotus_core.feed import extract as ex
from lotus_core.feed import scan

_MIN_LEVEL_BYTES = 19  # {"px":"1","sz":"1"}
_MIN_TRADE_BYTES = 50  # {"coin":"X","side":"B","px":"1","sz":"1","time":1,"tid":1}
_SLOTS = 1 << 13  # a chunk's distinct coins (intervals) the scan codes: up to half this


def _tables(counts: np.ndarray, books: np.ndarray, levels: np.ndarray, trades: np.ndarray,
            trades_f: np.ndarray, bbo: np.ndarray, bbo_f: np.ndarray, ctx: np.ndarray,
            ctx_f: np.ndarray, candles: np.ndarray, candles_f: np.ndarray
            ) -> dict[str, dict[str, np.ndarray]]:
    """The scan's rows as a chunk's tables (coins and intervals still the scan's ids)."""
    nbk, nlv, ntr, nbb, ncx, ncd = (int(c) for c in counts[:6])
    b, lv, t, tf = books[:nbk], levels[:nlv], trades[:ntr], trades_f[:ntr]
    q, qf, c, cf, k, kf = bbo[:nbb], bbo_f[:nbb], ctx[:ncx], ctx_f[:ncx], candles[:ncd], \
        candles_f[:ncd]
    i32 = np.int32

    def col(m: np.ndarray, j: int) -> np.ndarray:
        return np.ascontiguousarray(m[:, j])

    out: dict[str, dict[str, np.ndarray]] = {}
    out["books"] = {"recv": col(b, 1), "coin": b[:, 2].astype(i32), "time": col(b, 3),
                    "fast": b[:, 4].astype(bool), "nb": b[:, 5].astype(np.int16),
                    "na": b[:, 6].astype(np.int16), "line": col(b, 0),
                    "ok": np.ones(nbk, dtype=bool), "px": col(lv, 0), "sz": col(lv, 1)}
    out["trades"] = {"recv": col(t, 1), "coin": t[:, 2].astype(i32), "time": col(t, 3),
                     "side": t[:, 4].astype(np.int8), "px": col(tf, 0), "sz": col(tf, 1),
                     "tid": col(t, 5), "line": col(t, 0), "ok": np.ones(ntr, dtype=bool)}
    out["bbo"] = {"recv": col(q, 1), "coin": q[:, 2].astype(i32), "time": col(q, 3),
                  "line": col(q, 0), "bid_px": col(qf, 0), "bid_sz": col(qf, 1),
                  "ask_px": col(qf, 2), "ask_sz": col(qf, 3), "ok": np.ones(nbb, dtype=bool)}
    out["ctx"] = {"recv": col(c, 1), "coin": c[:, 2].astype(i32), "line": col(c, 0),
                  **{name: col(cf, j) for j, name in enumerate(ex.CTX_FIELDS)},
                  "ok": np.ones(ncx, dtype=bool)}
    out["candles"] = {"recv": col(k, 1), "coin": k[:, 2].astype(i32),
                      "interval": k[:, 3].astype(i32), "line": col(k, 0),
                      "t_open_ms": col(k, 4), "t_close_ms": col(k, 5), "n": col(k, 6),
                      **{name: col(kf, j) for j, name in enumerate("ohlcv")},
                      "ok": np.ones(ncd, dtype=bool)}
    return out


def _names(buf: np.ndarray, first: np.ndarray, n: int) -> list[str]:
    return [buf[s:e].tobytes().decode("ascii") for s, e in first[:n].tolist()]


def extract_scanned(first_line: int, lines: list[bytes]) -> ex.Chunk:
    """`chunks.extract_chunk`'s chunk of `lines`, the plain data lines read by the scan."""
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


def warm() -> None:
    """Load (the first time: compile, ~20 s) the scan's kernel in this process: a parse
    does so before its pool forks, so the workers inherit it rather than each compiling."""
    _scan(1, [])


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
    i, f = np.int64, np.float64
    books = np.empty((n, scan.BOOK_COLS), i)
    levels = np.empty((size // _MIN_LEVEL_BYTES + 1, scan.LEVEL_COLS), f)
    n_trades = size // _MIN_TRADE_BYTES + 1
    trades, trades_f = np.empty((n_trades, scan.TRADE_COLS), i), np.empty((n_trades, 2), f)
    bbo, bbo_f = np.empty((n, scan.BBO_COLS), i), np.empty((n, 4), f)
    ctx, ctx_f = np.empty((n, scan.CTX_COLS), i), np.empty((n, 6), f)
    candles, candles_f = np.empty((n, scan.CANDLE_COLS), i), np.empty((n, 5), f)
    coin_slots, iv_slots = (np.full(_SLOTS, -1, dtype=i) for _ in range(2))
    coin_first, iv_first = (np.empty((_SLOTS // 2, 2), i) for _ in range(2))
    counts = np.zeros(8, dtype=i)
    accepted, recv = scan.scan_lines(buf, starts, first_line, books, levels, trades, trades_f,
                                     bbo, bbo_f, ctx, ctx_f, candles, candles_f, coin_slots,
                                     coin_first, iv_slots, iv_first, counts)
    tables = _tables(counts, books, levels, trades, trades_f, bbo, bbo_f, ctx, ctx_f, candles,
                     candles_f)
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
