"""All four audits for every detector of a day: the `detector_audits` rows, the narrow
audit status the curators read, and which production detectors fail."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from lotus_core.audits.adversarial import Retention, adversarial_coin
from lotus_core.audits.day_windows import DayWindows
from lotus_core.audits.edge import hits_gap, label_shuffle, usable, window_hits
from lotus_core.audits.future_touch import Touch, cut_draws, rng_for, touch_coin_all
from lotus_core.audits.result import DEFAULT, AuditConfig
from lotus_core.audits.schema import AUDIT_STATUS_SCHEMA, DETECTOR_AUDITS_SCHEMA
from lotus_core.curators.council import STATUS_COLUMNS
from lotus_core.malloc import release_free_heap
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.pipeline import detect_by_coin, detect_parts
from lotus_core.signals.quality import History, history_parts, quality_fold
from lotus_core.signals.spec import DetectorSpec, load_detectors
from lotus_core.store.by_coin import CoinParts, CoinTape, FrameCoins
from lotus_core.time import shift_day


def production_hashes() -> set[str]:
    """Recipe hashes of the shipped detectors.yaml: the cohort a failure must block."""
    return {s.recipe_hash for s in load_detectors().enabled}


def card_ready(spec: DetectorSpec) -> bool:
    """A card can be written: described, with failure modes (cheap, static)."""
    return bool(spec.description.strip()) and len(spec.failure_modes) > 0


def audit_day(frames: pd.DataFrame, day: str, specs: Sequence[DetectorSpec], *,
              history: History = None,
              cfg: AuditConfig = DEFAULT,
              scoring: ScoringConfig) -> pd.DataFrame:
    """`audit_by_coin` of a day's MicroTape held whole."""
    return audit_by_coin(FrameCoins(frames), day, specs, history=history, cfg=cfg,
                         scoring=scoring)


class PastHits:
    """Each recipe's usable history windows' hits in time order: what the rolling-origin gap
    reads of the past. A finished day's hits are kept sorted, one byte a window (2 x hit:
    0, 1 or 2); only the day being read keeps its times, so the step holds ~1 byte a past
    window, not the windows."""

    def __init__(self, specs: Sequence[DetectorSpec]) -> None:
        self.recipes = {s.recipe_hash for s in specs}
        self.done: dict[str, list[np.ndarray]] = {r: [] for r in self.recipes}
        self.pending: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray]]]] = {}

    def add(self, part: pd.DataFrame) -> None:
        """A part of the history (whole days or a coin-day of one, days in order)."""
        if len(part) == 0 or "recipe_hash" not in part:
            return
        ok = usable(part) & part["recipe_hash"].isin(self.recipes).to_numpy(dtype=bool)
        rows = part[ok]
        dates = rows["date"].astype(str) if "date" in rows else pd.Series("", index=rows.index)
        for (day, recipe), g in rows.groupby([dates, rows["recipe_hash"]], sort=True):
            codes = (g["hit"].to_numpy(np.float64) * 2).astype(np.int8)
            self.pending.setdefault(str(day), {}).setdefault(str(recipe), []).append(
                (g["ts_ms"].to_numpy(np.int64), codes))
        if len(dates):
            self._finish(before=str(dates.min()))  # a part's days follow every finished day

    def _finish(self, before: str | None = None) -> None:
        """Sort and keep the pending days before `before` (None: every one), in day order."""
        for day in sorted(self.pending):
            if before is not None and day >= before:
                break
            for recipe, chunks in self.pending.pop(day).items():
                ts = np.concatenate([t for t, _ in chunks])
                codes = np.concatenate([c for _, c in chunks])
                self.done[recipe].append(codes[np.argsort(ts, kind="stable")])

    def in_time_order(self, recipe: str, ts: np.ndarray, hit: np.ndarray) -> np.ndarray:
        """The recipe's past hits then `hit` (the day's, later than every past window),
        stably sorted by time."""
        self._finish()
        past = np.concatenate([np.zeros(0, np.int8), *self.done[recipe]]) / 2.0
        return np.concatenate([past, hit[np.argsort(ts, kind="stable")]])


