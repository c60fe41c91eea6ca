"""A chunk's lines read in one numba pass: the data lines in the contract's plainest form.

Why: per-line Python (a typed decode, then its values appended to rows) was most of the
parse. This kernel walks the chunk's bytes once and accepts a line only if it is a record
`lotus_core.venues.hyperliquid.decode` accepts (same fields, same types, unknown keys
refused), written plainly: no whitespace, no string escapes, only printable ASCII in
strings, every integer of at most 18 digits, every decimal field a plain decimal
(-?digits[.digits], `_num`), `recv_ts_ms` before `msg` and `channel` before `data`, no key twice,
coins and intervals non-empty. For such a line the values are exactly the typed path's.
Every other line is left to the typed and generic paths (`lotus_core.feed.extract`), which
alone judge it. A decimal field is read only when its value is one exact division
(`_num`); coins and intervals come back as ids, first seen first
(`lotus_core.feed.scan_chunk` makes them the chunk's codes).
"""

from __future__ import annotations

import numba
import numpy as np

from lotus_core.feed.tables import MAX_LEVELS

Arr = np.ndarray


def _lit(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), dtype=np.uint8).copy()


K_RECV, K_MSG, K_CHANNEL, K_DATA = _lit('"recv_ts_ms":'), _lit('"msg":'), _lit(
    '"channel":"'), _lit('"data":')
CH_BOOK, CH_BBO, CH_TRADES, CH_CTX, CH_CANDLE = (
    _lit("l2Book"), _lit("bbo"), _lit("trades"), _lit("activeAssetCtx"), _lit("candle"))
# object keys (without quotes)
PX, SZ, N = _lit("px"), _lit("sz"), _lit("n")
COIN, TIME, LEVELS, FAST, SPREAD = _lit("coin"), _lit("time"), _lit("levels"), _lit(
    "fast"), _lit("spread")
SIDE, TID, HASH, USERS = _lit("side"), _lit("tid"), _lit("hash"), _lit("users")
BBO = _lit("bbo")
CTX = _lit("ctx")
FUNDING, OI, ORACLE, MARK, MID, PREM = (_lit("funding"), _lit("openInterest"),
                                        _lit("oraclePx"), _lit("markPx"), _lit("midPx"),
                                        _lit("premium"))
PREV, NTL, BASE, IMPACT = _lit("prevDayPx"), _lit("dayNtlVlm"), _lit("dayBaseVlm"), _lit(
    "impactPxs")
C_T, C_TT, C_S, C_I, C_O, C_H, C_L, C_C, C_V = (
    _lit("t"), _lit("T"), _lit("s"), _lit("i"), _lit("o"), _lit("h"), _lit("l"), _lit("c"),
    _lit("v"))
TRUE, FALSE, NULL = _lit("true"), _lit("false"), _lit("null")

# columns of the int64 and float64 row matrices the kernel fills
BOOK_COLS = 8     # line, recv, coin, time, fast, nb, na, first level
LEVEL_COLS = 2    # (float) px, sz
TRADE_COLS = 6    # line, recv, coin, time, side, tid; (float) px, sz
BBO_COLS = 4      # line, recv, coin, time; (float) bid px, bid sz, ask px, ask sz
CTX_COLS = 3      # line, recv, coin; (float) funding, oi, oracle, mark, mid, premium
CANDLE_COLS = 7   # line, recv, coin, interval, t, T, n; (float) o, h, l, c, v

_MAX_DIGITS = 18  # an integer of at most 18 digits is inside int64
_MAX_DECIMAL_DIGITS = 17  # and a decimal of at most 17 digits (its digits as an integer)
_EXACT = 2**53  # integers up to this are exact in float64
_POW10 = np.array([10.0**k for k in range(23)])  # each exact in float64


@numba.njit(cache=True)
def _at(buf: np.ndarray, p: int, end: int, lit: np.ndarray) -> int:
    """p past `lit` if buf[p:] starts with it, else -1."""
    n = lit.shape[0]
    if p < 0 or p + n > end:
        return -1
    for k in range(n):
        if buf[p + k] != lit[k]:
            return -1
    return p + n


