"""The learning window held compactly: the frame's join without a merge, the
atoms a detector at a time from a key a context, a fold's design of its own rows, the
sample's hash a slice of ids at a time. Each is held to the plain computation it replaces,
exactly."""

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lotus_core.learning import pipeline
from lotus_core.learning.atoms import (
    COLUMNS,
    CondKeys,
    _unique_rows,
    atoms_by_detector,
    lesson_atoms,
)
from lotus_core.learning.config import load_learning
from lotus_core.learning.design import one_hot
from lotus_core.learning.frame import KEEP, learning_frame
from lotus_core.learning.ids import take_ids
from lotus_core.learning.lessons import detector_units
from lotus_core.learning.quantize import compact
from lotus_core.learning.sample import kept, kept_of
from lotus_core.signals.config import load_scoring
from tests.kits.learning_kit import PLANTED, make_learning_frame

CFG = load_learning()
BASE = load_scoring().context


def _merged(events: pd.DataFrame, evals: pd.DataFrame, horizon_s: int) -> pd.DataFrame:
    """The learning frame as a merge and a sort (what `learning_frame` was)."""
    ev = evals[(evals["horizon_s"] == horizon_s) & (evals["status"] == "done")]
    ev = ev[["window_id", "net_ret_bps", "hit", "mfe_bps", "mae_bps"]].copy()
    ev["hit"] = ev["hit"].astype("float64")
    cols = [c for c in KEEP if c in events.columns]
    out = events[cols].merge(ev, on="window_id", how="inner", validate="one_to_one")
    return out.sort_values(["ts_ms", "coin", "detector_id"], kind="stable").reset_index(drop=True)


def _tables(rng: np.random.Generator, n: int, m: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"w{i}" for i in rng.permutation(n + m)[:n]]  # about half of each side matched
    events = pd.DataFrame({  # few timestamps, coins, detectors: many ties in the sort
        "window_id": pd.array(ids, dtype="str"), "ts_ms": rng.integers(0, 4, n).astype("int64"),
        "coin": pd.array(rng.choice(["BTC", "ETH"], n), dtype="str"),
        "detector_id": pd.array(rng.choice(["d1", "d2"], n), dtype="str"),
        "session": pd.array(rng.choice(["asia", "us"], n), dtype="str"), "rv_pctl": rng.random(n)})
    eids = [f"w{i}" for i in rng.permutation(n + m)[:m]]
    evals = pd.DataFrame({
        "window_id": pd.array(eids, dtype="str"), "horizon_s": rng.choice([60, 300], m),
        "status": pd.array(rng.choice(["done", "pending"], m), dtype="str"),
        "net_ret_bps": rng.normal(size=m), "hit": rng.integers(0, 2, m).astype(bool),
        "mfe_bps": rng.normal(size=m), "mae_bps": rng.normal(size=m)})
    return events, evals


def test_the_frame_is_the_merge_and_the_sort_row_for_row():
    rng = np.random.default_rng(5)
    for _ in range(60):
        events, evals = _tables(rng, int(rng.integers(1, 80)), int(rng.integers(1, 120)))
        if 300 not in set(evals["horizon_s"]):
            continue
        pd.testing.assert_frame_equal(learning_frame(events, evals, 300),
                                      _merged(events, evals, 300), check_exact=True)


def test_a_window_twice_is_refused_on_either_side():
    events, evals = _tables(np.random.default_rng(1), 20, 60)
    evals = evals.assign(horizon_s=300, status="done")
    twice = pd.concat([events, events.iloc[:1]], ignore_index=True)
    with pytest.raises(pd.errors.MergeError, match="signal_events holds a window twice"):
        learning_frame(twice, evals, 300)
    with pytest.raises(pd.errors.MergeError, match="signal_eval holds a window twice"):
        learning_frame(events, pd.concat([evals, evals.iloc[:1]], ignore_index=True), 300)


