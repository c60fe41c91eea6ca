"""Live == nightly, for one day's windows: replay the day's recording through the live
engine (`replay_windows`) and compare its windows with the nightly `signal_events`
(`compare_windows`). Pure (no Dagster): the `live_parity` asset check
(lotus_assets/checks.py) is a thin wrapper, and tests/core/live/test_live_parity_report.py
shows a differing column is caught and named.

What must agree:
- the set of window ids (a window only one side has is a mismatch, named);
- every column that decides anything, exactly: ids, detector, direction, priors version,
  vetoed / vetoes, gates, above_threshold, published, paper, propensity, and every other
  non-float column (context labels, recipe hash ...); `data_fingerprint` by presence
  (see PRESENCE);
- every other float column within `rtol` relative to the larger magnitude (`atol` near
  zero), NaN equal to NaN: the live chain runs the same definitions per row, never
  bit-for-bit promised for floats.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from lotus_core.curators.config import CouncilConfig
from lotus_core.feed.gzlines import open_lines
from lotus_core.feed.recordings import recording_path
from lotus_core.forked import forked_map
from lotus_core.live.by_group import GROUP_COINS, split_by_group
from lotus_core.live.engine import LiveEngine, NightContext
from lotus_core.malloc import release_free_heap
from lotus_core.microtape import MicroTapeParams
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.priors import ActivePriors
from lotus_core.store.spill import CoinSpill, SpilledCoins
from lotus_core.time import day_bounds_ms, previous_day

RTOL = 1e-9
"""Relative tolerance of the float columns (stated in the check's description)."""
ATOL = 1e-15
"""Absolute floor for values at zero (a relative test cannot pass 0 vs 1e-18)."""

KEY = "window_id"
DECIDING = ("window_id", "ts_ms", "coin", "detector_id", "direction", "priors_ver",
            "vetoed", "vetoes", "gates", "above_threshold", "published", "paper",
            "propensity")
"""Columns that decide what is published: compared exactly, floats included."""
PRESENCE = ("data_fingerprint",)
"""Compared by presence only: the live fingerprint is the sha256 of the lines scored when
the window was emitted (`LiveDay.fingerprint`), the nightly one the whole file's; what the
curators decide from is whether there is one (`data:no_fingerprint`)."""

BATCH_LINES = 10_000
"""Lines per engine batch: a replay-speed batch of the daemon (one flush of the recorder)."""

BATCH_LINES_PER_COIN, MAX_BATCH_LINES = 3_333, 100_000
"""With many coins the replay's batches grow with the coins seen (about BATCH_LINES at 3
coins, at most MAX_BATCH_LINES): a batch costs some fixed work per coin (the as-of reads,
the cancel pairs' last frame, the flow columns of its rows), so 10,000 lines at 100 coins
(100 lines a coin) spent a fifth of the replay on it (docs/scale.md). The windows
do not depend on how the lines are batched (each stage's equality test feeds random batch
sizes)."""


@dataclass(frozen=True)
class Mismatch:
    window_id: str
    column: str
    nightly: Any
    live: Any

    def describe(self) -> str:
        return (f"window {self.window_id} column {self.column}: nightly {self.nightly!r} "
                f"live {self.live!r}")


@dataclass(frozen=True)
class ParityReport:
    nightly_windows: int
    live_windows: int
    compared: int                     # windows both sides have, column by column
    exact_columns: tuple[str, ...]
    float_columns: tuple[str, ...]
    rtol: float
    max_rel_diff: float
    max_rel_column: str | None
    first: Mismatch | None            # the first differing window (nightly order) and column
    mismatched_windows: int
    missing_live: int                 # nightly windows the live path did not emit
    extra_live: int                   # live windows the nightly does not have
    columns_differing: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.first is None

    def describe(self) -> str:
        if self.ok:
            return (f"{self.compared} windows equal ({len(self.exact_columns)} columns exact, "
                    f"{len(self.float_columns)} float columns within rtol {self.rtol:g}; "
                    f"max relative difference {self.max_rel_diff:.3g})")
        assert self.first is not None
        return (f"first difference: {self.first.describe()}; {self.mismatched_windows} of "
                f"{self.nightly_windows} nightly windows differ ({self.missing_live} missing "
                f"live, {self.extra_live} only live); columns: "
                f"{', '.join(self.columns_differing)}")


def _is_float(s: pd.Series) -> bool:
    return pd.api.types.is_float_dtype(s.dtype)


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def _rel(a: np.ndarray, b: np.ndarray, atol: float) -> np.ndarray:
    """|a - b| / max(|a|, |b|); 0 where the two are equal, both NaN or within `atol`;
    inf where only one side is NaN."""
    both_nan = np.isnan(a) & np.isnan(b)
    one_nan = np.isnan(a) ^ np.isnan(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.abs(a - b)
        scale = np.maximum(np.abs(a), np.abs(b))
        rel = np.where(diff <= atol, 0.0, diff / scale)
    rel = np.where(both_nan | (a == b), 0.0, rel)
    return np.where(one_nan, np.inf, rel)


def compare_windows(nightly: pd.DataFrame, live: pd.DataFrame, rtol: float = RTOL,
                    atol: float = ATOL) -> ParityReport:
    """Window by window (by id, in nightly order): DECIDING and non-float columns exactly,
    float columns within `rtol` (relative to the larger magnitude; differences up to
    `atol` pass). Columns are those of `nightly` (a column missing live is a mismatch)."""
    n_ids = nightly[KEY].astype(str).to_numpy()
    l_ids = live[KEY].astype(str).to_numpy() if KEY in live else np.array([], dtype=str)
    live_pos = {w: i for i, w in enumerate(l_ids)}
    both = np.array([w in live_pos for w in n_ids], dtype=bool)
    extra = int(len(set(l_ids) - set(n_ids)))
    n_rows = np.flatnonzero(both)
    l_rows = np.array([live_pos[w] for w in n_ids[both]], dtype=np.int64)
    nb = nightly.iloc[n_rows].reset_index(drop=True)
    lb = live.iloc[l_rows].reset_index(drop=True) if len(live) else live

    exact_cols, float_cols = [], []
    bad = np.zeros(len(nb), dtype=bool)
    first_bad_col: dict[int, str] = {}  # row -> the first differing column (column order)
    differing: list[str] = []
    max_rel, max_col = 0.0, None
    for col in nightly.columns:
        if col == KEY:
            continue
        a = nb[col]
        if col not in lb:
            col_bad = np.ones(len(nb), dtype=bool)
            exact_cols.append(col)
        elif col in PRESENCE:
            exact_cols.append(col)
            has = lambda s: s.fillna("").astype(str).str.len().to_numpy() > 0  # noqa: E731
            col_bad = has(a) != has(lb[col])
        elif _is_float(a) and col not in DECIDING:
            float_cols.append(col)
            rel = _rel(a.to_numpy(dtype=np.float64), lb[col].to_numpy(dtype=np.float64), atol)
            finite = rel[np.isfinite(rel)]
            if len(finite) and float(finite.max()) > max_rel:
                max_rel, max_col = float(finite.max()), col
            col_bad = rel > rtol
        else:
            exact_cols.append(col)
            b = lb[col]
            if _is_float(a):  # propensity: exact, NaN equal NaN
                av, bv = a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)
                col_bad = ~((av == bv) | (np.isnan(av) & np.isnan(bv)))
            else:
                col_bad = (a.astype(str).to_numpy() != b.astype(str).to_numpy())
        if col_bad.any():
            differing.append(col)
            for row in np.flatnonzero(col_bad & ~bad):
                first_bad_col[int(row)] = col
            bad |= col_bad

    # the first differing window in nightly order: a missing one or a differing one
    first: Mismatch | None = None
    bad_rows_nightly = {int(n_rows[r]): int(r) for r in np.flatnonzero(bad)}
    for i in range(len(nightly)):
        if not both[i]:
            first = Mismatch(str(n_ids[i]), KEY, str(n_ids[i]), "missing in live")
            break
        if i in bad_rows_nightly:
            r = bad_rows_nightly[i]
            col = first_bad_col[r]
            first = Mismatch(str(n_ids[i]), col, _plain(nb[col].iloc[r]),
                             _plain(lb[col].iloc[r]) if col in lb else "column missing live")
            break
    if first is None and extra:
        w = next(x for x in l_ids if x not in set(n_ids))
        first = Mismatch(str(w), KEY, "missing in nightly", str(w))
    if (~both).any() or extra:
        differing.insert(0, KEY)
    return ParityReport(
        nightly_windows=len(nightly), live_windows=len(live), compared=int(both.sum()),
        exact_columns=tuple(exact_cols), float_columns=tuple(float_cols), rtol=rtol,
        max_rel_diff=max_rel, max_rel_column=max_col, first=first,
        mismatched_windows=int(bad.sum()) + int((~both).sum()),
        missing_live=int((~both).sum()), extra_live=extra,
        columns_differing=tuple(differing))


CHUNK_WINDOWS = 5_000
"""`compare_streams` compares once this many live windows are held (and the rest at the end):
a comparison's own memory grows with its span (~150 MB at 20,000 windows of 75 columns)."""


def compare_streams(nightly: Iterable[pd.DataFrame], live: Iterable[pd.DataFrame],
                    rtol: float = RTOL, atol: float = ATOL,
                    chunk: int = CHUNK_WINDOWS) -> ParityReport:
    """`compare_windows` of two streams of windows, each in time order (the nightly
    signal_events read in slices of rows, the live engine's windows step by step), a span of
    time at a time (neither day is held whole). A span ends before the first
    window of the newest live step: the live engine emits a row's windows once the row is
    final, so no later step goes back before it. The report is the whole day's: counts
    summed, the first difference in nightly order, the largest relative difference, the
    columns that differ. One difference from `compare_windows` of the whole day: a window
    whose `ts_ms` differs by more than a span counts as missing on one side and only live on
    the other, not as a `ts_ms` difference (a failure either way)."""
    parts: list[ParityReport] = []
    n_buf: list[pd.DataFrame] = []
    l_buf: list[pd.DataFrame] = []
    n_iter = iter(nightly)
    n_done = False
    columns: pd.DataFrame | None = None  # the nightly columns' empty frame

    def held(buf: list[pd.DataFrame]) -> int:
        return sum(len(f) for f in buf)

    def pull_until(ts: int | None) -> None:
        """Nightly slices until every nightly window before `ts` is held (None: all)."""
        nonlocal n_done, columns
        while not n_done and (ts is None or not n_buf
                              or int(n_buf[-1]["ts_ms"].iloc[-1]) < ts):
            nxt = next(n_iter, None)
            if nxt is None:
                n_done = True
                break
            columns = nxt.iloc[:0] if columns is None else columns
            if len(nxt):
                n_buf.append(nxt)

    def flush(before: int | None) -> None:
        """Compare every buffered window with ts_ms < `before` (None: all of them)."""
        n_head, n_tail = _split(n_buf, before)
        l_head, l_tail = _split(l_buf, before)
        n_buf[:], l_buf[:] = n_tail, l_tail
        if n_head is None and l_head is None:
            return
        base = columns if columns is not None else (l_head.iloc[:0] if l_head is not None
                                                    else pd.DataFrame())
        parts.append(compare_windows(n_head if n_head is not None else base,
                                     l_head if l_head is not None else base.iloc[:0],
                                     rtol, atol))

    for step in live:
        if not len(step):
            continue
        l_buf.append(step)
        frontier = int(step["ts_ms"].min())
        if held(l_buf) < chunk:
            continue
        pull_until(frontier)
        flush(frontier)
    pull_until(None)
    flush(None)
    return _merged(parts, rtol, [KEY, *(columns.columns if columns is not None else [])])


def _split(buf: list[pd.DataFrame], before: int | None
           ) -> tuple[pd.DataFrame | None, list[pd.DataFrame]]:
    """(the buffered rows with ts_ms < `before`, the rest as a list); None: none."""
    if not buf:
        return None, []
    whole = pd.concat(buf, ignore_index=True) if len(buf) > 1 else buf[0]
    if before is None:
        return whole, []
    ts = whole["ts_ms"].to_numpy(dtype=np.int64)
    head = whole[ts < before].reset_index(drop=True)
    tail = whole[ts >= before].reset_index(drop=True)
    return (head if len(head) else None), ([tail] if len(tail) else [])


def _merged(parts: list[ParityReport], rtol: float, order: list[str]) -> ParityReport:
    """The reports of consecutive spans as one: counts summed, the first nightly-order
    difference of the earliest span that has one (else the earliest only-live window), the
    differing columns in `order` (the id, then the nightly columns)."""
    if not parts:
        return ParityReport(0, 0, 0, (), (), rtol, 0.0, None, None, 0, 0, 0)
    first = next((r.first for r in parts if r.first is not None
                  and r.first.nightly != "missing in nightly"), None)
    if first is None:
        first = next((r.first for r in parts if r.first is not None), None)
    top = max(parts, key=lambda r: r.max_rel_diff)
    shape = next((r for r in parts if r.exact_columns or r.float_columns), parts[0])
    differing = {c for r in parts for c in r.columns_differing}
    return ParityReport(
        nightly_windows=sum(r.nightly_windows for r in parts),
        live_windows=sum(r.live_windows for r in parts),
        compared=sum(r.compared for r in parts),
        exact_columns=shape.exact_columns, float_columns=shape.float_columns, rtol=rtol,
        max_rel_diff=top.max_rel_diff, max_rel_column=top.max_rel_column, first=first,
        mismatched_windows=sum(r.mismatched_windows for r in parts),
        missing_live=sum(r.missing_live for r in parts),
        extra_live=sum(r.extra_live for r in parts),
        columns_differing=tuple(sorted(differing, key=lambda c: (
            order.index(c) if c in order else len(order), c))))


# --- the live side: one recorded day through the engine -------------------------------------

def _recv(line: bytes) -> int | None:
    try:
        rec = orjson.loads(line)
        return int(rec["recv_ts_ms"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _batches(path: Path, size: Callable[[], int]) -> Iterator[list[bytes]]:
    """The recording's lines in batches of `size()` lines (asked before each batch; a last
    line without its newline gets one in `LiveEngine.add`, `lotus_core.feed.lines.ended`)."""
    reader, _ = open_lines(path)
    with reader:
        batch: list[bytes] = []
        want = size()
        for line in reader:
            batch.append(line)
            if len(batch) >= want:
                yield batch
                batch = []
                want = size()
        if batch:
            yield batch


def replay_windows(recording: Path, day: str, context: NightContext,
                   priors: ActivePriors, *, scoring: ScoringConfig, council: CouncilConfig,
                   params: MicroTapeParams | None = None,
                   feed_dir: Path | None = None, batch_lines: int | None = None,
                   detectors: Any = None) -> pd.DataFrame:
    """The windows the live engine emits for `day`'s recording (`replay_steps`, laid
    together)."""
    return _concat(replay_steps(recording, day, context, priors, params=params,
                                feed_dir=feed_dir, batch_lines=batch_lines,
                                detectors=detectors, scoring=scoring, council=council))


def replay_steps(recording: Path, day: str, context: NightContext,
                 priors: ActivePriors, *, scoring: ScoringConfig, council: CouncilConfig,
                 params: MicroTapeParams | None = None,
                 feed_dir: Path | None = None, batch_lines: int | None = None,
                 detectors: Any = None, history_dir: Path | None = None,
                 verify_manifest: bool = True) -> Iterator[pd.DataFrame]:
    """Each step's windows, as the live engine emits them for `day`'s recording, fed as the
    daemon feeds a replay (batches of `batch_lines` lines, None: BATCH_LINES and more with
    many coins, BATCH_LINES_PER_COIN; a step after each at the batch's newest receive
    time, the day's last step at midnight), with `context` (the nightly inputs of the day)
    and `priors` (the set the nightly scored the day with). `feed_dir`: where the previous
    day's recording is, for the warm start (as the nightly MicroTape reads it);
    `history_dir`: where the earlier days that context is ranked against are (default
    `feed_dir`), checked against its manifest with `verify_manifest`. `scoring`,
    `council`: the configurations the nightly scored the day with (the caller's)."""
    engine = LiveEngine(params or MicroTapeParams(), lambda d: context, feed_dir=feed_dir,
                        detectors=detectors, scoring=scoring, council=council,
                        history_dir=history_dir, verify_manifest=verify_manifest)
    engine.next_day = False  # the replay ends with the day: no tail kept for a warm start

    def size() -> int:  # `batch_lines`; None: BATCH_LINES, more with many coins
        if batch_lines is not None:
            return batch_lines
        coins = len(engine.chain.tape.coins) if engine.chain is not None else 0
        return max(BATCH_LINES, min(MAX_BATCH_LINES, BATCH_LINES_PER_COIN * coins))

    engine.set_priors(priors)
    first, clock = 1, None
    for batch in _batches(recording, size):
        engine.add(day, first, batch)
        first += len(batch)
        newest = next((r for r in map(_recv, reversed(batch)) if r is not None), None)
        if newest is not None:  # the batch's receive time (the daemon's clock), never back
            clock = newest if clock is None else max(clock, newest)
        if clock is not None:
            step = engine.step(clock)
            if step is not None and step.window_dicts:
                yield step.windows
    last = engine.step(day_bounds_ms(day)[1])
    if last is not None and last.window_dicts:
        yield last.windows


GROUP_WORKERS = min(2, os.cpu_count() or 1)
"""Coin groups replayed at once by `compare_by_group` (each in its own process)."""


def compare_by_group(nightly: Iterable[pd.DataFrame | pa.Table], recording: Path, day: str,
                     context: NightContext, priors: ActivePriors, *,
                     scoring: ScoringConfig, council: CouncilConfig,
                     feed_dir: Path | None = None, group_coins: int = GROUP_COINS,
                     directory: Path | None = None, rtol: float = RTOL, atol: float = ATOL,
                     progress: Callable[[int, int], None] | None = None,
                     workers: int = GROUP_WORKERS, coins: int | None = None,
                     **replay: Any) -> ParityReport:
    """`compare_streams` of the nightly windows (`nightly`: signal_events in slices, pandas or
    Arrow: a partition's row groups are spread without becoming pandas rows) and the
    live replay of `day`'s `recording`, a coin group at a time: the recording
    (and the previous day's in `feed_dir`, the warm start) cut into one recording per group
    of `group_coins` coins (`by_group.split_by_group`, which says why the windows are the
    whole replay's; the context history is read from `feed_dir` itself, whole), the nightly
    windows spread by coin to a spill in one pass, then each
    group's windows compared with its replay (`replay_steps`, `replay` its keywords). Held:
    one group's engine and windows, not the day's coins. The report is the day's: counts
    summed; the first difference that of the first group (groups in the order their first
    coin appeared) that has one; nightly windows of a coin the recording never names count
    as missing live. Scratch files go under `directory` (default: the system's) and are
    removed. `progress(done, groups)` after each group. Every group after the first runs in
    its own forked process, `workers` at once (`lotus_core.forked`: inline in a daemonic
    process or with `workers` < 2), so the step's memory does not rise with the number of
    groups replayed. `coins`: the day's coin count when the caller knows it (raw_feed's);
    at most `group_coins` makes one group, which is the whole file, so the recording is
    replayed as it is, without the cut's second decode and copy of every line (the whole
    replay is what the cut is equal to: tests/core/live/test_replay_by_group.py)."""
    with tempfile.TemporaryDirectory(prefix="lotus-parity.", dir=directory) as tmp, \
            CoinSpill(1, Path(tmp)) as spill:
        night = spill.spread("signal_events", nightly)
        # each group: its coins, the recording replayed and the feed dir of its warm start
        runs: list[tuple[tuple[str, ...], Path, Path | None]]
        cut = coins is None or coins > group_coins
        if cut:
            prev = (recording_path(feed_dir, previous_day(day)) if feed_dir is not None
                    else None)
            groups = split_by_group(recording, day, Path(tmp) / "groups", previous=prev,
                                    group_coins=group_coins)
            runs = [(g, groups.recording(i), groups.feed_dir(i))
                    for i, g in enumerate(groups.groups)]
        else:
            runs = [(tuple(night.coins()), Path(recording), feed_dir)]
        release_free_heap()  # the slices' pages, before the first group's engine

        def group(i: int) -> ParityReport:
            names, path, warm = runs[i]
            live = replay_steps(path, day, context, priors, scoring=scoring, council=council,
                                feed_dir=warm, history_dir=feed_dir, **replay)
            mine = _windows_of(night, names)  # no columns: no nightly window
            report = compare_streams([mine] if len(mine.columns) else [], live, rtol, atol)
            if cut and warm is not None:
                shutil.rmtree(warm, ignore_errors=True)  # the group's scratch recordings
            release_free_heap()  # a group's engine leaves glibc's heap holding its pages
            return report

        # the first group in this process (it folds the night's history once: NightContext.
        # quality), the others each in a fresh forked child that inherits the fold and
        # hands every page back when it exits (lotus_core.forked; inline where it cannot)
        n = len(runs)
        parts: list[ParityReport] = []
        for i, report in enumerate(itertools.chain(
                map(group, range(min(1, n))), forked_map(group, range(1, n), workers))):
            parts.append(report)
            if progress is not None:
                progress(i + 1, n)
        named = {c for names, _, _ in runs for c in names}
        stray = [c for c in night.coins() if c not in named]
        if stray:
            frame = _windows_of(night, stray)
            parts.append(compare_windows(frame, frame.iloc[:0], rtol, atol))
        columns = night.columns()
    return _merged(parts, rtol, [KEY, *columns])


def _windows_of(night: SpilledCoins, coins: Iterable[str]) -> pd.DataFrame:
    """The nightly windows of `coins` in the table's (ts_ms, coin) order."""
    frames = [night.read(c) for c in sorted(coins)]
    if not frames:  # a day without nightly windows
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return frame.sort_values("ts_ms", kind="stable", ignore_index=True) if len(frame) else frame


def _concat(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    parts = list(parts)
    if not parts:
        from lotus_core.live.frames import events_frame
        return events_frame([])
    return pd.concat(parts, ignore_index=True)