@numba.njit(cache=True)
def _eq(buf: np.ndarray, s: int, e: int, lit: np.ndarray) -> bool:
    if e - s != lit.shape[0]:
        return False
    for k in range(e - s):  # noqa: SIM110 (numba: a plain loop)
        if buf[s + k] != lit[k]:
            return False
    return True


@numba.njit(cache=True)
def _string(buf: np.ndarray, p: int, end: int) -> tuple[int, int, int]:
    """(start, end, next) of a plain string at p (printable ASCII, no escape); next -1."""
    if p < 0 or p >= end or buf[p] != 34:
        return 0, 0, -1
    s = p + 1
    q = s
    while q < end:
        c = buf[q]
        if c == 34:
            return s, q, q + 1
        if c < 32 or c > 126 or c == 92:
            return 0, 0, -1
        q += 1
    return 0, 0, -1


@numba.njit(cache=True)
def _int(buf: np.ndarray, p: int, end: int) -> tuple[int, int]:
    """(value, next) of a JSON integer of at most 18 digits at p; next -1."""
    if p < 0 or p >= end:
        return 0, -1
    neg = buf[p] == 45
    q = p + 1 if neg else p
    s = q
    v = 0
    while q < end and 48 <= buf[q] <= 57:
        v = v * 10 + (buf[q] - 48)
        q += 1
    nd = q - s
    if nd == 0 or nd > _MAX_DIGITS or (nd > 1 and buf[s] == 48):
        return 0, -1
    if q < end and (buf[q] == 46 or buf[q] == 101 or buf[q] == 69):
        return 0, -1  # a fraction or an exponent: not an integer
    return (-v if neg else v), q


@numba.njit(cache=True)
def _num(buf: np.ndarray, p: int, end: int) -> tuple[float, int]:
    """(value, next) of a string field holding a plain decimal -?digits[.digits] of at most
    17 digits whose digits make an integer m <= 2**53: then m / 10**k (k fraction digits)
    is one correctly rounded division of two exact doubles, the value Arrow and `float`
    read from the string, to the bit (-0 included). next -1 for anything else."""
    if p >= end or buf[p] != 34:
        return 0.0, -1
    q = p + 1
    neg = q < end and buf[q] == 45
    if neg:
        q += 1
    m = 0
    d0 = q
    while q < end and 48 <= buf[q] <= 57:
        m = m * 10 + (buf[q] - 48)
        q += 1
        if q - d0 > _MAX_DECIMAL_DIGITS:
            return 0.0, -1
    nint = q - d0
    if nint == 0:
        return 0.0, -1
    k = 0
    if q < end and buf[q] == 46:
        q += 1
        f0 = q
        while q < end and 48 <= buf[q] <= 57:
            m = m * 10 + (buf[q] - 48)
            q += 1
            if nint + q - f0 > _MAX_DECIMAL_DIGITS:
                return 0.0, -1
        k = q - f0
        if k == 0:
            return 0.0, -1
    if q >= end or buf[q] != 34 or m > _EXACT:
        return 0.0, -1
    v = np.float64(m) / _POW10[k]
    return (-v if neg else v), q + 1


@numba.njit(cache=True)
def _num_or_null(buf: np.ndarray, p: int, end: int) -> tuple[float, int]:
    q = _at(buf, p, end, NULL)
    if q >= 0:
        return np.nan, q
    return _num(buf, p, end)


@numba.njit(cache=True)
def _str_or_null(buf: np.ndarray, p: int, end: int) -> int:
    q = _at(buf, p, end, NULL)
    if q >= 0:
        return q
    return _string(buf, p, end)[2]


@numba.njit(cache=True)
def _str_list(buf: np.ndarray, p: int, end: int) -> int:
    """next past a list of plain strings; -1."""
    if p < 0 or p >= end or buf[p] != 91:
        return -1
    p += 1
    if p < end and buf[p] == 93:
        return p + 1
    while True:
        p = _string(buf, p, end)[2]
        if p < 0 or p >= end:
            return -1
        if buf[p] == 93:
            return p + 1
        if buf[p] != 44:
            return -1
        p += 1


