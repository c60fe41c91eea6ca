"""Context ranked on its own timescale: funding and open interest against the coin's own
trailing days.

A venue's funding rate settles hourly and drifts over days; ranked among the last few hours
of grid samples, "high funding" is mostly noise. A context feature may instead declare a
timescale of whole days (`MicroTapeParams.funding_rank_days`, `oi_rank_days`; 0 keeps the
grid's trailing `ctx_pctl_window_ms`): its percentile is then its rank in a reference
fixed for the day, the coin's minute closes over that many UTC days before it, read from
those days' recordings. Causal (nothing of the day itself), so the nightly build and the
live tape rank against the same reference, and its edges are one pair of numbers per
coin, feature and day (`ContextReference.edges`, in the MicroTape's metadata).

The earlier days' recordings are checked against the feed directory's manifest as
`raw_feed` checks its own day's (`verify_manifest`): a tampered earlier day is named in
`unreadable` and left out, never ranked against.

Warm-up: fewer than `ctx_rank_min_minutes` minute closes (a first day, a coin new to the
feed, recordings without activeAssetCtx) give a NaN percentile, the `na` literal, and
`ContextHistory.report` says why.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from lotus_core.feed.chunks import extract_chunk
from lotus_core.feed.manifest import verify_file
from lotus_core.feed.parse import open_recording
from lotus_core.feed.recordings import recording_path
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.time import day_bounds_ms

RANKED = {"funding_pctl": "funding", "oi_pctl": "open_interest"}
"""Each ranked context column and the feed value it ranks."""
EDGE_PCTLS = (1 / 3, 2 / 3)
"""Where the reported edges sit: the value at which the percentile crosses each (the
default terciles of `funding_pctl_bin` / `oi_pctl_bin`)."""
MINUTE_MS = 60_000
_CTX_TAG = b'"activeAssetCtx"'
_CACHE: OrderedDict[tuple[str, int, int], dict[str, dict[str, np.ndarray]]] = OrderedDict()
_CACHE_DAYS = 8
_VERIFIED: set[tuple[str, int, int]] = set()


def rank_days(params: MicroTapeParams, column: str) -> int:
    """The whole days `column` is ranked against (0: the grid's trailing window)."""
    return {"funding_pctl": params.funding_rank_days, "oi_pctl": params.oi_rank_days}[column]


def ranked_on_days(params: MicroTapeParams) -> tuple[str, ...]:
    """The context columns ranked against trailing days."""
    return tuple(c for c in RANKED if rank_days(params, c) > 0)


def rank_in(reference: np.ndarray | None, x: Any) -> np.ndarray:
    """Mid-rank of each x in the sorted `reference`: (below + equal / 2) / n, in [0, 1];
    NaN for a NaN x or no reference. One definition for the batch (arrays) and the live
    step (a list of points)."""
    values = np.asarray(x, dtype=np.float64)
    if reference is None or len(reference) == 0:
        return np.full(values.shape, np.nan)
    lo = np.searchsorted(reference, values, side="left")
    hi = np.searchsorted(reference, values, side="right")
    out = (lo + 0.5 * (hi - lo)) / len(reference)
    out[np.isnan(values)] = np.nan
    return out


class FixedRank:
    """`rank_in` against one reference, with the `extend` of `grid.RollingPctl` (the live
    tape's interface for a trailing percentile)."""

    __slots__ = ("reference",)

    def __init__(self, reference: np.ndarray | None) -> None:
        self.reference = reference

    def extend(self, xs: list[float]) -> list[float]:
        return rank_in(self.reference, xs).tolist()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ContextReference:
    """One coin's references for a day: per ranked column the sorted minute closes (None
    while warming up) and what was read."""

    values: dict[str, np.ndarray | None]
    samples: dict[str, int]
    days: dict[str, tuple[str, ...]]

    def get(self, column: str) -> np.ndarray | None:
        return self.values.get(column)

    def edges(self, column: str) -> list[float] | None:
        """The feed values at which the column's percentile crosses EDGE_PCTLS."""
        ref = self.values.get(column)
        if ref is None:
            return None
        return [float(v) for v in np.quantile(ref, EDGE_PCTLS, method="inverted_cdf")]


@dataclass(frozen=True)
class ContextHistory:
    """A day's references, per coin; a coin absent from every earlier recording has none."""

    day: str
    columns: tuple[str, ...]
    coins: dict[str, ContextReference] = field(default_factory=dict)
    min_minutes: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)  # day -> why it was skipped

    def of(self, coin: str) -> ContextReference:
        got = self.coins.get(coin)
        if got is not None:
            return got
        empty = dict.fromkeys(self.columns)
        return ContextReference(empty, dict.fromkeys(self.columns, 0),
                                dict.fromkeys(self.columns, ()))

    def report(self, coins: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Per coin and ranked column: the timescale, the days read, the minute closes and
        the edges, or why the percentile is missing (the MicroTape's metadata)."""
        out: dict[str, dict[str, Any]] = {}
        for coin in coins:
            ref = self.of(coin)
            out[coin] = {}
            for column in self.columns:
                n, days = ref.samples.get(column, 0), ref.days.get(column, ())
                entry: dict[str, Any] = {"days": list(days), "minutes": n}
                if self.unreadable:
                    entry["unreadable"] = dict(self.unreadable)
                edges = ref.edges(column)
                if edges is None:
                    entry["missing"] = (f"warm-up: {n} minute closes of {RANKED[column]} in "
                                        f"the days before, {self.min_minutes} needed")
                else:
                    entry["edges"] = edges
                out[coin][column] = entry
        return out


def _file_key(path: Path) -> tuple[str, int, int]:
    """A recording as it is now (path, size, mtime): what the process caches are keyed by."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def minute_closes(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """{coin: {value: the last activeAssetCtx value of each minute that received one}} of
    one recording, its day's lines only, kept for the process (a day serves the next few
    days' references). Lines the venue parser refuses are left out, as the parse would."""
    key = _file_key(path)
    got = _CACHE.get(key)
    if got is not None:
        _CACHE.move_to_end(key)
        return got
    day = path.name.split(".")[0]
    lo, hi = day_bounds_ms(day)
    with open_recording(path) as f:
        lines = [line for line in f if _CTX_TAG in line]
    chunk = extract_chunk(0, lines) if lines else None
    table = chunk.tables.get("ctx") if chunk is not None else None
    chunk_coins = chunk.coins if chunk is not None else []
    out: dict[str, dict[str, np.ndarray]] = {}
    if table is not None and len(table["recv"]):
        recv, code = table["recv"], table["coin"]
        keep = table["ok"] & (recv >= lo) & (recv < hi) & (code >= 0)
        for c in np.unique(code[keep]):
            rows = np.flatnonzero(keep & (code == c))
            rows = rows[np.argsort(recv[rows], kind="stable")]
            minute = recv[rows] // MINUTE_MS
            last = rows[np.append(minute[1:] != minute[:-1], True)]
            out[chunk_coins[int(c)]] = {v: table[v][last] for v in RANKED.values()}
    _CACHE[key] = out
    while len(_CACHE) > _CACHE_DAYS:
        _CACHE.popitem(last=False)
    return out


def verified(feed_dir: Path, path: Path) -> None:
    """Raise if `path` differs from the manifest of `feed_dir` (unlisted, no manifest:
    nothing to check); a file's check is kept for the process while it is unchanged."""
    key = _file_key(path)
    if key not in _VERIFIED:
        verify_file(feed_dir, path)
        _VERIFIED.add(key)


def context_history(feed_dir: Path | None, day: str, params: MicroTapeParams,
                    verify_manifest: bool = True) -> ContextHistory | None:
    """The day's references from the recordings of the days before it in `feed_dir` (a
    missing day is skipped, and so is one that cannot be read or, with `verify_manifest`,
    differs from the manifest, named in `unreadable`: as for the warm start, history only
    adds, so a bad earlier file never fails today); None when no column is ranked on
    days."""
    columns = ranked_on_days(params)
    if not columns:
        return None
    today = date.fromisoformat(day)
    longest = max(rank_days(params, c) for c in columns)
    closes: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    unreadable: dict[str, str] = {}
    for back in range(1, longest + 1):
        prev = (today - timedelta(days=back)).isoformat()
        path = recording_path(Path(feed_dir), prev) if feed_dir is not None else None
        if path is not None and path.is_file():
            try:
                if verify_manifest:
                    verified(path.parent, path)  # recording_path: feed_dir / name
                closes[prev] = minute_closes(path)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - skipped and named, as a cold start is
                unreadable[prev] = f"{type(exc).__name__}: {exc}"
    coins = sorted({coin for per_day in closes.values() for coin in per_day})
    refs = {coin: _reference(coin, columns, closes, today, params) for coin in coins}
    return ContextHistory(day, columns, refs, params.ctx_rank_min_minutes, unreadable)


def _reference(coin: str, columns: tuple[str, ...],
               closes: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]], today: date,
               params: MicroTapeParams) -> ContextReference:
    values: dict[str, np.ndarray | None] = {}
    samples: dict[str, int] = {}
    days: dict[str, tuple[str, ...]] = {}
    for column in columns:
        wanted = [(today - timedelta(days=b)).isoformat()
                  for b in range(rank_days(params, column), 0, -1)]
        read = tuple(d for d in wanted if coin in closes.get(d, {}))
        parts = [closes[d][coin][RANKED[column]] for d in read]
        joined = np.concatenate(parts) if parts else np.empty(0)
        joined = np.sort(joined[~np.isnan(joined)], kind="stable")
        samples[column], days[column] = len(joined), read
        values[column] = joined if len(joined) >= params.ctx_rank_min_minutes else None
    return ContextReference(values, samples, days)