def _atoms_whole(frame: pd.DataFrame, lits: pd.DataFrame, day: str, halflife: float,
                 window: str) -> pd.DataFrame:
    """The atoms as one groupby over (detector_id, cond_key strings): the definition."""
    from datetime import date
    key = None
    for name in sorted(lits.columns):
        part = name + "=" + lits[name].astype(str)
        key = part if key is None else key + "&" + part
    age = np.array([(date.fromisoformat(day) - date.fromisoformat(d)).days
                    for d in frame["date"].astype(str)])
    df = pd.DataFrame({"detector_id": frame["detector_id"].astype(str).to_numpy(),
                       "cond_key": key.to_numpy(dtype=object),
                       "date": frame["date"].astype(str).to_numpy(),
                       "hit": frame["hit"].to_numpy(dtype=np.float64),
                       "net": frame["net_ret_bps"].to_numpy(dtype=np.float64),
                       "mfe": frame["mfe_bps"].to_numpy(dtype=np.float64),
                       "mae": frame["mae_bps"].to_numpy(dtype=np.float64),
                       "_w": 0.5 ** (age / halflife)})
    g = df.groupby(["detector_id", "cond_key"], sort=True)
    group = g.ngroup().to_numpy()
    weight = g["_w"].sum()
    out = pd.DataFrame({"support": g.size(), "weight": weight, "days": g["date"].nunique()})
    for name, col in (("hit_rate", "hit"), ("mean_net_bps", "net"), ("mfe_bps", "mfe"),
                      ("mae_bps", "mae")):
        out[name] = (df[col] * df["_w"]).groupby(group, sort=True).sum().to_numpy() \
            / weight.to_numpy()
    det = out.index.get_level_values("detector_id")
    for lift, name, col in (("lift_hit", "hit_rate", "hit"),
                            ("lift_net_bps", "mean_net_bps", "net"),
                            ("lift_mfe_bps", "mfe_bps", "mfe"), ("lift_mae_bps", "mae_bps", "mae")):
        base = {d: float(np.average(x[col], weights=x["_w"])) for d, x in df.groupby("detector_id")}
        out[lift] = out[name].to_numpy() - np.array([base[d] for d in det])
    daily = df.groupby([group, df["date"]], sort=True)["net"].mean().groupby(level=0)
    out["stability"] = daily.apply(
        lambda x: 0.0 if len(x) < 2 or float(x.std(ddof=1)) == 0
        else float(x.mean() / float(x.std(ddof=1)))).to_numpy()
    out = out.reset_index()
    out["cond_hash"] = [hashlib.sha256(k.encode()).hexdigest()[:16] for k in out["cond_key"]]
    out["window"] = window
    out[["support", "days"]] = out[["support", "days"]].astype(np.int64)
    for c in ("detector_id", "cond_key", "cond_hash", "window"):
        out[c] = out[c].astype("str")
    return out[COLUMNS]


def test_the_atoms_a_detector_at_a_time_are_the_whole_groupbys():
    frame = make_learning_frame(days=3, seed=4, windows_per_day=1500)
    tw = pipeline.training_window(frame, CFG, BASE)
    day = sorted(frame["date"].astype(str).unique())[-1]
    want = _atoms_whole(tw.frame, tw.lits, day, 2.0, tw.label)
    got = lesson_atoms(tw.frame, tw.lits, day, 2.0, tw.label)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert (want["days"] >= 2).sum() > 5  # the contexts seen on several days too
    few = tw.lits[sorted(tw.lits.columns)[:3]]  # a coarse context: most seen on every day
    coarse = _atoms_whole(tw.frame, few, day, 2.0, tw.label)
    assert (coarse["days"] >= 2).mean() > 0.5 and (coarse["stability"] != 0).sum() > 20
    pd.testing.assert_frame_equal(lesson_atoms(tw.frame, few, day, 2.0, tw.label), coarse,
                                  check_exact=True)
    parts = list(atoms_by_detector(tw.frame, tw.lits, day, 2.0, tw.label))
    assert len(parts) >= tw.frame["detector_id"].nunique() > 1
    assert all(p["detector_id"].nunique() == 1 for p in parts)
    # the literals held as categoricals give the same atoms, a missing value its own key
    lits = compact(tw.lits)
    pd.testing.assert_frame_equal(lesson_atoms(tw.frame, lits, day, 2.0, tw.label), want,
                                  check_exact=True)
    holed = tw.lits.copy()
    holed.loc[holed.index[:5], "regime"] = None
    keys = lesson_atoms(tw.frame, holed, day, 2.0, tw.label)["cond_key"]
    assert keys.str.contains("regime=nan").sum() >= 1


def test_compact_literals_keep_every_value_even_one_the_list_does_not_name():
    lits = pd.DataFrame({"regime": ["trend", "brand_new", "trend"], "dir": ["long", "short",
                                                                            "long"]})
    out = compact(lits)
    assert all(isinstance(t, pd.CategoricalDtype) for t in out.dtypes)
    pd.testing.assert_frame_equal(out.astype(object), lits.astype(object))


