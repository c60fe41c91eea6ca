"""Health and drift measures a researcher looks at first, as pure functions of lake tables,
and the folds that feed them a day's slices at a time (`RowSample`, `WindowCounts`,
`HitTally`: a check that reads 7 days of history holds samples, counts and sums, not the
days).

Each returns plain numbers; `lotus_assets/checks.py` turns them into Dagster asset checks
(warnings) and posts a WATCHDOG_ALERT when one fails. Thresholds live in `HealthLimits` so
the docs and the tests read one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lotus_core.audits.result import failure_sentence
from lotus_core.malloc import release_free_heap
from lotus_core.signals.schema import SIGNAL_EVENTS_KEY, SIGNAL_EVENTS_SCHEMA
from lotus_core.store.by_coin import CoinDay, ReadsCoins, unordered_parts
from lotus_core.time import DAY_MS

PSI_FEATURES = ("spread_bps", "book_imb_5", "aggr_imb", "depth_5_rel", "trade_count")
# reported, not judged: volatility moves with the market's regime by design (a quiet and a
# trending hour differ by a PSI > 1), so it would alarm on normal days
PSI_INFO = ("rv_bps",)
NAN_FEATURES = ("mid_px", "spread_bps", "rv_bps", "book_imb_5", "aggr_imb", "depth_5_rel")


@dataclass(frozen=True)
class HealthLimits:
    max_dead_letter_rate: float = 0.01
    max_gap_rate: float = 0.01  # missing grid rows / expected rows, per coin
    min_publication_rate: float = 0.0005
    max_publication_rate: float = 0.5
    max_psi: float = 0.25  # the usual "significant shift" line
    max_nan_rate: float = 0.05
    stale_ms: int = 5_000
    max_stale_rate: float = 0.05
    hit_rate_z: float = 3.0  # published hit rate this many binomial SDs below expectation
    min_hit_n: int = 30
    max_firing_ratio: float = 3.0  # windows per hour vs the training window, either way
    min_firing_windows: int = 20
    psi_bins: int = 10
    min_psi_rows: int = 600  # training rows at today's hours needed before PSI is judged
    min_psi_days: int = 2  # earlier days with tape at today's hours before PSI is judged
    psi_discrete_max: int = 20  # a reference with at most this many distinct values is
    # discrete: today's values below its smallest or above its largest get bins of their own


LIMITS = HealthLimits()


def dead_letter_rate(raw_feed: pd.DataFrame) -> float:
    bad = float(raw_feed["dead_letters"].sum())
    total = bad + float(raw_feed["items"].sum() if "items" in raw_feed else 0.0)
    return bad / total if total > 0 else 0.0


def gap_rate(frames: pd.DataFrame) -> dict[str, float]:
    """Per coin: missing grid rows over expected rows (grid = the smallest step), counted
    within each UTC day (a span between two days' tapes is not a gap: several days
    concatenated give the same rate as their days one by one, weighted by rows)."""
    out: dict[str, float] = {}
    for coin, g in frames.groupby("coin", sort=True):
        missing = expected_all = 0
        ts_all = g["ts_ms"].to_numpy(dtype=np.int64)
        for day in np.unique(ts_all // DAY_MS):
            ts = np.sort(ts_all[ts_all // DAY_MS == day])
            if len(ts) < 2:
                expected_all += len(ts)
                continue
            d = np.diff(ts)
            step = int(d[d > 0].min()) if (d > 0).any() else 1000
            expected = int((ts[-1] - ts[0]) // step + 1)
            missing += max(expected - len(ts), 0)
            expected_all += expected
        out[str(coin)] = float(missing) / float(expected_all) if expected_all else 0.0
    return out


def nan_rates(frames: pd.DataFrame, cols: Sequence[str] = NAN_FEATURES) -> dict[str, float]:
    return TapeHealth(cols).add(frames).nan_rates()


def stale_rate(frames: pd.DataFrame, stale_ms: int = LIMITS.stale_ms) -> float:
    return TapeHealth(stale_ms=stale_ms).add(frames).stale_rate()


@dataclass
class TapeHealth:
    """The tape check's measures summed coin by coin (the check holds one coin's
    tape at a time): per-coin gap rates, and the NaN and stale counts over the rows seen.
    `add` a whole day or each coin of it: the rates are the same (counts over rows)."""

    cols: Sequence[str] = NAN_FEATURES
    stale_ms: int = LIMITS.stale_ms
    rows: int = 0
    stale: int = 0
    nan: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, float] = field(default_factory=dict)

    def add(self, frames: pd.DataFrame) -> TapeHealth:
        if not len(frames):
            return self
        self.rows += len(frames)
        for c in self.cols:
            if c in frames:
                self.nan[c] = self.nan.get(c, 0) + int(frames[c].isna().sum())
        if "stale_ms" in frames:
            self.stale += int((frames["stale_ms"].to_numpy(dtype=np.float64)
                               > self.stale_ms).sum())
        if "coin" in frames and "ts_ms" in frames:
            self.gaps.update(gap_rate(frames))
        return self

    def nan_rates(self) -> dict[str, float]:
        return {c: n / self.rows for c, n in self.nan.items()} if self.rows else {}

    def stale_rate(self) -> float:
        return self.stale / self.rows if self.rows else 0.0


@dataclass
class EventsCheck:
    """signal_events' schema and publication rate folded slice by slice (the check
    holds one slice of the day, not the day): each slice validated against the schema
    (its row checks, and sortedness and uniqueness within the slice), each slice's first
    key after the previous slice's last (sortedness and uniqueness across them), and the
    published rows counted. `problem` is the first failure, named with the positions in the
    table of the slice's rows (pandera's own text names the column and the check)."""

    rows: int = 0
    published: int = 0
    problem: str | None = None
    _last: tuple | None = None

    def add(self, part: pd.DataFrame, coin: str | None = None) -> EventsCheck:
        """The next slice; `coin`: the slice is that coin's whole rows (a day in coin
        files), its order checked on its own (the coins' files read back merged are the day
        in order when each coin's rows are)."""
        if coin is not None:
            self._last = None
        if self.problem is None:
            try:
                SIGNAL_EVENTS_SCHEMA.validate(part.set_axis(
                    pd.RangeIndex(self.rows, self.rows + len(part))), lazy=True)
            except Exception as exc:  # noqa: BLE001 - pandera's errors: reported, not raised
                self.problem = (f"schema, {'' if coin is None else f'coin {coin} '}rows "
                                f"{self.rows}..{self.rows + len(part) - 1}: "
                                f"{str(exc)[:500]}")
        if len(part) and all(k in part for k in SIGNAL_EVENTS_KEY):
            first = tuple(part[k].iloc[0] for k in SIGNAL_EVENTS_KEY)
            if self.problem is None and self._last is not None and not self._last < first:
                self.problem = (f"schema: rows {self.rows - 1} and {self.rows} are not in "
                                f"{'/'.join(SIGNAL_EVENTS_KEY)} order or repeat a key: "
                                f"{self._last} then {first}")
            self._last = tuple(part[k].iloc[-1] for k in SIGNAL_EVENTS_KEY)
        if "published" in part:
            self.published += int(part["published"].astype(bool).sum())
        self.rows += len(part)
        return self

    def publication_rate(self) -> float:
        return self.published / self.rows if self.rows else 0.0


def events_check(store: ReadsCoins, day: str) -> EventsCheck:
    """signal_events of `day` through `EventsCheck`: a day in coin files (score_signals' by
    day x coin) a coin at a time, each coin's order on its own (no merge: a merged slice of
    the 75-column table holds a row group of every coin); a day in one file in slices of its
    rows. An empty day: the empty table's columns and types still checked."""
    check = EventsCheck()
    for coin, part in unordered_parts(store, "signal_events", day):
        check.add(part, coin=coin)
    if check.rows == 0:
        check.add(store.read("signal_events", day))
    return check


PSI_FLOOR = 1e-4
"""A bin's share is floored here on both sides (an empty bin would make PSI infinite)."""


@dataclass(frozen=True)
class PsiBins:
    """The bins a PSI compares on, made from the reference (the earlier days) alone.

    Deciles of the reference with tied values never split: the reference's distinct values
    in order are cut where its cumulative share crosses 1/bins, 2/bins, ...; a value that
    carries several deciles (a spread of one tick, a trade count of 0) is one bin, so a
    reference with few distinct values has at most one bin per value. Edges sit midway
    between neighbouring distinct values of the reference, so a value of today's that the
    reference never took falls into the bin of its nearer neighbour. The first and last
    bins are open-ended, except for a discrete reference (at most `psi_discrete_max`
    distinct values): there a value below its smallest or above its largest gets a bin of
    its own (a constant reference is judged by the share of today's rows that differ from
    it). A continuous reference keeps its ends open: the few rows beyond a small sample's
    extremes are noise, not drift."""

    lo: float
    hi: float
    mids: np.ndarray  # edges between bins, ascending
    discrete: bool
    distinct: int  # distinct values in the reference

    @property
    def n(self) -> int:
        return len(self.mids) + 3  # the bins, and a tail bin each side (empty unless discrete)

    @property
    def bins(self) -> int:
        """Bins the reference itself fills."""
        return len(self.mids) + 1

    def index(self, x: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.mids, x, side="right") + 1
        if self.discrete:
            i[x < self.lo] = 0
            i[x > self.hi] = len(self.mids) + 2
        return i

    def shares(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.index(x), minlength=self.n) / max(len(x), 1)


def psi_bins(expected: np.ndarray, bins: int = LIMITS.psi_bins,
             discrete_max: int = LIMITS.psi_discrete_max) -> PsiBins:
    """`PsiBins` of the finite values of `expected` (non-empty)."""
    e = np.asarray(expected, dtype=np.float64)
    e = e[np.isfinite(e)]
    vals, counts = np.unique(e, return_counts=True)
    cum = np.cumsum(counts)
    targets = np.ceil(np.arange(1, bins) * len(e) / bins)
    ends = np.unique(np.searchsorted(cum, targets, side="left"))
    ends = ends[ends < len(vals) - 1]  # a bin closing on the largest value needs no edge
    mids = (vals[ends] + vals[ends + 1]) / 2.0
    return PsiBins(float(vals[0]), float(vals[-1]), mids, len(vals) <= discrete_max,
                   len(vals))


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = LIMITS.psi_bins) -> float:
    """Population stability index of `actual` against `expected` (the reference) on
    `PsiBins` of the reference: deciles with ties never split, edges midway between the
    reference's values; both sides' shares floored at `PSI_FLOOR`. Fewer than `bins` finite
    values on either side: 0 (nothing to judge).

    Why not equal-width bins over the reference's range: a feature whose values sit on a
    few points that move a little (a spread of one to three ticks in bps, as the price
    moves) swings whole points across a fixed edge, and a near-constant reference gives
    bins narrower than the drift of its one value; both read as a shift of the whole
    distribution (a PSI > 1 on days whose spread in ticks was the same)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e, a = e[np.isfinite(e)], a[np.isfinite(a)]
    if len(e) < bins or len(a) < bins:
        return 0.0
    return _psi_on(psi_bins(e, bins), e, a)


def _psi_on(b: PsiBins, e: np.ndarray, a: np.ndarray) -> float:
    pe, pa = np.maximum(b.shares(e), PSI_FLOOR), np.maximum(b.shares(a), PSI_FLOOR)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


SPREAD_FEATURE = "spread_bps"


def narrowest_spread(frame: pd.DataFrame) -> float | None:
    """The reference's narrowest positive spread in price units (spread_bps x mid_px / 1e4):
    one tick of the book, the unit the spread is compared in; None without `mid_px` or a
    positive spread."""
    if SPREAD_FEATURE not in frame or "mid_px" not in frame:
        return None
    px = _spread_px(frame)
    px = px[np.isfinite(px) & (px > 0)]
    return float(px.min()) if len(px) else None


def _spread_px(frame: pd.DataFrame) -> np.ndarray:
    return (frame[SPREAD_FEATURE].to_numpy(dtype=np.float64)
            * frame["mid_px"].to_numpy(dtype=np.float64) / 1e4)


def spread_in_ticks(frame: pd.DataFrame, tick: float) -> np.ndarray:
    """The spread in whole ticks of `tick` (price units): a book's spread is a whole number
    of ticks, whatever the price; in bps one tick shrinks as the price rises."""
    return np.rint(_spread_px(frame) / tick)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's PSI today against the reference, and what it was computed on."""

    feature: str
    psi: float
    unit: str            # what the values compared are in
    median_ref: float
    median_today: float
    distinct_ref: int    # distinct values of the reference (as compared)
    bins: int            # bins the reference fills
    discrete: bool       # a discrete reference: values outside its range binned apart

    def describe(self) -> str:
        kind = ("discrete: values outside its range binned apart" if self.discrete
                else "deciles, ties unsplit")
        return (f"{self.unit}: median {self.median_ref:.4g} vs today "
                f"{self.median_today:.4g}; {self.bins} bin(s) of the reference's "
                f"{self.distinct_ref} distinct value(s), {kind}")


