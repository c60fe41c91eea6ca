"""A fitted `DsiModel` as a lake row, and the per-coin sums of a day's annotation as a
table: what lets the DSI be fitted once a day and applied one coin at a time in separate
runs (`dsi_model` daily, `dsi_annotations` and `dsi_coin_stats` by day x
coin, `dsi_experts` daily from the coins' sums).

The model row holds the model pickled (its experts carry scikit-learn estimators:
`lotus_core.store.pickled`, sets sorted, sha-checked). The fit's wall-clock seconds are
zeroed in the stored copy (they are run metadata), so a re-fit on the same history stores
the same bytes in any process.

The coin table holds `DayTally`'s sums for one coin, every float as the tally adds it, so
merging the coins' tables in coin order gives the tally of the coins annotated in one
process, to the bit (the co-moments merge as `Comoments.add` merges a block).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pandera.pandas as pa

from lotus_core.comoments import Comoments
from lotus_core.dsi.day import DayTally
from lotus_core.dsi.model import DsiModel
from lotus_core.dsi.reliability import Counts
from lotus_core.store.pickled import loads, object_row

DSI_MODEL_SCHEMA = pa.DataFrameSchema(
    {"history_days": pa.Column(str), "experts": pa.Column("int64", pa.Check.ge(0)),
     "sha256": pa.Column(str), "model": pa.Column(object)},
    strict=True, ordered=True, coerce=False, name="dsi_model")
"""`dsi_model`: one row, the day's fitted model (pickled) and what it was fitted on."""

_INT = ("trials", "successes", "directed", "dir_agree", "flag_frames", "episodes",
        "rows", "z_n")
DSI_COIN_STATS_SCHEMA = pa.DataFrameSchema(
    {"coin": pa.Column(str), "expert_id": pa.Column(str),
     **{c: pa.Column("int64", pa.Check.ge(0)) for c in _INT[:6]},
     "contribution": pa.Column("float64"),
     "rows": pa.Column("int64", pa.Check.ge(0)), "evidence": pa.Column("float64"),
     "confirm": pa.Column("float64"), "z_n": pa.Column("int64", pa.Check.ge(0)),
     "z_mean": pa.Column("float64", nullable=True), "z_cross": pa.Column(object)},
    strict=True, ordered=True, coerce=False, name="dsi_coin_stats")
"""`dsi_coin_stats`: a coin's `DayTally` sums, one row per active expert (one row with an
empty `expert_id` when none is active); the coin's rows, evidence, confirm and z count
repeated on each."""


def model_row(model: DsiModel) -> pd.DataFrame:
    """The one-row table `dsi_model` stores."""
    bare = replace(model, experts=[replace(st, fit_seconds=0.0) for st in model.experts])
    return object_row("model", bare, history_days=json.dumps(model.history_days),
                      experts=len(model.experts))


def model_of(table: pd.DataFrame, where: str) -> DsiModel:
    """The model of a `dsi_model` row (`where` names it in an error)."""
    return loads(table, "model", "dsi_model", where, DsiModel)


def coin_stats(tally: DayTally, coin: str) -> pd.DataFrame:
    """`tally` (one coin's annotation) as its `dsi_coin_stats` rows."""
    z = tally.z
    ids = list(tally.experts) or [""]
    k = len(tally.experts)
    rows = []
    for i, eid in enumerate(ids):
        d = tally.experts.get(eid)
        c = d.counts if d is not None else Counts()
        rows.append({
            "coin": coin, "expert_id": eid, "trials": c.trials, "successes": c.successes,
            "directed": c.directed, "dir_agree": c.dir_agree,
            "flag_frames": d.flag_frames if d else 0, "episodes": d.episodes if d else 0,
            "contribution": d.contribution if d else 0.0,
            "rows": tally.rows, "evidence": tally.evidence, "confirm": tally.confirm,
            "z_n": z.n,
            "z_mean": float(z.mean[i]) if z.mean is not None and i < k else np.nan,
            # float64 arrays, empty too: every coin's file has the same list<double> column
            "z_cross": (np.asarray(z.cross[i], dtype="float64")
                        if z.cross is not None and i < k else np.zeros(0, dtype="float64")),
        })
    out = pd.DataFrame(rows)
    for col in _INT:
        out[col] = out[col].astype("int64")
    for col in ("contribution", "evidence", "confirm", "z_mean"):
        out[col] = out[col].astype("float64")
    out["z_cross"] = pd.Series(list(out["z_cross"]), dtype=object)
    return DSI_COIN_STATS_SCHEMA.validate(out)


def add_coin_stats(tally: DayTally, table: pd.DataFrame) -> None:
    """Add one coin's `dsi_coin_stats` rows to `tally`, as `DayTally.add` added the coin."""
    if len(table) == 0:
        return
    first = table.iloc[0]
    for row in table.itertuples(index=False):
        d = tally.experts.get(str(row.expert_id))
        if d is None:
            continue  # the day's part row (no active expert)
        d.counts = d.counts + Counts(int(row.trials), int(row.successes), int(row.directed),
                                     int(row.dir_agree))
        d.flag_frames += int(row.flag_frames)
        d.episodes += int(row.episodes)
        d.contribution += float(row.contribution)
    n = int(first["z_n"])
    if n and tally.experts:
        ids = list(tally.experts)
        by_id = table.set_index("expert_id")
        tally.z.merge(Comoments(
            n, by_id.loc[ids, "z_mean"].to_numpy(dtype="float64"),
            np.array([list(v) for v in by_id.loc[ids, "z_cross"]], dtype="float64")))
    tally.rows += int(first["rows"])
    tally.evidence += float(first["evidence"])
    tally.confirm += float(first["confirm"])