def test_a_folds_design_is_the_whole_designs_rows():
    frame = make_learning_frame(days=2, seed=9, windows_per_day=800)
    tw = pipeline.training_window(frame, CFG, BASE)
    m = (tw.frame["detector_id"] == PLANTED).to_numpy()
    units = detector_units(tw.frame[m], tw.lits[m], tw.quantizer)
    rows = np.sort(np.random.default_rng(2).choice(units.n, units.n // 3, replace=False))
    for f in (None, 0, len(units.features) - 1):
        whole, mine = one_hot(units, drop=(f,))[rows], one_hot(units, drop=(f,),
                                                                      rows=rows)
        assert (whole != mine).nnz == 0 and (whole.indices == mine.indices).all()
        assert (whole.indptr == mine.indptr).all()


def test_the_hash_a_slice_of_ids_at_a_time_is_the_whole_hash():
    ids = np.array([f"BTC-d{i % 5}-{i}" for i in range(140_000)], dtype=object)  # 3 slices
    group = pa.table({"window_id": pa.array(ids, type=pa.string())})
    for rate in (0.2, 0.7, 1.0):
        assert (kept_of(group, rate) == kept(ids, rate)).all()
    assert len(kept_of(group.slice(0, 0), 0.5)) == 0


@pytest.mark.parametrize("sizes", [[1000], [1, 999], [300, 0, 200, 500], [10] * 100])
def test_ids_taken_chunk_by_chunk_are_the_whole_arrays_take(sizes):
    ids = [f"BTC-{i}" for i in range(1000)]
    cuts = np.cumsum([0, *sizes])
    chunked = pa.chunked_array([pa.array(ids[a:b], type=pa.large_string())
                                for a, b in zip(cuts[:-1], cuts[1:], strict=True)],
                               type=pa.large_string())
    rng = np.random.default_rng(len(sizes))
    for rows in (rng.integers(0, 1000, 700), np.arange(1000)[::-1], np.array([7, 7, 3]),
                 np.zeros(0, dtype=np.int64)):
        got = take_ids(chunked, rows)
        assert isinstance(got, pa.Array) and got.to_pylist() == [ids[r] for r in rows]


def test_ids_joined_by_their_hashes_fall_back_to_the_strings_on_a_collision(monkeypatch):
    import lotus_core.learning.frame as frame_module
    mine = pd.Series(["a", "b", "c", "d"], dtype="str")
    theirs = pd.Series(["c", "x", "a"], dtype="str")
    want = np.array([2, -1, 0, -1])
    assert (frame_module.join_ids(mine, theirs) == want).all()
    # some of their rows alone (`among`): positions among those rows, the others not joined
    more = pd.Series(["b", "c", "q", "x", "a"], dtype="str")
    assert (frame_module.join_ids(mine, more, among=np.array([1, 3, 4])) == want).all()
    # every id one hash: repeats on both sides
    monkeypatch.setattr(frame_module, "id_hashes",
                        lambda ids: np.zeros(len(ids), dtype=np.uint64))
    assert (frame_module.join_ids(mine, theirs) == want).all()
    # "b" meets "x"'s hash, no repeat on either side: the compared strings catch it
    h = {"a": 1, "b": 5, "c": 3, "d": 7, "x": 5}
    monkeypatch.setattr(frame_module, "id_hashes",
                        lambda ids: np.array([h[i] for i in ids], dtype=np.uint64))
    assert (frame_module.join_ids(mine, theirs) == want).all()


@pytest.mark.parametrize("odd", ["h", "h&x"])  # a value another starts with; one holding "&"
def test_cond_keys_sort_as_their_strings(odd):
    rng = np.random.default_rng(3)
    values = ["hi", "high", "h!", " h", odd]
    lits = pd.DataFrame({name: rng.choice(values, 400) for name in ("b", "a", "c")})
    keys = CondKeys(lits)
    strings = ["&".join(f"{n}={lits[n].iloc[i]}" for n in ("a", "b", "c")) for i in range(400)]
    distinct = sorted(set(strings))
    assert keys.text(np.arange(len(distinct))) == distinct
    assert [distinct[g] for g in keys.group] == strings


@pytest.mark.parametrize("width,radix", [(1, 1), (6, 4), (15, 5), (41, 3)])
def test_distinct_rows_by_their_numbers_are_uniques_rows(width, radix):
    """`CondKeys` numbers each window's context by its codes' mixed-radix number; the
    distinct rows and each window's row number are `np.unique(axis=0)`'s (41 features of 3
    values: too many for an int64 number, `np.unique(axis=0)` itself)."""
    rng = np.random.default_rng(width)
    codes = [rng.integers(0, radix, 2_000).astype(np.int32) for _ in range(width)]
    got, inverse = _unique_rows(codes, [radix] * width)
    want, want_inverse = np.unique(np.column_stack(codes).astype(np.int64), axis=0,
                                   return_inverse=True)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(inverse, want_inverse.reshape(-1))