@numba.njit(cache=True)
def _key(buf: np.ndarray, p: int, end: int) -> tuple[int, int, int]:
    """(start, end, next past the colon) of an object key; next -1."""
    s, e, q = _string(buf, p, end)
    if q < 0 or q >= end or buf[q] != 58:
        return 0, 0, -1
    return s, e, q + 1


@numba.njit(cache=True)
def _after_value(buf: np.ndarray, p: int, end: int) -> tuple[int, bool]:
    """After an object's value: (next, closed) past ',' (another key) or '}' (closed)."""
    if p < 0 or p >= end:
        return -1, False
    if buf[p] == 44:
        return p + 1, False
    if buf[p] == 125:
        return p + 1, True
    return -1, False


@numba.njit(cache=True)
def _code(buf: np.ndarray, s: int, e: int, slots: np.ndarray, first: np.ndarray,
          nfirst: np.ndarray) -> int:
    """Id of the string buf[s:e] among those seen (first seen first): an open-addressing
    table `slots` of ids (-1 empty); `first` holds each id's (start, end); nfirst[0] ids.
    -1 once half the slots are taken (a chunk of thousands of coins)."""
    h = np.uint64(14695981039346656037)
    for k in range(s, e):
        h = (h ^ np.uint64(buf[k])) * np.uint64(1099511628211)
    mask = slots.shape[0] - 1
    i = np.int64(h & np.uint64(mask))
    while True:
        c = slots[i]
        if c < 0:
            c = nfirst[0]
            if 2 * c >= slots.shape[0]:
                return -1  # the table half full: the line is left to the other paths
            slots[i] = c
            first[c, 0] = s
            first[c, 1] = e
            nfirst[0] = c + 1
            return c
        fs, fe = first[c, 0], first[c, 1]
        if fe - fs == e - s:
            same = True
            for k in range(e - s):
                if buf[fs + k] != buf[s + k]:
                    same = False
                    break
            if same:
                return c
        i = (i + 1) & mask


@numba.njit(cache=True)
def _coded(buf: np.ndarray, p: int, end: int, slots: np.ndarray, first: np.ndarray,
           nfirst: np.ndarray) -> tuple[int, int]:
    """A non-empty string value at p, coded by `_code`: (its id, next); (-1, -1) for
    anything else (the line is left to the other paths)."""
    cs, ce, p = _string(buf, p, end)
    if p < 0 or ce == cs:
        return -1, -1
    code = _code(buf, cs, ce, slots, first, nfirst)
    if code < 0:
        return -1, -1
    return code, p


@numba.njit(cache=True)
def _level(buf: np.ndarray, p: int, end: int, out: np.ndarray, row: int, col: int) -> int:
    """A level object {px, sz, n?} at p: its px, sz into out[row, col:col + 2]; next,
    or -1."""
    if p < 0 or p >= end or buf[p] != 123:
        return -1
    p += 1
    seen = 0
    if p < end and buf[p] == 125:
        return -1
    while True:
        s, e, p = _key(buf, p, end)
        if p < 0:
            return -1
        if _eq(buf, s, e, PX) and not seen & 1:
            seen |= 1
            out[row, col], p = _num(buf, p, end)
        elif _eq(buf, s, e, SZ) and not seen & 2:
            seen |= 2
            out[row, col + 1], p = _num(buf, p, end)
        elif _eq(buf, s, e, N) and not seen & 4:
            seen |= 4
            p = _int(buf, p, end)[1]
        else:
            return -1
        p, closed = _after_value(buf, p, end)
        if p < 0:
            return -1
        if closed:
            return p if seen & 3 == 3 else -1


@numba.njit(cache=True)
def _side_levels(buf: np.ndarray, p: int, end: int, levels: np.ndarray, nl: int
                 ) -> tuple[int, int]:
    """A list of levels into levels[nl:]: (count, next); next -1."""
    if p < 0 or p >= end or buf[p] != 91:
        return 0, -1
    p += 1
    if p < end and buf[p] == 93:
        return 0, p + 1
    k = 0
    while True:
        if k == MAX_LEVELS or nl + k >= levels.shape[0]:
            return 0, -1
        p = _level(buf, p, end, levels, nl + k, 0)
        k += 1
        if p < 0 or p >= end:
            return 0, -1
        if buf[p] == 93:
            return k, p + 1
        if buf[p] != 44:
            return 0, -1
        p += 1