def audit_by_coin(tape: CoinTape, day: str, specs: Sequence[DetectorSpec], *,
                  history: History = None,
                  cfg: AuditConfig = DEFAULT,
                  scoring: ScoringConfig) -> pd.DataFrame:
    """One row per detector (sorted by id) with every audit's pass, metric and detail; the
    audited scores use `scoring`, the configuration the day is scored with (the entry
    point's, resolved once: every audit below scores with it).

    The tape is read one coin at a time, three times (the step's memory does not
    grow with the coins): the windows, which are per coin (`detect_parts`), of which the
    day's are kept only in the columns the day-wide audits read, by detector and coin
    (`DayWindows`, ~19 bytes a window); the frames' timestamps at the cut positions drawn
    over the whole day (`cut_draws`); then each coin's future-touch cuts and
    perturbations, whose counts and det_sigma sums add up over the coins (`Touch`,
    `Retention`), against the coin's windows detected again (the same computation on the
    same tape). The label shuffle and the rolling-origin gap need only the day's narrow
    windows, a detector at a time."""
    fold = quality_fold(history, specs, scoring.sq)  # a coin-day at a time, coin by coin
    past = PastHits(specs)  # and again day by day (the gap reads the past in time order)
    for part in (history.by_day() if isinstance(history, CoinParts)
                 else history_parts(history)):
        past.add(part)
    hq = fold.quality(scoring.sq)  # the same for every coin
    # future-touch scores one detector at a time, with that detector's history
    hq_one = {s.id: fold.quality(scoring.sq, only=[s.id]) for s in specs}
    windows = _day_windows(tape, specs, scoring)
    coins = tape.coins()
    touches = _touches(tape, coins, windows, specs, cfg)
    retention: dict[str, Retention] = {}
    for c in coins:
        frames = tape.read(c)
        # the coin's windows again, as the adversarial audit's unperturbed scores hold
        # them (the same detectors on the same tape), in time order (none: an empty tape,
        # which touch_coin skips)
        found = run_detectors(frames, specs)  # once: every score of this tape reads them
        full = adversarial_coin(frames, specs, retention, cfg=cfg, scoring=scoring, hq=hq,
                                found=found)
        own = {str(k): g for k, g in full.groupby("detector_id", sort=False)} if len(full) \
            else {}
        touch_coin_all(frames, [(spec, own.get(spec.id, full.iloc[:0]).reset_index(drop=True),
                                 touches[spec.id], hq_one[spec.id]) for spec in specs],
                       cfg=cfg, scoring=scoring, found=found)
        del frames, full, own, found
        release_free_heap()  # a coin's tape read leaves its pages in glibc's heap
    prod = production_hashes()
    rows = []
    for spec in sorted(specs, key=lambda s: s.id):
        mine = windows.of(spec.id)
        ft = touches[spec.id].result()
        ls = label_shuffle(mine, rng_for(cfg, spec, "label_shuffle"), cfg)
        gap = hits_gap(past.in_time_order(spec.recipe_hash, *window_hits(mine)), cfg)
        ad = retention.get(spec.id, Retention()).result(cfg)
        rows.append({
            "detector_id": spec.id, "recipe_hash": spec.recipe_hash,
            "production": spec.recipe_hash in prod, "n_windows": len(mine),
            "future_touch_ok": ft.passed, "future_touch_metric": ft.metric,
            "label_shuffle_ok": ls.passed, "label_shuffle_metric": ls.metric,
            "label_shuffle_verdict": ls.detail.split(":")[0],
            "rolling_gap_ok": gap.passed, "rolling_gap_metric": gap.metric,
            "adversarial_ok": ad.passed, "adversarial_metric": ad.metric,
            "leakage_ok": ft.passed and ls.passed and gap.passed,
            "fragility": float(np.clip(ad.metric, 0.0, 1.0)),
            "card_ok": card_ready(spec),
            "detail": json.dumps({r.name: r.detail for r in (ft, ls, gap, ad)}, sort_keys=True),
        })
    out = pd.DataFrame(rows)
    for c in ("detector_id", "recipe_hash", "label_shuffle_verdict", "detail"):
        out[c] = out[c].astype("str")
    out["n_windows"] = out["n_windows"].astype(np.int64)
    return DETECTOR_AUDITS_SCHEMA.validate(out)


