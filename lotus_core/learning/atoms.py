"""lesson_atoms: outcome aggregates per (detector, full quantised context), EWMA-decayed.

A window's weight is 0.5 ** (age_days / halflife) within the training window, so old days
fade instead of falling off a cliff. The cond_key is canonical (literal names sorted) and
readable; `cond_hash` (sha256, 16 hex) is the compact join key. Lifts are against the
detector's own weighted baseline over the same window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date

import numpy as np
import pandas as pd

from lotus_core.arrays import small_int
from lotus_core.columns import STR
from lotus_core.malloc import release_free_heap

PART_ROWS = 5_000
"""Atoms a part of `atoms_by_detector` holds at most: each atom carries the night's ~800-byte
quantiser as the lake writes it (`pipeline.with_quantizer`), so a part of the lake's 25,000-row
slice was ~60 MB more to validate and convert than one of 5,000 (the lake still writes
row groups of SLICE_ROWS)."""
COLUMNS = ["detector_id", "cond_key", "cond_hash", "support", "weight", "days", "hit_rate",
           "mean_net_bps", "mfe_bps", "mae_bps", "lift_hit", "lift_net_bps", "lift_mfe_bps",
           "lift_mae_bps", "stability", "window"]


def _wmean(df: pd.DataFrame, col: str, group: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The weighted mean of `col` per atom: `group` is each window's atom (its number in
    the atoms' sorted order), `weight` each atom's summed weight. Grouped by that number,
    not by the (detector_id, cond_key) strings again: the same sums of the same rows in the
    same order, without a string index per column (~60 MB each at 240,000 atoms)."""
    return (df[col] * df["_w"]).groupby(group, sort=True).sum().to_numpy() / weight


def lesson_atoms(frame: pd.DataFrame, lits: pd.DataFrame, day: str, halflife_days: float,
                 window: str) -> pd.DataFrame:
    """One row per (detector_id, cond_key) seen in the window (see the module docstring)."""
    parts = list(atoms_by_detector(frame, lits, day, halflife_days, window))
    return pd.concat(parts, ignore_index=True) if parts else empty_atoms()


def atoms_by_detector(frame: pd.DataFrame, lits: pd.DataFrame, day: str, halflife_days: float,
                      window: str) -> Iterator[pd.DataFrame]:
    """`lesson_atoms` in parts of at most `PART_ROWS` atoms, in its order (the
    atoms are nearly a window each, ~240,000 rows with their cond_key strings on a
    250,000-window night, so the step never holds them, or the strings it groups by, all
    at once). Every figure of an atom is its detector's windows' (its baseline and lifts too),
    so a detector's atoms are figured from its rows alone; their key strings are made a
    part at a time."""
    if frame.empty:
        return
    # the detector and the day as categories, the window's strings let go (a string a
    # window, ~9 MB of a 250,000-window night's, held through every part's write)
    frame = frame.astype({c: "category" for c in ("detector_id", "date") if c in frame})
    dets = frame["detector_id"]
    for det in sorted(str(d) for d in dets.unique()):
        m = (dets == det).to_numpy(dtype=bool)
        # a detector's rows of these columns alone are copied
        yield from _detector_atoms(str(det), frame.loc[m, list(_FRAME_COLUMNS)], lits[m], day,
                                   halflife_days, window)
        release_free_heap()  # a detector's freed pages, before the next one's


WINDOW_COLUMNS = ("detector_id", "date")
"""The training window's held columns (`pipeline.window_from_days`) the atoms read."""

_FRAME_COLUMNS = ("date", "hit", "net_ret_bps", "mfe_bps", "mae_bps")
"""The frame's columns an atom is figured from (a detector's rows of the window's ids and
coins would be copied for nothing: ~8 MB of a detector's ~80,000 windows)."""


def _detector_atoms(det: str, frame: pd.DataFrame, lits: pd.DataFrame, day: str,
                    halflife_days: float, window: str) -> Iterator[pd.DataFrame]:
    """The atoms of one detector's windows: grouped by each window's context's number in
    the cond_keys' sorted order (`CondKeys`), the same groups in the same order as grouping
    by the key strings, with no key string a window."""
    today = date.fromisoformat(day)
    # a window's day a number in the days' order: grouped and counted as the strings are
    day_of, days = pd.factorize(frame["date"].astype(str), sort=True, use_na_sentinel=False)
    age = np.array([(today - date.fromisoformat(str(d))).days for d in days])[day_of]
    keys = CondKeys(lits)
    group = keys.group
    df = pd.DataFrame({
        "date": day_of,
        "hit": frame["hit"].to_numpy(dtype=np.float64),
        "net": frame["net_ret_bps"].to_numpy(dtype=np.float64),
        "mfe": frame["mfe_bps"].to_numpy(dtype=np.float64),
        "mae": frame["mae_bps"].to_numpy(dtype=np.float64),
        "_w": 0.5 ** (age / halflife_days),
    })
    del frame, lits, age, day_of  # the detector's copied rows: let go before its writes
    g = df.groupby(group, sort=True)
    weight = g["_w"].sum()
    out = pd.DataFrame({"support": g.size(), "weight": weight, "days": g["date"].nunique()})
    for name, col in (("hit_rate", "hit"), ("mean_net_bps", "net"), ("mfe_bps", "mfe"),
                      ("mae_bps", "mae")):
        out[name] = _wmean(df, col, group, weight.to_numpy())
    for lift, name, col in (("lift_hit", "hit_rate", "hit"),
                            ("lift_net_bps", "mean_net_bps", "net"),
                            ("lift_mfe_bps", "mfe_bps", "mfe"), ("lift_mae_bps", "mae_bps", "mae")):
        out[lift] = out[name].to_numpy() - float(np.average(df[col], weights=df["_w"]))
    out["support"] = out["support"].astype(np.int64)
    out["days"] = out["days"].astype(np.int64)
    out["stability"] = _stability(df, group, out["days"].to_numpy())
    del df, g
    for lo in range(0, len(out), PART_ROWS):
        part = out.iloc[lo:lo + PART_ROWS].reset_index(drop=True)
        cond = keys.text(out.index.to_numpy()[lo:lo + PART_ROWS])
        part["detector_id"] = det
        part["cond_key"] = cond
        part["cond_hash"] = [hashlib.sha256(k.encode()).hexdigest()[:16] for k in cond]
        part["window"] = window
        for c in ("detector_id", "cond_key", "cond_hash", "window"):
            part[c] = part[c].astype(STR)
        yield part[COLUMNS]