def feature_drift(history: pd.DataFrame, today: pd.DataFrame,
                  cols: Sequence[str] = PSI_FEATURES) -> dict[str, FeatureDrift]:
    """`FeatureDrift` per feature, pooled over coins (both frames MicroTapes or events).

    The spread is compared in ticks when the frames carry `mid_px`: the tick is the
    reference's narrowest positive spread in price units (`narrowest_spread`), and both
    sides' spreads are counted in it. One tick in bps is tick / price, so a spread that
    stays one tick drifts in bps as the price moves (BTC's one tick: 0.111 -> 0.119 bps
    while the price fell 7 %); in ticks it does not."""
    out: dict[str, FeatureDrift] = {}
    tick = narrowest_spread(history) if "mid_px" in today else None
    for c in cols:
        if c not in history or c not in today:
            continue
        if c == SPREAD_FEATURE and tick is not None:
            e, a = spread_in_ticks(history, tick), spread_in_ticks(today, tick)
            unit = f"spread in ticks of {tick:.6g} (the reference's narrowest spread, price units)"
        else:
            e, a = history[c].to_numpy(dtype=np.float64), today[c].to_numpy(dtype=np.float64)
            unit = c
        e, a = e[np.isfinite(e)], a[np.isfinite(a)]
        b = psi_bins(e) if len(e) else None
        n = LIMITS.psi_bins
        value = _psi_on(b, e, a) if b is not None and len(e) >= n and len(a) >= n else 0.0
        out[c] = FeatureDrift(c, value, unit,
                              float(np.median(e)) if len(e) else float("nan"),
                              float(np.median(a)) if len(a) else float("nan"),
                              0 if b is None else b.distinct, 0 if b is None else b.bins,
                              bool(b is not None and b.discrete))
    return out