def _day_windows(tape: CoinTape, specs: Sequence[DetectorSpec],
                 scoring: ScoringConfig) -> DayWindows:
    """The day's windows in the columns the day-wide audits read, by detector and coin: a
    coin's whole windows held at a time while they are detected."""
    parts = detect_parts(tape, specs, scoring=scoring)
    first = next(parts, None)
    if first is None:
        return DayWindows(detect_by_coin(tape, specs, scoring=scoring))  # no row: the empty form
    out = DayWindows(first)
    out.add(first)
    del first
    for part in parts:
        out.add(part)
        del part
        release_free_heap()  # between the coins' reads: the day's windows are small, a
        # coin's tape is not, and the heap kept its pages under the windows added after it
    return out


def _touches(tape: CoinTape, coins: list[str], windows: DayWindows,
             specs: Sequence[DetectorSpec], cfg: AuditConfig) -> dict[str, Touch]:
    """Each detector's future-touch cuts: drawn as positions over the day's windows and
    frames (`cut_draws`, the draws `cut_points` makes on the whole frame), the frames'
    timestamps then read at those positions coin by coin (only the `ts_ms` column)."""
    counts = [len(tape.read(c, ["ts_ms"])) for c in coins]
    starts = np.cumsum([0, *counts])
    draws = {}
    for spec in specs:
        at = windows.ts_ms(spec.id)
        w, f = cut_draws(int(starts[-1]), len(at), cfg.cuts_windows,
                         rng_for(cfg, spec, "future_touch"))
        draws[spec.id] = (at, at[w], np.asarray(f, dtype=np.int64))
    wanted = np.unique(np.concatenate([f for _, _, f in draws.values()]
                                      or [np.empty(0, dtype=np.int64)]))
    ts_at: dict[int, int] = {}
    for i, c in enumerate(coins):
        mine = wanted[(wanted >= starts[i]) & (wanted < starts[i + 1])]
        if len(mine):
            ts = tape.read(c, ["ts_ms"])["ts_ms"].to_numpy(dtype=np.int64)
            ts_at.update(zip(mine.tolist(), ts[mine - starts[i]].tolist(), strict=True))
    touches = {}
    for spec in specs:
        at, picked, f = draws[spec.id]
        cuts = sorted({int(t) for t in picked} | {ts_at[int(i)] for i in f})
        touches[spec.id] = Touch.at(cuts, at, cfg)
    return touches


def status_of(audits: pd.DataFrame) -> pd.DataFrame:
    """The curators' input: detector_id plus exactly the status columns they accept."""
    return AUDIT_STATUS_SCHEMA.validate(
        audits[["detector_id", *STATUS_COLUMNS]].reset_index(drop=True))


AUDIT_STATUS_LOOKBACK_DAYS = 7
"""How far back the audit status that curates a day may come from (see `status_day`)."""


def status_day(days: Iterable[str], day: str,
               lookback_days: int = AUDIT_STATUS_LOOKBACK_DAYS) -> str | None:
    """The day whose audit status curates `day`: the newest of `days` strictly before it and
    at most `lookback_days` earlier, or None (no status: every detector ok, fragility 0).

    Never `day` itself: its audits are measured on the outcomes of the very windows they
    would curate (a look-ahead), and live, while `day` is scored, they do not exist yet. One
    rule for the nightly `score_signals` and the live engine, so both curate alike."""
    first = shift_day(day, -lookback_days)
    earlier = sorted(d for d in days if first <= d < day)
    return earlier[-1] if earlier else None


def status_in_force(statuses: pd.DataFrame | None, day: str) -> pd.DataFrame | None:
    """`statuses` (detector_audit_status rows of several days, with a `date` column, as the
    lake window reads them) cut to the day `status_day` picks; None when there is none."""
    if statuses is None or len(statuses) == 0 or "date" not in statuses:
        return None
    pick = status_day(set(statuses["date"].astype(str)), day)
    if pick is None:
        return None
    return statuses[statuses["date"].astype(str) == pick].drop(columns="date").reset_index(
        drop=True)


def failing_production(audits: pd.DataFrame) -> list[str]:
    """Production detectors whose recipe touches the future: what blocks publication.

    A future-touch failure is a defect in the shipped code (it reads data received after
    the window), so nothing scored with it can be trusted. The statistical audits (label
    shuffle, rolling-origin gap, adversarial) are evidence about one detector on one day:
    the leakage / adversarial curators veto that detector's windows instead.
    """
    bad = audits["production"] & ~audits["future_touch_ok"]
    return sorted(audits.loc[bad, "detector_id"].tolist())
