"""DsiStream against `annotate`: the helpers the equality tests of test_dsi.py and
test_dsi_grammar.py share (push a day row by row, compare every column, edit the registry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import yaml

from lotus_core.dsi import DsiStream, Registry, parse_registry
from lotus_core.dsi.registry import default_registry_text


def stream(model, frames: pd.DataFrame, rows: list[dict] | None = None) -> pd.DataFrame:
    """Push frames' rows in (ts_ms, coin) order; the annotations back in frames' order."""
    order = frames.sort_values(["ts_ms", "coin"], kind="stable")
    st = DsiStream(model)
    out = [st.push(r) for r in (rows if rows is not None else order.to_dict("records"))]
    got = pd.DataFrame(out, index=order.index)
    return got.loc[frames.index].reset_index(drop=True)


def compare(batch: pd.DataFrame, got: pd.DataFrame) -> dict[str, float]:
    """Assert equal (floats within 1e-9 relative, 1e-12 absolute near 0, NaN where NaN;
    everything else exact); the worst relative error per float column."""
    assert list(got.columns) == list(batch.columns)
    assert len(got) == len(batch)
    worst = {}
    for c in batch.columns:
        a, b = batch[c].to_numpy(), got[c].to_numpy()
        if a.dtype.kind == "f":
            b = b.astype("float64")
            assert np.array_equal(np.isnan(a), np.isnan(b)), c
            ok = ~np.isnan(a)
            err = np.abs(a[ok] - b[ok])
            assert np.all(err <= np.maximum(1e-9 * np.abs(a[ok]), 1e-12)), c
            worst[c] = float((err / np.maximum(np.abs(a[ok]), 1e-12)).max(initial=0.0))
        elif a.dtype.kind in "iu":
            assert b.dtype.kind in "iu", c  # ints stay ints
            assert np.array_equal(a, b), c
        else:
            assert list(a) == list(b), c
    return worst


def registry_with(edit: Callable[[dict[str, Any]], None]) -> Registry:
    """The default registry after `edit` of its YAML data."""
    data = yaml.safe_load(default_registry_text())
    edit(data)
    return parse_registry(data)