@numba.njit(cache=True)
def _book(buf: Arr, p: int, end: int, row: int, books: Arr, levels: Arr, nl: int,
          coin_slots: Arr, coin_first: Arr, ncoin: Arr) -> tuple[int, int]:
    """The l2Book data object: (levels used, next); next -1."""
    if p >= end or buf[p] != 123:
        return 0, -1
    p += 1
    seen = 0
    used = 0
    while True:
        s, e, p = _key(buf, p, end)
        if p < 0:
            return 0, -1
        if _eq(buf, s, e, COIN) and not seen & 1:
            seen |= 1
            code, p = _coded(buf, p, end, coin_slots, coin_first, ncoin)
            if code < 0:
                return 0, -1
            books[row, 2] = code
        elif _eq(buf, s, e, TIME) and not seen & 2:
            seen |= 2
            books[row, 3], p = _int(buf, p, end)
        elif _eq(buf, s, e, LEVELS) and not seen & 4:
            seen |= 4
            if p >= end or buf[p] != 91:
                return 0, -1
            books[row, 7] = nl
            nb, p = _side_levels(buf, p + 1, end, levels, nl)
            if p < 0 or p >= end or buf[p] != 44:
                return 0, -1
            na, p = _side_levels(buf, p + 1, end, levels, nl + nb)
            if p < 0 or p >= end or buf[p] != 93:
                return 0, -1
            p += 1
            books[row, 5], books[row, 6] = nb, na
            used = nb + na
        elif _eq(buf, s, e, FAST) and not seen & 8:
            seen |= 8
            q = _at(buf, p, end, TRUE)
            if q >= 0:
                books[row, 4] = 1
                p = q
            else:
                books[row, 4] = 0
                p = _at(buf, p, end, FALSE)
        elif _eq(buf, s, e, SPREAD) and not seen & 16:
            seen |= 16
            p = _str_or_null(buf, p, end)
        else:
            return 0, -1
        p, closed = _after_value(buf, p, end)
        if p < 0:
            return 0, -1
        if closed:
            if seen & 7 != 7:
                return 0, -1
            if not seen & 8:
                books[row, 4] = 0
            return used, p


@numba.njit(cache=True)
def _trade(buf: Arr, p: int, end: int, row: int, trades: Arr, trades_f: Arr, coin_slots: Arr,
           coin_first: Arr, ncoin: Arr) -> int:
    if p >= end or buf[p] != 123:
        return -1
    p += 1
    seen = 0
    while True:
        s, e, p = _key(buf, p, end)
        if p < 0:
            return -1
        if _eq(buf, s, e, COIN) and not seen & 1:
            seen |= 1
            code, p = _coded(buf, p, end, coin_slots, coin_first, ncoin)
            if code < 0:
                return -1
            trades[row, 2] = code
        elif _eq(buf, s, e, SIDE) and not seen & 2:
            seen |= 2
            cs, ce, p = _string(buf, p, end)
            if p < 0 or ce - cs != 1:
                return -1
            if buf[cs] == 66:
                trades[row, 4] = 1
            elif buf[cs] == 65:
                trades[row, 4] = -1
            else:
                return -1
        elif _eq(buf, s, e, PX) and not seen & 4:
            seen |= 4
            trades_f[row, 0], p = _num(buf, p, end)
        elif _eq(buf, s, e, SZ) and not seen & 8:
            seen |= 8
            trades_f[row, 1], p = _num(buf, p, end)
        elif _eq(buf, s, e, TIME) and not seen & 16:
            seen |= 16
            trades[row, 3], p = _int(buf, p, end)
        elif _eq(buf, s, e, TID) and not seen & 32:
            seen |= 32
            trades[row, 5], p = _int(buf, p, end)
        elif _eq(buf, s, e, HASH) and not seen & 64:
            seen |= 64
            p = _string(buf, p, end)[2]
        elif _eq(buf, s, e, USERS) and not seen & 128:
            seen |= 128
            p = _str_list(buf, p, end)
        else:
            return -1
        p, closed = _after_value(buf, p, end)
        if p < 0:
            return -1
        if closed:
            return p if seen & 63 == 63 else -1


