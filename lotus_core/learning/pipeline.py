"""One night of learning, stage by stage, as pure functions the assets (and tests) call.

training_window -> lesson_atoms -> lessons (+ watchdog alerts) -> micro braids -> meta and
field braids -> compiled patch set. Every stage is deterministic for its inputs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.columns import STR
from lotus_core.learning.atoms import PART_ROWS, atoms_by_detector, empty_atoms
from lotus_core.learning.braids import micro_braids, weave
from lotus_core.learning.compile import BraidEffect, CompiledPriors, PatchCaps, compile_patches
from lotus_core.learning.config import LearningConfig
from lotus_core.learning.frame import (
    EVENT_COLUMNS,
    frame_of,
    joined_rows,
    learning_frame,
    outcomes_of,
)
from lotus_core.learning.hetero import columns as hetero_columns
from lotus_core.learning.joined import read_joined
from lotus_core.learning.lessons import Task, learn, learn_tasks, learning_tasks
from lotus_core.learning.quantize import Quantizer, compact, fit_columns, fit_quantizer
from lotus_core.learning.sample import read_window
from lotus_core.malloc import release_free_heap
from lotus_core.signals.config import ContextConfig
from lotus_core.store.by_coin import CoinDay, InOrder

SCOPE = {"micro": "detector", "meta": "meta", "field": "field"}


@dataclass(frozen=True)
class TrainingWindow:
    frame: pd.DataFrame  # learning frame rows of the window (aligned with lits)
    lits: pd.DataFrame
    quantizer: Quantizer
    label: str  # "<first day>..<last day>"
    windows: int | None = None  # the window's windows before sampling (None: not read so)
    rate: float = 1.0  # the share of them the frame samples (`lotus_core.learning.sample`)


def training_window(frame: pd.DataFrame, cfg: LearningConfig, base: ContextConfig,
                    quantizer: Quantizer | None = None) -> TrainingWindow:
    """Quantise a learning frame (fitting the edges on it unless a quantizer is given)."""
    q = quantizer or fit_quantizer(frame, cfg.quantizer, base)
    lits = q.literals(frame).reset_index(drop=True) if len(frame) else \
        pd.DataFrame({f: pd.Series(dtype=object) for f in q.features})
    days = sorted(set(frame["date"].astype(str))) if len(frame) else []
    label = f"{days[0]}..{days[-1]}" if days else ""
    return TrainingWindow(frame.reset_index(drop=True), lits, q, label)


def window_from_lake(events: pd.DataFrame, evals: pd.DataFrame, cfg: LearningConfig,
                     base: ContextConfig, quantizer: Quantizer | None = None) -> TrainingWindow:
    return training_window(learning_frame(events, evals, cfg.horizon_s), cfg, base, quantizer)


_LIT = "lit:"  # the prefix of a literal's column while the window is read (`_shaped`)
HELD = ("window_id", "ts_ms", "coin", "detector_id", "date")
"""The events' columns the window holds after quantising (the night's stages read these,
the outcomes and the literals; the context columns only become literals)."""


def window_from_days(events: Sequence[CoinDay], evals: Sequence[CoinDay],
                     late: Sequence[CoinDay], cfg: LearningConfig, base: ContextConfig,
                     quantizer: Quantizer | None = None,
                     held: Sequence[str] = HELD) -> TrainingWindow:
    """The training window read from the lake's days a row group at a time, a uniform sample of
    its windows above `cfg.max_windows` (`lotus_core.learning.sample`). A frame with rows holds
    the `held` columns of `HELD` (and `date`, the window's label) beside the outcomes: a step
    that reads fewer lets the others go after the join (the atoms: ~13 MB of a
    250,000-window night's ids, coins and times).

    Each row group's kept events are quantised as they are read and only their literals (as
    categoricals) and `HELD` columns kept (a 250,000-window night's context
    columns, merged, sorted and quantised whole, would be ~250 MB). Quantising is row-wise, so
    this is the whole frame's quantising; a quantiser not given is fitted first, on a read of
    the columns its edges need (`fit_columns`): two reads of the window where there was one."""
    q = quantizer or fit_quantizer(
        _read_frame(events, evals, late, cfg, (*HELD, *fit_columns(cfg.quantizer.fit_edges))),
        cfg.quantizer, base)
    # the continuous moderators' inputs, kept beside the literals (hetero.py), when searched
    extra = hetero_columns(q.features) if cfg.hetero.enabled else ()
    j = read_joined(events, evals, late, cfg.horizon_s, cfg.max_windows,
                    shape=lambda part: _shaped(part, q, extra))
    if j is None:  # what the hashes cannot decide: the whole-table join decides it
        return _joined_whole(events, evals, late, cfg, base, q, held, extra)
    if j.events.empty or not j.outcome_rows:
        return _empty(j.events, cfg, base, q, j.windows, j.rate)
    read, rows, outcomes, windows, rate = j.events, j.rows, j.outcomes, j.windows, j.rate
    del j
    return _assembled(read, rows, outcomes, q, held, windows, rate, extra)


def _joined_whole(events: Sequence[CoinDay], evals: Sequence[CoinDay],
                  late: Sequence[CoinDay], cfg: LearningConfig, base: ContextConfig,
                  q: Quantizer, held: Sequence[str],
                  extra: Sequence[str] = ()) -> TrainingWindow:
    """`window_from_days` with the window's outcomes read whole and joined on the strings
    where the hashes cannot decide (`frame.join_ids`)."""
    s = read_window(events, evals, late, cfg.horizon_s, cfg.max_windows,
                    shape=lambda part: _shaped(part, q, extra))
    if s.events.empty or s.evals.empty:
        return _empty(s.events, cfg, base, q, s.windows, s.rate)
    rows, take = joined_rows(s.events, s.evals, cfg.horizon_s)
    outcomes = outcomes_of(s.evals, take)
    return _assembled(s.events, rows, outcomes, q, held, s.windows, s.rate, extra)


def _empty(read: pd.DataFrame, cfg: LearningConfig, base: ContextConfig, q: Quantizer,
           windows: int, rate: float) -> TrainingWindow:
    """The window of no joined rows (no events, or no outcomes)."""
    return dataclasses.replace(training_window(
        learning_frame(read[[c for c in read if not c.startswith(_LIT)]], pd.DataFrame(),
                       cfg.horizon_s), cfg, base, q), windows=windows, rate=rate)


def _assembled(read: pd.DataFrame, rows: np.ndarray, outcomes: pd.DataFrame, q: Quantizer,
               held: Sequence[str], windows: int, rate: float,
               extra: Sequence[str] = ()) -> TrainingWindow:
    """The window of the read events' `rows` (in the frame's order) and their `outcomes`:
    the `held` columns (and `extra`) and the literals moved out of `read` a column at a
    time."""
    kept = [c for c in HELD if c in read.columns and (c in held or c == "date")]
    kept += [c for c in extra if c in read.columns and c not in kept]
    for c in [c for c in HELD if c in read.columns and c not in kept]:
        del read[c]
    named = [c for c in read.columns if c.startswith(_LIT)]
    frame = pd.concat([_moved(read, kept, rows), outcomes], axis=1)
    lits = _moved(read, named, rows)
    del read
    release_free_heap()  # the read's freed pages
    lits.columns = [c.removeprefix(_LIT) for c in named]
    days = sorted(set(frame["date"].astype(str)))
    return TrainingWindow(frame, lits, q, f"{days[0]}..{days[-1]}" if days else "", windows, rate)


def _moved(read: pd.DataFrame, columns: list[str], rows: np.ndarray) -> pd.DataFrame:
    """`read[columns].iloc[rows]` (indexed from 0), each column taken out of `read` as it is
    taken and its pages handed back: never the read and the frame held whole together
    (~33 MB at 250,000 windows)."""
    out = {}
    for c in columns:
        out[c] = read.pop(c).iloc[rows].reset_index(drop=True)
        release_free_heap()
    return pd.DataFrame(out, columns=columns)


def _read_frame(events: Sequence[CoinDay], evals: Sequence[CoinDay], late: Sequence[CoinDay],
                cfg: LearningConfig, columns: Sequence[str]) -> pd.DataFrame:
    """The learning frame of the window's `columns` alone (the quantiser's fit reads this),
    its outcomes joined a few row groups at a time (`read_joined`) where the hashes decide."""
    cols = [c for c in EVENT_COLUMNS if c in columns]
    j = read_joined(events, evals, late, cfg.horizon_s, cfg.max_windows, columns=cols)
    if j is None:
        s = read_window(events, evals, late, cfg.horizon_s, cfg.max_windows, columns=cols)
        return learning_frame(s.events, s.evals, cfg.horizon_s)
    if j.events.empty or not j.outcome_rows:
        return learning_frame(j.events, pd.DataFrame(), cfg.horizon_s)
    return frame_of(j.events, j.rows, j.outcomes)


def _shaped(part: pd.DataFrame, q: Quantizer, extra: Sequence[str] = ()) -> pd.DataFrame:
    """A row group's kept events as the window holds them: `HELD` (and `extra`, the
    continuous moderators' inputs) and the literals."""
    held = part[[c for c in (*HELD, *(c for c in extra if c not in HELD)) if c in part.columns]]
    if part.empty:
        return held.assign(**{_LIT + f: pd.Series(dtype=object) for f in q.features})
    lits = compact(q.literals(part))
    lits.columns = [_LIT + c for c in lits.columns]
    return pd.concat([held, lits], axis=1)


