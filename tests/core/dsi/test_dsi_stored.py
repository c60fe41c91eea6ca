"""The DSI fitted once and applied coin by coin in separate runs: the
stored model gives the same annotations as the fitted one, and the coins' stored sums,
merged in coin order, give exactly the tally of the coins annotated in one process (the
sums and co-moments are added in the same order: bit-equal, no tolerance)."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pandas as pd
import pytest

from lotus_core.dsi import DayTally, annotate, annotate_by_coin, fit_dsi, load_registry, tally_table
from lotus_core.dsi.grammar import coin_slices
from lotus_core.dsi.model import _FITTED
from lotus_core.dsi.stored import add_coin_stats, coin_stats, model_of, model_row
from lotus_core.store.lake import Lake
from lotus_core.store.pickled import StoredObjectError
from tests.core.dsi.conftest import DAY


@pytest.fixture(scope="module")
def model(fitted):
    return fitted[0]


def test_the_stored_model_annotates_as_the_fitted_one(tapes, model, tmp_path):
    _, today = tapes
    lake = Lake(tmp_path)
    lake.write("dsi_model", DAY, model_row(model))
    stored = model_of(lake.read("dsi_model", DAY), DAY)
    pd.testing.assert_frame_equal(annotate(today, stored).annotations,
                                  annotate(today, model).annotations, check_exact=True)
    # the fit's wall-clock seconds are not stored: a re-fit on the same history stores the
    # same bytes (a re-run of dsi_model rewrites the same row)
    assert all(st.fit_seconds == 0.0 for st in stored.experts)
    hist, _ = tapes
    again = fit_dsi(hist, registry=load_registry())  # fitted anew
    assert model_row(again)["model"].iloc[0] == model_row(model)["model"].iloc[0]


def test_a_kept_fit_of_the_same_history_is_reused_and_a_changed_one_fitted(tapes, model):
    """`fit_dsi(reuse=True)` (the live night context) takes the process's kept fit of the
    same content: a copy that annotates as the fitted model (the stored model's, as
    `model_of` reads it back: the same bytes); one value changed is another fit."""
    hist, today = tapes
    registry = load_registry()
    fit_dsi(hist, registry=registry)  # kept
    reused = [fit_dsi(hist, registry=registry, reuse=True) for _ in range(2)]
    assert reused[0] is not reused[1] and model not in reused
    stored = model_row(model)["model"].iloc[0]
    again = [model_row(model_of(model_row(m), DAY))["model"].iloc[0] for m in reused]
    assert again == [model_row(model_of(model_row(model), DAY))["model"].iloc[0]] * 2
    assert all(st.fit_seconds > 0 for st in reused[0].experts)  # not a stored (zeroed) row's
    pd.testing.assert_frame_equal(annotate(today, reused[0]).annotations,
                                  annotate(today, model).annotations, check_exact=True)
    keys = set(_FITTED)
    changed = hist.copy()
    col = next(c for c in changed.columns if changed[c].dtype.kind == "f"
               and changed[c].notna().any())
    at = changed.index[changed[col].notna()][0]
    changed.loc[at, col] = changed.loc[at, col] + 1.0
    fit_dsi(changed, registry=registry, reuse=True)
    assert len(set(_FITTED) - keys) == 1  # a new fit, kept under its own content
    assert stored == model_row(fit_dsi(hist, registry=registry))["model"].iloc[0]


def test_a_torn_or_foreign_model_row_is_refused_naming_it(model):
    row = model_row(model)
    torn = row.assign(model=[row["model"].iloc[0][:-8]])
    with pytest.raises(StoredObjectError, match=f"dsi_model for {DAY}.*sha256"):
        model_of(torn, DAY)
    with pytest.raises(StoredObjectError, match="one row expected, got 0"):
        model_of(row.iloc[:0], DAY)
    other = pickle.dumps({"not": "a model"})
    foreign = row.assign(model=[other], sha256=[hashlib.sha256(other).hexdigest()])
    with pytest.raises(StoredObjectError, match="holds a dict"):
        model_of(foreign, DAY)


def test_the_coins_stored_sums_merge_to_the_one_process_tally(tapes, model, tmp_path):
    _, today = tapes
    parts = [today.iloc[lo:hi].reset_index(drop=True) for lo, hi in coin_slices(today)]
    assert len(parts) >= 2
    one = DayTally(model)  # every coin in one process, as before
    for _ in annotate_by_coin(parts, model, one):
        pass
    lake = Lake(tmp_path)
    for part in parts:  # a run per coin, each its own tally, written to its coin file
        coin = str(part["coin"].iloc[0])
        own = DayTally(model)
        for _ in annotate_by_coin([part], model, own):
            pass
        lake.write("dsi_coin_stats", DAY, coin_stats(own, coin), coin=coin)
    stats = lake.read("dsi_coin_stats", DAY)
    merged = DayTally(model)
    for coin in pd.unique(stats["coin"]):
        add_coin_stats(merged, stats[stats["coin"] == coin])
    pd.testing.assert_frame_equal(tally_table(DAY, merged), tally_table(DAY, one),
                                  check_exact=True)
    assert merged.metadata() == one.metadata()
    assert (tally_table(DAY, merged)["redundancy"] > 0).any()


def test_a_coin_with_no_frames_stores_an_empty_co_moment(model, tapes):
    _, today = tapes
    empty = DayTally(model)
    for _ in annotate_by_coin([today.iloc[:0]], model, empty):
        pass
    table = coin_stats(empty, "XYZ")
    assert (table["z_n"] == 0).all() and (table["rows"] == 0).all()
    merged = DayTally(model)
    add_coin_stats(merged, table)
    assert merged.rows == 0 and merged.z.n == 0


def test_the_stored_model_is_the_same_bytes_in_any_process(tmp_path):
    """The in-process run and a celery worker store the same row: a set's order follows the
    process's hash seed (pydantic keeps its fields set in one), so sets are pickled sorted."""
    import os
    import subprocess
    import sys

    code = ("import sys\n"
            "from pathlib import Path\n"
            "from lotus_core.feed.parse import parse_recording\n"
            "from lotus_core.microtape.build import build_microtape\n"
            "from lotus_core.dsi import fit_dsi, load_registry\n"
            "from lotus_core.dsi.stored import model_row\n"
            "from tests.core.dsi.conftest import FIXTURES, HIST_DAY\n"
            "tape = build_microtape(parse_recording(FIXTURES / f'{HIST_DAY}.jsonl.gz'))\n"
            "row = model_row(fit_dsi(tape.assign(date=HIST_DAY), registry=load_registry()))\n"
            "sys.stdout.write(row['sha256'].iloc[0])\n")
    shas = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": seed},
                           cwd=Path(__file__).resolve().parents[3]).stdout
            for seed in ("1", "2")]
    assert len(shas[0]) == 64 and shas[0] == shas[1]