@numba.njit(cache=True)
def _bbo_side(buf: np.ndarray, p: int, end: int, out: np.ndarray, row: int, col: int) -> int:
    """A Level or null (NaN, NaN) into out[row, col:col + 2]; next or -1."""
    q = _at(buf, p, end, NULL)
    if q >= 0:
        out[row, col] = np.nan
        out[row, col + 1] = np.nan
        return q
    return _level(buf, p, end, out, row, col)


@numba.njit(cache=True)
def _bbo(buf: Arr, p: int, end: int, row: int, bbo: Arr, bbo_f: Arr, coin_slots: Arr,
         coin_first: Arr, ncoin: Arr) -> int:
    if p >= end or buf[p] != 123:
        return -1
    p += 1
    seen = 0
    while True:
        s, e, p = _key(buf, p, end)
        if p < 0:
            return -1
        if _eq(buf, s, e, COIN) and not seen & 1:
            seen |= 1
            code, p = _coded(buf, p, end, coin_slots, coin_first, ncoin)
            if code < 0:
                return -1
            bbo[row, 2] = code
        elif _eq(buf, s, e, TIME) and not seen & 2:
            seen |= 2
            bbo[row, 3], p = _int(buf, p, end)
        elif _eq(buf, s, e, BBO) and not seen & 4:
            seen |= 4
            if p >= end or buf[p] != 91:
                return -1
            p = _bbo_side(buf, p + 1, end, bbo_f, row, 0)
            if p < 0 or p >= end or buf[p] != 44:
                return -1
            p = _bbo_side(buf, p + 1, end, bbo_f, row, 2)
            if p < 0 or p >= end or buf[p] != 93:
                return -1
            p += 1
        else:
            return -1
        p, closed = _after_value(buf, p, end)
        if p < 0:
            return -1
        if closed:
            return p if seen == 7 else -1


@numba.njit(cache=True)
def _asset_ctx(buf: np.ndarray, p: int, end: int, row: int, ctx_f: np.ndarray) -> int:
    if p >= end or buf[p] != 123:
        return -1
    p += 1
    seen = 0
    ctx_f[row, 4] = np.nan  # midPx, premium: NaN when absent
    ctx_f[row, 5] = np.nan
    while True:
        s, e, p = _key(buf, p, end)
        if p < 0:
            return -1
        if _eq(buf, s, e, FUNDING) and not seen & 1:
            seen |= 1
            ctx_f[row, 0], p = _num(buf, p, end)
        elif _eq(buf, s, e, OI) and not seen & 2:
            seen |= 2
            ctx_f[row, 1], p = _num(buf, p, end)
        elif _eq(buf, s, e, ORACLE) and not seen & 4:
            seen |= 4
            ctx_f[row, 2], p = _num(buf, p, end)
        elif _eq(buf, s, e, MARK) and not seen & 8:
            seen |= 8
            ctx_f[row, 3], p = _num(buf, p, end)
        elif _eq(buf, s, e, MID) and not seen & 16:
            seen |= 16
            ctx_f[row, 4], p = _num_or_null(buf, p, end)
        elif _eq(buf, s, e, PREM) and not seen & 32:
            seen |= 32
            ctx_f[row, 5], p = _num_or_null(buf, p, end)
        elif _eq(buf, s, e, PREV) and not seen & 64:
            seen |= 64
            p = _str_or_null(buf, p, end)
        elif _eq(buf, s, e, NTL) and not seen & 128:
            seen |= 128
            p = _str_or_null(buf, p, end)
        elif _eq(buf, s, e, BASE) and not seen & 256:
            seen |= 256
            p = _str_or_null(buf, p, end)
        elif _eq(buf, s, e, IMPACT) and not seen & 512:
            seen |= 512
            q = _at(buf, p, end, NULL)
            p = q if q >= 0 else _str_list(buf, p, end)
        else:
            return -1
        p, closed = _after_value(buf, p, end)
        if p < 0:
            return -1
        if closed:
            return p if seen & 15 == 15 else -1


