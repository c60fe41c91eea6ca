"""A day annotated coin by coin (what `dsi_assets` does) against the day annotated
whole, and the history read with only the columns the experts declare.

Tolerances: annotations within 1e-12 relative (numpy may round a vector loop's body and
tail differently when a coin's arrays are their own), the expert table within 1e-9 (its
sums and the redundancy's comoments are added coin by coin, in another order)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.comoments import Comoments
from lotus_core.dsi import (
    DayTally,
    annotate,
    annotate_by_coin,
    expert_table,
    expert_timings,
    fit_dsi,
    load_registry,
    tally_table,
    tally_timings,
    tape_columns,
)
from lotus_core.dsi.day import empty_annotations
from lotus_core.dsi.grammar import coin_slices
from lotus_core.microtape.schema import MICROTAPE_COLUMNS
from tests.core.dsi.conftest import DAY
from tests.core.dsi.stream_kit import registry_with


@pytest.fixture(scope="module")
def model(fitted):
    return fitted[0]


def _by_coin(today: pd.DataFrame) -> list[pd.DataFrame]:
    return [today.iloc[lo:hi].reset_index(drop=True) for lo, hi in coin_slices(today)]


def test_coin_by_coin_gives_the_whole_days_rows_and_table(tapes, model):
    _, today = tapes
    parts = _by_coin(today)
    assert len(parts) >= 2
    whole = annotate(today, model)
    tally = DayTally(model)
    ann = pd.concat(list(annotate_by_coin(parts, model, tally)), ignore_index=True)
    pd.testing.assert_frame_equal(ann, whole.annotations, check_exact=False, rtol=1e-12)
    table = tally_table(DAY, tally)
    assert (table["day_episodes"] > 0).any() and (table["redundancy"] > 0).any()
    pd.testing.assert_frame_equal(table, expert_table(DAY, today, model, whole),
                                  check_exact=False, rtol=1e-9)
    assert tally.rows == len(today)
    assert tally.metadata()["mx_evidence_mean"] == pytest.approx(
        float(whole.annotations["mx_evidence"].mean()), rel=1e-12)
    assert set(tally_timings(tally)) == set(expert_timings(model, whole))
    assert list(empty_annotations(today, model).columns) == list(whole.annotations.columns)


def test_comoments_merged_by_part_are_the_pooled_correlation():
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5_000, 4)) @ rng.normal(size=(4, 4))
    m[:, 3] = 0.0  # a silent expert: no correlation, not NaN
    pooled = Comoments()
    pooled.add(m)
    merged = Comoments()
    for part in np.array_split(m, [7, 1_000, 1_001, 4_000]):
        merged.add(part)
    merged.add(m[:0])
    ids = ["a", "b", "c", "d"]
    expect = np.abs(np.corrcoef(m[:, :3], rowvar=False))
    np.fill_diagonal(expect, 0.0)
    got = merged.max_abs_corr(ids)
    assert got["d"] == 0.0
    np.testing.assert_allclose([got[i] for i in ids[:3]], expect.max(axis=1), rtol=1e-12)
    assert pooled.max_abs_corr(ids) == pytest.approx(got, rel=1e-12)


def test_the_declared_columns_are_all_that_fitting_and_annotating_read(tapes):
    """Fitted and annotated with only `tape_columns`, every value is the same as with the
    whole tape (a column an expert reads and does not declare would fail here)."""
    hist, today = tapes
    cols = tape_columns(load_registry())
    assert set(cols) < set(MICROTAPE_COLUMNS) and len(cols) < len(MICROTAPE_COLUMNS)
    full = fit_dsi(hist, registry=load_registry())
    pruned = fit_dsi(hist[[*cols, "date"]], registry=load_registry())
    a, b = annotate(today, full), annotate(today[cols], pruned)
    pd.testing.assert_frame_equal(a.annotations, b.annotations)
    pd.testing.assert_frame_equal(expert_table(DAY, today, full, a),
                                  expert_table(DAY, today[cols], pruned, b))


def test_a_grammar_reading_another_column_declares_it():
    """A registry whose grammar derives from a column the packaged experts never read: the
    column is read (the step's reads follow the registry, not a list in code)."""
    other = next(c for c in MICROTAPE_COLUMNS if c not in tape_columns(load_registry()))

    def edit(data):
        data["experts"][0]["spec"]["derive"]["extra"] = {
            "op": "roll_mean", "col": other, "window": 3, "min_periods": 1}

    cols = tape_columns(registry_with(edit))
    assert other in cols and cols == [c for c in MICROTAPE_COLUMNS if c in cols]