def same_hours(history: pd.DataFrame, today: pd.DataFrame) -> pd.DataFrame:
    """History rows at the UTC hours of the day that `today` covers: the market has an
    intraday rhythm (sessions), so a feature is compared with the same hours."""
    if history.empty or today.empty:
        return history.iloc[:0]
    return history[np.isin(_utc_hour(history["ts_ms"]), np.unique(_utc_hour(today["ts_ms"])))]


def _utc_hour(ts: pd.Series) -> np.ndarray:
    return (ts.to_numpy(dtype=np.int64) // 3_600_000) % 24


PSI_SAMPLE_ROWS = 200_000
"""Rows of each side (today, the training window) a feature PSI is computed on, at most.
Why a cap: the training window is 7 days of every coin's tape (100 coins: 60 M rows, GBs
held), and PSI only needs the two distributions. What it costs: with 10 bins, two samples
of one distribution give a PSI of about (bins - 1) (1/n_a + 1/n_b) / 2, ~5e-5 at 200,000
rows a side, against the 0.25 line."""


class RowSample:
    """Every k-th row of each part added (a coin's day, in time order), k fixed up front so
    that the side's `total` rows give at most `cap`; with `hours`, only the rows at those
    UTC hours (`same_hours`), counted before the sampling (`rows`). What a drift check
    holds is the sample, one part at a time read. A tape at the grid cadence
    sampled every k rows is a grid k cadences apart: every hour of the day keeps its share.
    Below the cap (k = 1) the rows are the side's every row."""

    def __init__(self, total: int, cap: int = PSI_SAMPLE_ROWS,
                 hours: np.ndarray | None = None) -> None:
        self.step = max(1, -(-int(total) // max(int(cap), 1)))
        self.hours = hours
        self.rows = 0
        self.seen_hours: set[int] = set()
        self._parts: list[pd.DataFrame] = []

    def add(self, part: pd.DataFrame) -> RowSample:
        if not len(part):
            return self
        hour = _utc_hour(part["ts_ms"])
        self.seen_hours.update(np.unique(hour).tolist())
        if self.hours is not None:
            part = part[np.isin(hour, self.hours)]
        self.rows += len(part)
        # a copy: a strided view would keep the whole part's arrays alive
        self._parts.append(part.iloc[::self.step].copy() if self.step > 1 else part)
        return self

    def compact(self) -> RowSample:
        """The parts so far as one frame (a few hundred small frames weigh more than their
        rows)."""
        if len(self._parts) > 1:
            self._parts = [self.frame()]
        return self

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame()
        return pd.concat(self._parts, ignore_index=True) if len(self._parts) > 1 \
            else self._parts[0].reset_index(drop=True)


def tape_sample(store: ReadsCoins, days: Sequence[str], columns: list[str],
                hours: np.ndarray | None = None,
                coin: str | None = None) -> tuple[RowSample, int]:
    """The MicroTape of `days` (those the lake has) read a row group (a coin-day, as
    `microtape_frames` is written) at a time into a `RowSample` (at `hours` only, when
    given), and how many of the days had rows there; `coin`: that coin's rows only (a
    day x coin partition's check). The heap is handed back after each row group: freed row
    groups left glibc's heap holding ~10 MB a 100-coin day (bench.drift_memory)."""
    tapes = [CoinDay(store, "microtape_frames", d) for d in days
             if store.exists("microtape_frames", d)]
    sample = RowSample(sum(t.rows() if coin is None else t.coin_rows().get(coin, 0)
                           for t in tapes), hours=hours)
    with_rows = 0
    for tape in tapes:
        before = sample.rows
        groups = (tape.row_groups(columns) if coin is None
                  else iter([tape.read(coin, columns)]))
        for group in groups:
            sample.add(group if isinstance(group, pd.DataFrame) else group.to_pandas())
            del group
            release_free_heap()
        with_rows += sample.rows > before
        sample.compact()
    return sample, with_rows


EVENT_DRIFT_COLUMNS = ["ts_ms", "detector_id", "det_sigma"]
"""What `signal_drift` reads of signal_events, today and before."""
HIT_COLUMNS = ["window_id", "status", "published", "hit"]
"""What the published hit rate check reads of signal_eval, today and before."""


@dataclass
class EventsDrift:
    """`signal_drift`'s reads of signal_events: windows per (day, detector) and det_sigma
    samples, today's and the earlier days' at today's hours (`like`)."""

    today: WindowCounts
    today_sigma: RowSample
    history: WindowCounts
    like: RowSample
    history_rows: int


def events_drift(store: ReadsCoins, day: str, before: Sequence[str]) -> EventsDrift:
    """signal_events of `day` and of the `before` days the lake has, a slice at a time
    (7 days of every coin's windows are not held)."""
    name, cols = "signal_events", EVENT_DRIFT_COLUMNS
    days = [d for d in before if store.exists(name, d)]
    hist_rows = sum(store.rows(name, d) for d in days)
    today_n, today_sig = WindowCounts(), RowSample(store.rows(name, day))
    sigma = ["ts_ms", "det_sigma"]  # what the samples keep
    for part in store.read_slices(name, day, columns=cols):
        today_n.add(part)
        today_sig.add(part[sigma])
    hist_n = WindowCounts()
    like = RowSample(hist_rows, hours=np.array(sorted(today_sig.seen_hours), dtype=np.int64))
    for d in days:
        for part in store.read_slices(name, d, columns=cols):
            hist_n.add(part)
            like.add(part[sigma])
            del part
            release_free_heap()  # each slice's strings leave glibc's heap holding pages
        like.compact()
    return EventsDrift(today_n, today_sig.compact(), hist_n, like, hist_rows)


def hit_tallies(store: ReadsCoins, day: str, before: Sequence[str]
                ) -> tuple[HitTally, HitTally]:
    """(today's, the `before` days') `HitTally` of signal_eval, a coin file (or a slice of
    a day in one file) at a time: the tallies are counts and a set, the same in any order."""
    hist = HitTally()
    for d in before:
        if store.exists("signal_eval", d):
            hist.add_day(p for _, p in unordered_parts(store, "signal_eval", d, HIT_COLUMNS))
            release_free_heap()
    today = HitTally()
    if store.exists("signal_eval", day):
        today.add_day(p for _, p in unordered_parts(store, "signal_eval", day, HIT_COLUMNS))
    return today, hist


def feature_psi(history: pd.DataFrame, today: pd.DataFrame,
                cols: Sequence[str] = PSI_FEATURES) -> dict[str, float]:
    """PSI per feature, pooled over coins (`feature_drift`'s figures)."""
    return {c: d.psi for c, d in feature_drift(history, today, cols).items()}


TAPE_DRIFT_COLUMNS = ["ts_ms", "mid_px", *PSI_FEATURES, *PSI_INFO]
"""What `tape_drift` reads of microtape_frames, today and before (`mid_px`: the spread in
ticks)."""
NOT_ENOUGH_HISTORY = "not enough history"


@dataclass(frozen=True)
class TapeDrift:
    """`microtape_feature_drift`'s verdict on a coin's day: judged only with
    `min_psi_days` earlier days and `min_psi_rows` rows at today's hours; with less the
    PSI is shown, not judged, and `history` says "not enough history"."""

    passed: bool
    judged: bool
    detail: str
    measures: list[Measure]
    numbers: dict[str, int]  # baseline_days, baseline_rows, sampled_rows, today_rows, ...
    history: str             # "enough history" / "not enough history"


def tape_drift(store: ReadsCoins, day: str, before: Sequence[str], coin: str | None,
               limits: HealthLimits = LIMITS) -> TapeDrift:
    """PSI of each key MicroTape feature of `coin` on `day` against the same UTC hours of
    the `before` days the lake has (`tape_sample`, each side at most PSI_SAMPLE_ROWS rows),
    by `feature_drift` (the spread in ticks). Judged when at least `limits.min_psi_days`
    earlier days have tape at today's hours and they hold `limits.min_psi_rows` rows: one
    earlier day cannot tell a feature's day-to-day wander from a drift. With less, every
    PSI is reported with its limit, the check passes and says "not enough history"."""
    today, _ = tape_sample(store, [day], TAPE_DRIFT_COLUMNS, coin=coin)
    hist, days = tape_sample(store, before, TAPE_DRIFT_COLUMNS,
                             hours=np.array(sorted(today.seen_hours), dtype=np.int64),
                             coin=coin)
    numbers = {"baseline_days": days, "baseline_rows": hist.rows, "today_rows": today.rows,
               "min_psi_days": limits.min_psi_days, "min_psi_rows": limits.min_psi_rows}
    short = []
    if days < limits.min_psi_days:
        short.append(f"{days} earlier day(s) with tape at these hours (< min_psi_days "
                     f"{limits.min_psi_days})")
    if hist.rows < limits.min_psi_rows:
        short.append(f"{hist.rows} earlier rows at these hours (< min_psi_rows "
                     f"{limits.min_psi_rows})")
    judged = not short
    history = "enough history" if judged else NOT_ENOUGH_HISTORY
    h, t = hist.frame(), today.frame()
    numbers.update({"sampled_rows": len(h), "today_sampled_rows": len(t)})
    if hist.rows == 0 or today.rows == 0:
        why = "; ".join(short) or "no tape today"
        return TapeDrift(True, False, f"not judged: {history}: {why}", [], numbers, history)
    measures = []
    for c, d in feature_drift(h, t, (*PSI_FEATURES, *PSI_INFO)).items():
        base = (f"previous {days} day(s), same hours, {hist.rows} rows ({len(h)} sampled, "
                f"today {len(t)} of {today.rows}); {d.describe()}")
        if c in PSI_FEATURES:
            measures.append(at_most(
                f"psi_{c}", d.psi, limits.max_psi, "max_psi",
                f"population stability index (PSI): today's {d.unit} is distributed "
                f"unlike the same hours of the previous {days} day(s) (median "
                f"{d.median_ref:.4g} -> {d.median_today:.4g})",
                base, judged=judged, why_not=history))
        else:
            measures.append(Measure(f"psi_{c}", d.psi, "reported, not judged", True, base))
    bad = failures(measures)
    if not judged:
        detail = (f"not judged: {history}: {'; '.join(short)}; the PSI is shown against its "
                  f"limit {limits.max_psi:g}")
    else:
        detail = "; ".join(bad) or "ok"
    return TapeDrift(not bad, judged, detail, measures, numbers, history)


def publication_rate(events: pd.DataFrame) -> float:
    return float(events["published"].astype(bool).mean()) if len(events) else 0.0


@dataclass
class HitTally:
    """signal_eval's done, published rows folded a slice at a time (a check holds their
    sums and one day's distinct window ids, not the days' rows): hits and rows
    (the rate is per row, as `hit_rate_shortfall` always took it), distinct windows (a
    window's horizons share its entry, so the binomial SD counts windows), days with any."""

    hits: float = 0.0
    rows: int = 0
    windows: int = 0
    days: int = 0

    def add_day(self, slices: Iterable[pd.DataFrame]) -> HitTally:
        """One day's rows, in slices (a window's ids are unique to its day)."""
        ids: set[str] = set()
        rows = 0
        for part in slices:
            done = part[(part["status"] == "done") & part["published"].astype(bool)]
            self.hits += float(done["hit"].astype(float).sum())
            rows += len(done)
            if "window_id" in done:
                ids.update(done["window_id"].astype(str).tolist())
        self.rows += rows
        self.windows += len(ids) if ids else rows
        self.days += rows > 0
        return self

    @property
    def rate(self) -> float:
        return self.hits / self.rows if self.rows else float("nan")


def hit_rate_shortfall(evals: pd.DataFrame | HitTally, expected: float
                       ) -> tuple[float, int, float]:
    """(published hit rate, n windows, z) of done published rows (a day's signal_eval, or
    its `HitTally`); z < 0 means below expectation. signal_eval holds a row per window and
    horizon: the horizons of one window share its entry, so the binomial SD counts
    windows, not rows (counting rows made z sqrt(horizons) times too large)."""
    tally = evals if isinstance(evals, HitTally) else HitTally().add_day([evals])
    n = tally.windows
    if n == 0:
        return float("nan"), 0, 0.0
    rate = tally.rate
    sd = np.sqrt(max(expected * (1 - expected), 1e-9) / n)
    return rate, n, (rate - expected) / sd


def firing_rates(windows: pd.DataFrame, hours: float) -> dict[str, float]:
    """Windows per hour per detector."""
    if hours <= 0 or not len(windows):
        return {}
    return {str(d): n / hours for d, n in windows["detector_id"].value_counts().items()}


def _utc_day(ts: pd.Series) -> np.ndarray:
    return ts.to_numpy(dtype=np.int64) // DAY_MS


@dataclass
class TapeSpans:
    """Each (UTC day, coin)'s first and last frame time, added a frame (a coin, a day) at a
    time: the tape hours a check needs without holding the tape."""

    spans: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)

    def add(self, frames: pd.DataFrame) -> TapeSpans:
        if not len(frames):
            return self
        f = pd.DataFrame({"day": _utc_day(frames["ts_ms"]),
                          "coin": frames["coin"].astype(str),
                          "ts": frames["ts_ms"].to_numpy(dtype=np.int64)})
        g = f.groupby(["day", "coin"])["ts"].agg(["min", "max"])
        for (d, c), lo, hi in zip(g.index, g["min"], g["max"], strict=True):
            key = (int(d), str(c))
            old = self.spans.get(key)
            self.spans[key] = ((int(lo), int(hi)) if old is None
                               else (min(old[0], int(lo)), max(old[1], int(hi))))
        return self

    def hours_by_day(self) -> dict[int, float]:
        """UTC day (days since 1970) -> hours of tape that day (per coin, averaged)."""
        per: dict[int, list[float]] = {}
        for (d, _), (lo, hi) in sorted(self.spans.items()):
            per.setdefault(d, []).append((hi - lo) / 3.6e6)
        return {d: float(np.mean(h)) for d, h in per.items()}


def _spans(tape: pd.DataFrame | TapeSpans) -> TapeSpans:
    return tape if isinstance(tape, TapeSpans) else TapeSpans().add(tape)


def tape_hours_by_day(frames: pd.DataFrame | TapeSpans) -> dict[int, float]:
    """UTC day (days since 1970) -> hours of tape that day (per coin, averaged)."""
    return _spans(frames).hours_by_day()


def tape_hours(frames: pd.DataFrame | TapeSpans) -> float:
    """Hours of tape (per coin, averaged), summed over the UTC days `frames` holds: the
    firing-rate denominator. One day's span each, never a span across days (a first day's
    first frame to a last day's last frame counts the nights between them)."""
    return float(sum(tape_hours_by_day(frames).values()))


@dataclass
class WindowCounts:
    """Windows per (UTC day, detector), added a slice at a time: what the firing rates need
    of the days' windows, without holding them."""

    counts: dict[tuple[int, str], int] = field(default_factory=dict)

    def add(self, frame: pd.DataFrame) -> WindowCounts:
        if not len(frame):
            return self
        f = pd.DataFrame({"day": _utc_day(frame["ts_ms"]),
                          "detector_id": frame["detector_id"].astype(str).to_numpy()})
        for (d, det), n in f.value_counts(sort=False).items():
            key = (int(d), str(det))
            self.counts[key] = self.counts.get(key, 0) + int(n)
        return self

    def days(self) -> set[int]:
        return {d for d, _ in self.counts}

    def by_detector(self, days: set[int] | None = None) -> dict[str, int]:
        """Windows per detector (over `days` only, when given)."""
        out: dict[str, int] = {}
        for (d, det), n in self.counts.items():
            if days is None or d in days:
                out[det] = out.get(det, 0) + n
        return out


def _counts(windows: pd.DataFrame | WindowCounts) -> WindowCounts:
    return windows if isinstance(windows, WindowCounts) else WindowCounts().add(windows)


@dataclass(frozen=True)
class FiringRate:
    """One detector's windows per hour today against its baseline (previous days)."""

    detector_id: str
    today_n: int
    today_per_h: float
    baseline_n: int
    baseline_per_h: float
    ratio: float            # today / baseline (windows per hour)
    judged: bool            # enough windows (today's or expected) to judge
    ok: bool


@dataclass(frozen=True)
class FiringDrift:
    hours_today: float
    hours_baseline: float
    baseline_days: int
    rates: tuple[FiringRate, ...]

    @property
    def bad(self) -> tuple[FiringRate, ...]:
        return tuple(r for r in self.rates if not r.ok)


def firing_drift(today: pd.DataFrame | WindowCounts, today_tape: pd.DataFrame | TapeSpans,
                 history: pd.DataFrame | WindowCounts,
                 history_tape: pd.DataFrame | TapeSpans,
                 limits: HealthLimits = LIMITS) -> FiringDrift:
    """Each detector's windows per hour today against the previous days': windows and tape
    hours counted per UTC day, over the history days that have both (a day's windows with
    that day's hours). A detector is judged when today's windows or the baseline's expected
    windows today reach `min_firing_windows`; it fails when the ratio leaves
    [1/max_firing_ratio, max_firing_ratio]. The windows: their frames (`ts_ms`,
    `detector_id`) or their `WindowCounts`; the tapes: their frames (`coin`, `ts_ms`) or
    their `TapeSpans`."""
    hours_today = tape_hours(today_tape)
    per_day = tape_hours_by_day(history_tape)
    hist = _counts(history)
    win_days = {d for d in hist.days() if per_day.get(d, 0.0) > 0}
    hours_base = float(sum(h for d, h in per_day.items() if d in win_days))
    t_n = _counts(today).by_detector()
    b_n = hist.by_detector(win_days)
    rates = []
    for d in sorted(set(t_n) | set(b_n)):
        tn, bn = int(t_n.get(d, 0)), int(b_n.get(d, 0))
        t = tn / hours_today if hours_today > 0 else 0.0
        b = bn / hours_base if hours_base > 0 else 0.0
        ratio = (t + 1e-9) / (b + 1e-9)
        judged = hours_base > 0 and hours_today > 0 and max(
            tn, b * hours_today) >= limits.min_firing_windows
        ok = (not judged) or (1.0 / limits.max_firing_ratio <= ratio
                              <= limits.max_firing_ratio)
        rates.append(FiringRate(d, tn, t, bn, b, float(ratio), bool(judged), bool(ok)))
    return FiringDrift(hours_today, hours_base, len(win_days), tuple(rates))


def ci_violations(lessons: pd.DataFrame) -> tuple[int, int]:
    """(rows with ci_lo <= uplift <= ci_hi broken, active rows with p05 <= 0). A lesson
    whose cross-fit splits disagree (sign 0) carries uplift 0 by design and is not judged
    (`unsigned_lessons` counts them)."""
    if not len(lessons):
        return 0, 0
    lo, est, hi = (lessons[c].to_numpy(dtype=np.float64) for c in ("ci_lo", "uplift_bps",
                                                                    "ci_hi"))
    signed = (lessons["sign"].to_numpy() != 0) if "sign" in lessons else np.ones(len(est), bool)
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(est) & signed
    order_bad = int((ok & ~((lo <= est + 1e-9) & (est <= hi + 1e-9))).sum())
    active = lessons["state"].astype(str).to_numpy() == "active"
    p05 = lessons["p05"].to_numpy(dtype=np.float64)
    return order_bad, int((active & ~(p05 > 0)).sum())


def unsigned_lessons(lessons: pd.DataFrame) -> int:
    return int((lessons["sign"] == 0).sum()) if len(lessons) and "sign" in lessons else 0


def priors_violations(snapshot: pd.DataFrame, theta_bounds: tuple[float, float],
                      phi_bounds: tuple[float, float], max_theta_delta: float,
                      max_step: float) -> list[str]:
    """Caps outside their bounds, a patch beyond the per-braid limit, a step too large."""
    bad: list[str] = []
    for r in snapshot.itertuples():
        key, after, before = str(r.key), r.after_value, r.before_value
        if not np.isfinite(after):
            continue
        if key == "cap/theta_min" and not theta_bounds[0] <= after <= theta_bounds[1]:
            bad.append(f"{key}={after:g} outside {theta_bounds}")
        if key == "cap/phi_max" and not phi_bounds[0] <= after <= phi_bounds[1]:
            bad.append(f"{key}={after:g} outside {phi_bounds}")
        if key.startswith("patch/") and key.endswith("theta_delta"):
            if abs(after) > max_theta_delta + 1e-12:
                bad.append(f"{key}={after:+g} beyond +-{max_theta_delta:g}")
            step = abs(after - (before if np.isfinite(before) else 0.0))
            if step > max_step + 1e-12:
                bad.append(f"{key} stepped {step:g} > {max_step:g}")
    return bad


# --- what a check shows next to its value ---------------------------------------------------

@dataclass(frozen=True)
class Measure:
    """One judged figure of a check: its value, the threshold it is judged against (text,
    e.g. `<= 0.01`, and the number when there is one), what it is compared with (the
    baseline: a previous-days figure, or `absolute` for a fixed limit) and the verdict;
    `broken` (how a failing value breaks its named limit, e.g. `> max_psi 0.25`) and `rule`
    (what that means) make `sentence()`, the failure in one sentence."""

    name: str
    value: float
    threshold: str
    ok: bool
    baseline: str = "absolute limit"
    limit: float | None = None
    baseline_value: float | None = None
    rule: str = ""
    broken: str = ""

    def sentence(self) -> str:
        """"<name> <value> <broken limit>: <rule>", e.g. "psi_spread_bps 1.324 > max_psi
        0.25: ..." (without `broken`: "fails <threshold>")."""
        broke = self.broken or f"fails {self.threshold}"
        return f"{self.name} {_num(self.value)} {broke}" + (f": {self.rule}" if self.rule
                                                             else "")


def at_most(name: str, value: float, limit: float, limit_name: str, rule: str,
            baseline: str = "absolute limit", baseline_value: float | None = None,
            judged: bool = True, why_not: str = "") -> Measure:
    """A figure that must stay <= `limit` (`limit_name`: the `HealthLimits` field or config
    key it comes from). Not `judged`: shown with its limit, never failing (`why_not`)."""
    value = float(value)
    ok = (not judged) or bool(value <= limit)
    threshold = f"<= {limit:g}" + ("" if judged else f" (not judged: {why_not})")
    return Measure(name, value, threshold, ok, baseline, float(limit), baseline_value,
                   rule=rule, broken=f"> {limit_name} {limit:g}")


def failures(measures: Sequence[Measure]) -> list[str]:
    """Each failing measure's sentence."""
    return [m.sentence() for m in measures if not m.ok]


def _num(v: float | None) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return f"{v:.4g}"


def measures_md(measures: Sequence[Measure]) -> str:
    """A Markdown table: measure | value | threshold | baseline | verdict."""
    out = ["| measure | value | threshold | baseline | verdict |", "|---|---|---|---|---|"]
    for m in measures:
        base = m.baseline if m.baseline_value is None else \
            f"{_num(m.baseline_value)} ({m.baseline})"
        out.append(f"| {m.name} | {_num(m.value)} | {m.threshold} | {base} | "
                   f"{'ok' if m.ok else '**FAIL**'} |")
    return "\n".join(out)


def measures_numbers(measures: Sequence[Measure]) -> dict[str, float]:
    """Numeric metadata: `<name>`, `<name>_baseline`, `<name>_limit` (finite ones)."""
    out: dict[str, float] = {}
    for m in measures:
        out[m.name] = float(m.value)
        if m.baseline_value is not None:
            out[f"{m.name}_baseline"] = float(m.baseline_value)
        if m.limit is not None:
            out[f"{m.name}_limit"] = float(m.limit)
    return {k: v for k, v in out.items() if np.isfinite(v)}


# --- the audit check: which audit failed, per detector --------------------------------------

AUDITS = (("future_touch", "future_touch_ok", "future_touch_metric"),
          ("label_shuffle", "label_shuffle_ok", "label_shuffle_metric"),
          ("rolling_origin_gap", "rolling_gap_ok", "rolling_gap_metric"),
          ("adversarial", "adversarial_ok", "adversarial_metric"))


@dataclass(frozen=True)
class AuditVerdict:
    detector_id: str
    production: bool
    failed: tuple[str, ...]          # audit names that failed
    verdicts: dict[str, str]         # audit -> "pass (metric m)" / "FAIL (metric m): detail"
    reasons: dict[str, str] = field(default_factory=dict)
    """failed audit -> why, in one sentence: value, limit and rule
    (`lotus_core.audits.result.failure_sentence`)"""

    def sentences(self) -> list[str]:
        return [f"{self.detector_id}: {r}" for r in self.reasons.values()]


def audit_verdicts(audits: pd.DataFrame) -> list[AuditVerdict]:
    """Per failing detector (leakage_ok and adversarial_ok not both true) every audit's
    verdict, metric and detail (detector_audits' `detail` JSON), failed ones named, each
    failure with its one-sentence reason (value, limit, rule). The label shuffle's own
    verdict (`edge`: a significant positive lift; `no_edge`) is named on a pass only: a
    failed shuffle's reason says which rule it broke."""
    out = []
    bad = audits.loc[~(audits["leakage_ok"].astype(bool) & audits["adversarial_ok"]
                       .astype(bool))].sort_values("detector_id")
    for r in bad.to_dict(orient="records"):
        try:
            details = json.loads(str(r.get("detail") or "{}"))
        except ValueError:
            details = {}
        verdicts, failed, reasons = {}, [], {}
        for name, ok_col, metric_col in AUDITS:
            ok = bool(r[ok_col])
            metric = float(r[metric_col])
            text = f"{'pass' if ok else 'FAIL'} (metric {_num(metric)})"
            if ok and name == "label_shuffle" and r.get("label_shuffle_verdict"):
                text += f" verdict {r['label_shuffle_verdict']}"
            if not ok:
                failed.append(name)
                detail = str(details.get(name) or "")
                reasons[name] = failure_sentence(name, metric, detail)
                if detail:
                    text += f": {detail}"
            verdicts[name] = text
        out.append(AuditVerdict(str(r["detector_id"]), bool(r.get("production", False)),
                                tuple(failed), verdicts, reasons))
    return out


def audit_verdicts_md(verdicts: Sequence[AuditVerdict], day: str) -> str:
    """One section per failing detector: why each failed audit failed (one sentence each:
    value, limit, rule), every audit's verdict and where its card is (the `detector_cards`
    partition of `day`, metadata `card_<detector_id>`)."""
    if not verdicts:
        return "every detector passes its audits"
    parts = []
    for v in verdicts:
        rows = "\n".join(f"| {a} | {t.replace('|', '/')} |" for a, t in v.verdicts.items())
        why = "".join(f"- {r}\n" for r in v.reasons.values())
        parts.append(f"### {v.detector_id}{' (production)' if v.production else ''}: "
                     f"fails {', '.join(v.failed) or 'nothing'}\n\n"
                     f"{why}{chr(10) if why else ''}| audit | verdict |\n"
                     f"|---|---|\n{rows}\n\nCard: asset `detector_cards`, partition `{day}`, "
                     f"metadata `card_{v.detector_id}` (lake row detector_id = "
                     f"`{v.detector_id}`).")
    return "\n\n".join(parts)