@numba.njit(cache=True)
def _ctx(buf: Arr, p: int, end: int, row: int, ctx: Arr, ctx_f: Arr, coin_slots: Arr,
         coin_first: Arr, ncoin: Arr) -> int:
    if p >= end or buf[p] != 123:
        return -1
    p += 1
    seen = 0
    while True:
        s, e, p = _key(buf, p, end)
        if p < 0:
            return -1
        if _eq(buf, s, e, COIN) and not seen & 1:
            seen |= 1
            code, p = _coded(buf, p, end, coin_slots, coin_first, ncoin)
            if code < 0:
                return -1
            ctx[row, 2] = code
        elif _eq(buf, s, e, CTX) and not seen & 2:
            seen |= 2
            p = _asset_ctx(buf, p, end, row, ctx_f)
        else:
            return -1
        p, closed = _after_value(buf, p, end)
        if p < 0:
            return -1
        if closed:
            return p if seen == 3 else -1


@numba.njit(cache=True)
def _candle(buf: Arr, p: int, end: int, row: int, candles: Arr, candles_f: Arr, coin_slots: Arr,
            coin_first: Arr, ncoin: Arr, iv_slots: Arr, iv_first: Arr, niv: Arr) -> int:
    if p >= end or buf[p] != 123:
        return -1
    p += 1
    seen = 0
    while True:
        s, e, p = _key(buf, p, end)
        if p < 0:
            return -1
        if _eq(buf, s, e, C_T) and not seen & 1:
            seen |= 1
            candles[row, 4], p = _int(buf, p, end)
        elif _eq(buf, s, e, C_TT) and not seen & 2:
            seen |= 2
            candles[row, 5], p = _int(buf, p, end)
        elif _eq(buf, s, e, C_S) and not seen & 4:
            seen |= 4
            code, p = _coded(buf, p, end, coin_slots, coin_first, ncoin)
            if code < 0:
                return -1
            candles[row, 2] = code
        elif _eq(buf, s, e, C_I) and not seen & 8:
            seen |= 8
            code, p = _coded(buf, p, end, iv_slots, iv_first, niv)
            if code < 0:
                return -1
            candles[row, 3] = code
        elif _eq(buf, s, e, C_O) and not seen & 16:
            seen |= 16
            candles_f[row, 0], p = _num(buf, p, end)
        elif _eq(buf, s, e, C_H) and not seen & 32:
            seen |= 32
            candles_f[row, 1], p = _num(buf, p, end)
        elif _eq(buf, s, e, C_L) and not seen & 64:
            seen |= 64
            candles_f[row, 2], p = _num(buf, p, end)
        elif _eq(buf, s, e, C_C) and not seen & 128:
            seen |= 128
            candles_f[row, 3], p = _num(buf, p, end)
        elif _eq(buf, s, e, C_V) and not seen & 256:
            seen |= 256
            candles_f[row, 4], p = _num(buf, p, end)
        elif _eq(buf, s, e, N) and not seen & 512:
            seen |= 512
            candles[row, 6], p = _int(buf, p, end)
        else:
            return -1
        p, closed = _after_value(buf, p, end)
        if p < 0:
            return -1
        if closed:
            return p if seen == 1023 else -1


