"""The learning unit: one window in which a detector fired, its quantised context and its
realised outcome at the lesson horizon.

`UnitSet` is what every estimator reads: integer codes per feature (the value's index in
the feature's value list), the signed net return `y` (bps), `hit`, and the hour and day
the window belongs to (the bootstrap resamples hours; stability compares days).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NoReturn

import numpy as np
import pandas as pd

from lotus_core.arrays import small_int
from lotus_core.time import DAY_MS, HOUR_MS


@dataclass(frozen=True)
class UnitSet:
    features: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]  # per feature, in code order
    codes: np.ndarray  # (n, F) the smallest int holding every value index (int8: <= 127 values)
    y: np.ndarray  # (n,) float64: signed net return at the horizon, bps
    hit: np.ndarray  # (n,) float64: 1 hit, 0 miss (0.5: flat)
    ts_ms: np.ndarray  # (n,) int64
    # features whose literals may be a split's treatment (None: every feature). The rest are
    # context only: they scope a rule and confound, but a rule is never judged by their split
    # (execution lessons: the Trader chooses its strategy, not the spread it meets).
    treatments: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        n, f = self.codes.shape
        if f != len(self.features) or len(self.values) != f:
            raise ValueError("codes, features and values disagree in width")
        if not (len(self.y) == len(self.hit) == len(self.ts_ms) == n):
            raise ValueError("codes, y, hit and ts_ms disagree in length")
        unknown = sorted(set(self.treatments or ()) - set(self.features))
        if unknown:
            raise ValueError(f"treatment features {unknown} are not among {list(self.features)}")

    @property
    def n(self) -> int:
        return int(self.codes.shape[0])

    # hour and day are made when asked, not kept: a few reads a search (its folds, breaks,
    # bootstrap hours, a rule's days), and kept they would be 4 MB of every unit set held to
    # the night's end (the pooled search's peak holds every detector's)
    @property
    def hour(self) -> np.ndarray:
        return (self.ts_ms // HOUR_MS).astype(np.int64, copy=False)

    @property
    def day(self) -> np.ndarray:
        return self.days_of(slice(None))

    def days_of(self, rows: np.ndarray | slice) -> np.ndarray:
        """The UTC day (days since the epoch) of the units `rows`, made for them alone."""
        return (self.ts_ms[rows] // DAY_MS).astype(np.int64, copy=False)

    @cached_property
    def offsets(self) -> np.ndarray:
        """Index of each feature's first literal in the flat literal list."""
        sizes = np.array([len(v) for v in self.values], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(sizes)[:-1]])

    @cached_property
    def n_literals(self) -> int:
        return int(sum(len(v) for v in self.values))

    @cached_property
    def literal_feature(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.values)), [len(v) for v in self.values])

    @cached_property
    def literal_value(self) -> np.ndarray:
        return np.concatenate([np.arange(len(v)) for v in self.values]).astype(np.int64)

    @cached_property
    def treatment_literal(self) -> np.ndarray:
        """(L,) bool: may this literal be a split's treatment?"""
        if self.treatments is None:
            return np.ones(self.n_literals, dtype=bool)
        ok = np.array([f in self.treatments for f in self.features], dtype=bool)
        return ok[self.literal_feature]

    @cached_property
    def na_value(self) -> np.ndarray:
        """(F,) code of each feature's "na" value (the input was not known), -1 if none."""
        return np.array([v.index("na") if "na" in v else -1 for v in self.values],
                        dtype=np.int64)

    def unknown(self, f: int) -> np.ndarray:
        """(n,) bool: units where feature `f` is "na" (the input was not known)."""
        na = int(self.na_value[f])
        return np.zeros(self.n, dtype=bool) if na < 0 else self.codes[:, f] == na

    def known(self, lit: int) -> np.ndarray:
        """(n,) bool: units where the feature of literal `lit` is known (not "na"). A split
        on that feature is judged there only: where the input is unknown (a coin recorded
        without the book, hours without activeAssetCtx) the window is in neither arm."""
        f = int(self.literal_feature[lit])
        if int(self.literal_value[lit]) == int(self.na_value[f]):  # a split on "na" itself
            return np.ones(self.n, dtype=bool)          # (search.na_literals): every window
        return ~self.unknown(f)

    def literal_name(self, lit: int) -> tuple[str, str]:
        f = int(self.literal_feature[lit])
        return self.features[f], self.values[f][int(self.literal_value[lit])]

    def literal_index(self, feature: str, value: str) -> int:
        f = self.features.index(feature)
        return int(self.offsets[f]) + self.values[f].index(value)

    def take(self, idx: np.ndarray) -> UnitSet:
        return UnitSet(self.features, self.values, self.codes[idx], self.y[idx],
                       self.hit[idx], self.ts_ms[idx], self.treatments)


def encode(lits: pd.DataFrame, features: tuple[str, ...],
           values: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Literal value strings -> codes; an unknown value is an error naming the feature. A
    categorical column (the window's literals, `quantize.compact`) is mapped through its
    categories (its values made Python objects a window at a time would be ~45 MB held
    at once at 250,000 windows). The codes are the smallest int type that holds
    every feature's value index: int8 for the signal layer's (2-5 values; int16 is ~7.5
    MB more held through the search of a 250,000-window night)."""
    out = np.empty((len(lits), len(features)),
                   dtype=small_int(max([len(values[f]) for f in features], default=1)))
    for j, name in enumerate(features):
        vals = values[name]
        lookup = {v: i for i, v in enumerate(vals)}
        col = lits[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = col.cat.categories.to_numpy(dtype=object)
            codes = col.cat.codes.to_numpy()
            mapped = np.array([lookup.get(c, -1) for c in cats] + [-1], dtype=np.int64)
            got = mapped[codes]  # a missing value's code -1 takes the last, -1
            bad = np.flatnonzero(got < 0)
            if len(bad):
                c = int(codes[bad[0]])
                _unknown(name, cats[c] if c >= 0 else np.nan, vals)
            out[:, j] = got
            continue
        try:
            out[:, j] = [lookup[v] for v in col.to_numpy(dtype=object)]
        except KeyError as exc:
            _unknown(name, exc.args[0], vals)
    return out


def _unknown(name: str, value: object, vals: tuple[str, ...]) -> NoReturn:
    raise ValueError(f"feature {name} has value {value!r}, not one of {list(vals)}") from None


def rule_mask(units: UnitSet, lits: tuple[int, ...]) -> np.ndarray:
    """Units where every literal (flat id) of a conjunction holds."""
    mask = np.ones(units.n, dtype=bool)
    for lit in lits:
        f = int(units.literal_feature[lit])
        mask &= units.codes[:, f] == int(units.literal_value[lit])
    return mask