def atom_parts(tw: TrainingWindow, day: str, cfg: LearningConfig) -> Iterator[pd.DataFrame]:
    """The night's lesson atoms, without their quantiser column, in parts in their order
    (`atoms_by_detector`), made as they are written."""
    return atoms_by_detector(tw.frame, tw.lits, day, cfg.ewma_halflife_days, tw.label)


def with_quantizer(parts: Iterable[pd.DataFrame], q: Quantizer) -> InOrder:
    """The atoms' parts (`atom_parts`) with the quantiser's JSON as their last column,
    `quantizer`, laid on a part at a time as the lake writes them: every atom repeats the
    ~800-byte value, so on a 250,000-window night (~240,000 atoms, nearly a context a
    window) the whole column would be ~190 MB held for one value. Sorted and unique by
    (detector_id, cond_key), as `lesson_atoms` makes them; written in row groups of a part's
    rows (`PART_ROWS`): a row group of SLICE_ROWS atoms, ~1.1 kB each with the quantiser,
    was ~27 MB held until it was written (~55 MB of the step's peak at 250,000 windows).
    The heap is handed back before each part is given: the last part's validation and
    conversion, freed, stayed in it (~15 MB of the step's peak at 250,000 windows)."""
    text = json.dumps(q.to_dict(), sort_keys=True)

    def slices() -> Iterator[pd.DataFrame]:
        for part in parts:
            release_free_heap()
            yield part.assign(quantizer=pd.array([text] * len(part), dtype=STR))

    empty = empty_atoms().assign(quantizer=pd.array([], dtype=STR))
    return InOrder(slices(), empty, key=("detector_id", "cond_key"), row_group=PART_ROWS)