@numba.njit(cache=True)
def scan_lines(buf: Arr, starts: Arr, first_line: int, books: Arr, levels: Arr,  # noqa: C901
               trades: Arr, trades_f: Arr, bbo: Arr, bbo_f: Arr, ctx: Arr, ctx_f: Arr,
               candles: Arr, candles_f: Arr, coin_slots: Arr, coin_first: Arr,
               iv_slots: Arr, iv_first: Arr, counts: Arr) -> tuple[Arr, Arr]:
    """Read every line buf[starts[i]:starts[i + 1]] it can. Returns (accepted, recv) per
    line; counts[:] = rows of books, levels, trades, bbo, ctx, candles, then the number of
    distinct coins and intervals. Rows carry their line number (first_line + i)."""
    n = starts.shape[0] - 1
    accepted = np.zeros(n, dtype=np.bool_)
    recv_out = np.full(n, -1, dtype=np.int64)
    nbk, nlv, ntr, nbb, ncx, ncd = 0, 0, 0, 0, 0, 0
    ncoin = np.zeros(1, dtype=np.int64)
    niv = np.zeros(1, dtype=np.int64)
    for i in range(n):
        p, end = starts[i], starts[i + 1]
        kind, used, k = -1, 0, 0
        # the line's newline (the parse gives every line one)
        if end <= p or buf[end - 1] != 10:
            continue
        end -= 1
        if p >= end or buf[p] != 123:
            continue
        p = _at(buf, p + 1, end, K_RECV)
        if p < 0:
            continue
        recv, p = _int(buf, p, end)
        if p < 0 or p >= end or buf[p] != 44:
            continue
        p = _at(buf, p + 1, end, K_MSG)
        if p < 0 or p >= end or buf[p] != 123:
            continue
        p = _at(buf, p + 1, end, K_CHANNEL)
        if p < 0:
            continue
        cs, ce, p = _string(buf, p - 1, end)
        if p < 0 or p >= end or buf[p] != 44:
            continue
        p = _at(buf, p + 1, end, K_DATA)
        if p < 0:
            continue
        line = first_line + i
        if _eq(buf, cs, ce, CH_BOOK):
            if nbk >= books.shape[0]:
                continue
            used, p = _book(buf, p, end, nbk, books, levels, nlv, coin_slots, coin_first,
                            ncoin)
            if p < 0:
                continue
            books[nbk, 0], books[nbk, 1] = line, recv
            kind = 0
        elif _eq(buf, cs, ce, CH_BBO):
            if nbb >= bbo.shape[0]:
                continue
            p = _bbo(buf, p, end, nbb, bbo, bbo_f, coin_slots, coin_first, ncoin)
            bbo[nbb, 0], bbo[nbb, 1] = line, recv
            kind = 1
        elif _eq(buf, cs, ce, CH_TRADES):
            if p >= end or buf[p] != 91:
                continue
            p += 1
            k = 0
            while True:
                if ntr + k >= trades.shape[0]:
                    p = -1
                    break
                p = _trade(buf, p, end, ntr + k, trades, trades_f, coin_slots, coin_first,
                           ncoin)
                if p < 0:
                    break
                trades[ntr + k, 0], trades[ntr + k, 1] = line, recv
                k += 1
                if p >= end:
                    p = -1
                    break
                if buf[p] == 93:
                    p += 1
                    break
                if buf[p] != 44:
                    p = -1
                    break
                p += 1
            kind = 2
        elif _eq(buf, cs, ce, CH_CTX):
            if ncx >= ctx.shape[0]:
                continue
            p = _ctx(buf, p, end, ncx, ctx, ctx_f, coin_slots, coin_first, ncoin)
            ctx[ncx, 0], ctx[ncx, 1] = line, recv
            kind = 3
        elif _eq(buf, cs, ce, CH_CANDLE):
            if ncd >= candles.shape[0]:
                continue
            p = _candle(buf, p, end, ncd, candles, candles_f, coin_slots, coin_first, ncoin,
                        iv_slots, iv_first, niv)
            candles[ncd, 0], candles[ncd, 1] = line, recv
            kind = 4
        else:
            continue
        # the msg's and the record's closing braces, then the line's end
        if p < 0 or p + 2 != end or buf[p] != 125 or buf[p + 1] != 125:
            continue
        accepted[i] = True
        recv_out[i] = recv
        if kind == 0:
            nbk += 1
            nlv += used
        elif kind == 1:
            nbb += 1
        elif kind == 2:
            ntr += k
        elif kind == 3:
            ncx += 1
        else:
            ncd += 1
    counts[0], counts[1], counts[2], counts[3], counts[4], counts[5] = (
        nbk, nlv, ntr, nbb, ncx, ncd)
    counts[6], counts[7] = ncoin[0], niv[0]
    return accepted, recv_out