def _stability(df: pd.DataFrame, group: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Each atom's mean / std of its daily mean net returns (`_ratio`), figured only for
    the atoms seen on two days or more: the others' is 0, and an atom is nearly a window
    (on a first night every one), so grouping every window by (atom, day) and a Python call
    an atom would be most of a detector's time and ~7 MB of its ~80,000 windows.
    The same rows in the same order: the same values."""
    out = np.zeros(len(days), dtype=np.float64)
    many = days[group] >= 2
    if many.any():
        rows = df.loc[many, ["date", "net"]]
        daily = rows.groupby([group[many], rows["date"]], sort=True)["net"].mean()
        ratio = daily.groupby(level=0).apply(_ratio)
        out[ratio.index.to_numpy()] = ratio.to_numpy()
    return out


class CondKeys:
    """The canonical cond_keys of a detector's windows (features' literals, names sorted,
    `name=value` joined by `&`) as codes: `group` is each window's key's number in the keys'
    sorted order, `text` makes the strings of some of them. Sorted without the strings: two
    keys first differ at a feature's value, and (values holding no `&`) compare as that
    feature's `name=value&` texts do (`name=value` for the last feature), so the keys sort as
    the tuples of those texts' ranks (a key string a window, built by ~20
    column-wide concatenations, would be ~130 MB of a 250,000-window night). A value holding `&`
    sorts by the strings themselves."""

    def __init__(self, lits: pd.DataFrame) -> None:
        names = sorted(lits.columns)
        codes, self.labels = [], []
        for name in names:
            cat = pd.Categorical(lits[name])
            labels = [f"{name}={v}" for v in cat.categories] + [f"{name}=nan"]
            c = cat.codes.astype(small_int(len(labels)))
            c[c < 0] = len(labels) - 1  # a missing value: "nan", as str gave it
            codes.append(c)
            self.labels.append(labels)
        if not names:
            raise ValueError("cond keys need at least one quantised feature")
        uniq, inverse = _unique_rows(codes, [len(labels) for labels in self.labels])
        if any("&" in label.split("=", 1)[1] for labels in self.labels for label in labels):
            texts = np.array(["&".join(self.labels[j][c] for j, c in enumerate(row))
                              for row in uniq], dtype=object)
            order = np.argsort(texts, kind="stable")
        else:
            last = len(names) - 1
            ranks = []
            for j, labels in enumerate(self.labels):
                texts = np.array([t + ("&" if j < last else "") for t in labels], dtype=object)
                rank = np.empty(len(texts), dtype=small_int(len(texts)))
                rank[np.argsort(texts, kind="stable")] = np.arange(len(texts))
                ranks.append(rank[uniq[:, j]])
            order = np.lexsort(ranks[::-1])  # the first feature's rank the primary key
        self.rows = uniq[order]  # each key's codes, in the keys' order
        place = np.empty(len(order), dtype=np.int64)
        place[order] = np.arange(len(order))
        self.group = place[inverse.reshape(-1)]

    def text(self, keys: np.ndarray) -> list[str]:
        """The strings of the keys numbered `keys`."""
        return ["&".join(self.labels[j][c] for j, c in enumerate(row)) for row in self.rows[keys]]


def _unique_rows(codes: list[np.ndarray], radix: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct rows of the codes' columns in lexicographic order (each column's codes
    in the smallest type of its radix), each row's number among them): `np.unique(axis=0)`'s,
    found through each row's mixed-radix number (codes below their radix: the numbers sort as
    the rows do), without the rows x F int64 matrix and the sort's copies of it (~50 MB of a
    detector's ~80,000 windows). Radices too many for an int64 number:
    `np.unique(axis=0)` itself."""
    if float(np.prod(np.array(radix, dtype=np.float64))) >= 2.0 ** 62:
        return np.unique(np.column_stack(codes).astype(np.int64), axis=0, return_inverse=True)
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for c, r in zip(codes, radix, strict=True):
        key *= r
        key += c
    uniq, inverse = np.unique(key, return_inverse=True)
    rows = np.empty((len(uniq), len(codes)), dtype=small_int(max(radix)))
    for j in range(len(codes) - 1, -1, -1):
        rows[:, j] = uniq % radix[j]
        uniq //= radix[j]
    return rows, inverse.reshape(-1)


def _ratio(x: pd.Series) -> float:
    """mean / std of the daily means (0 with fewer than two days)."""
    if len(x) < 2:
        return 0.0
    sd = float(x.std(ddof=1))
    return float(x.mean() / sd) if sd > 0 else 0.0


def empty_atoms() -> pd.DataFrame:
    """The atoms table with no row (its columns and types)."""
    out = pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
    for c in ("detector_id", "cond_key", "cond_hash", "window"):
        out[c] = out[c].astype(STR)
    for c in ("support", "days"):
        out[c] = out[c].astype(np.int64)
    return out