def quantizer_of(atoms_df: pd.DataFrame) -> Quantizer | None:
    if len(atoms_df) == 0 or "quantizer" not in atoms_df:
        return None
    return Quantizer.from_dict(json.loads(str(atoms_df["quantizer"].iloc[0])))


def lessons(tw: TrainingWindow, previous: pd.DataFrame, day: str,
            cfg: LearningConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    return learn(tw.frame, tw.lits, tw.quantizer, cfg, previous, day, tw.label)


def lesson_tasks(tw: TrainingWindow, previous: pd.DataFrame, cfg: LearningConfig) -> list[Task]:
    """What `lessons` searches, taken from the window: a caller that lets go of the window
    before `lessons_of` does not hold its frame and literals through the search
    (~110 MB of a 250,000-window night)."""
    return learning_tasks(tw.frame, tw.lits, tw.quantizer, cfg, previous)


def lessons_of(tasks: list[Task], q: Quantizer, label: str, previous: pd.DataFrame, day: str,
               cfg: LearningConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`lessons` of the window whose tasks, quantiser and label are given."""
    return learn_tasks(tasks, q, cfg, previous, day, label)


def braids(lessons_df: pd.DataFrame, tw: TrainingWindow, cfg: LearningConfig) -> pd.DataFrame:
    return micro_braids(lessons_df, tw.frame, tw.lits, cfg, tw.quantizer)


def meta_braids(micro: pd.DataFrame, tw: TrainingWindow, cfg: LearningConfig) -> pd.DataFrame:
    return weave(micro, tw.frame, tw.lits, tw.quantizer, cfg)


def braid_effects(*tables: pd.DataFrame) -> list[BraidEffect]:
    """Every active braid's patches as compiler inputs (one per cond_key; `#i` suffixes)."""
    out: list[BraidEffect] = []
    for table in tables:
        for r in table[table["state"] == "active"].itertuples():
            for i, p in enumerate(json.loads(r.patches)):
                # ignore: itertuples() rows are untyped; SCOPE maps each braid_type to a Scope.
                out.append(BraidEffect(
                    braid_id=f"{r.braid_id}#{i}", scope=SCOPE[r.braid_type],  # type: ignore[arg-type]
                    detector_id=r.detector_id, coin=r.coin, cond_key=p["cond_key"],
                    theta_delta=float(p["theta_delta"]), phi_mult=float(p["phi_mult"]),
                    uplift=abs(float(r.uplift_bps)), bqs=float(r.bqs),
                    parents=tuple(f"{x}#0" for x in json.loads(r.parents)
                                  if not str(x).startswith("L"))))
    return out


def compile_night(micro: pd.DataFrame, meta: pd.DataFrame, cfg: LearningConfig,
                  previous: CompiledPriors | None) -> CompiledPriors:
    return compile_patches(braid_effects(micro, meta), PatchCaps.from_config(cfg.caps), previous)
