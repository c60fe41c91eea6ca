"""The bred detectors' live step (`BredStream`, lotus_core/breeding/compile.py) equals
their batch (`bred_windows`) on whole days: window ids, detectors, directions and horizons
exactly, strengths within 1e-9 relative (the same float operations, row by row)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.breeding import BredSpec, Term
from lotus_core.breeding.compile import BredStream, bred_windows
from lotus_core.signals import ids
from tests.core.breeding.tape import LIVE_SPECS, tape

RTOL = 1e-9

SPECS = LIVE_SPECS


def _frames(seed: int) -> pd.DataFrame:
    """Two coins with holes: NaN inputs (a missing book, a missing trade side)."""
    frames, _ = tape(seed, planted=True, rows=2_400, coins=("BTC", "ETH"))
    rng = np.random.default_rng(seed + 1)
    for col in ("book_imb_5", "buy_vol", "dpx_bps", "book_imb_1"):
        holes = rng.random(len(frames)) < 0.02
        frames.loc[holes, col] = np.nan
    frames.loc[100:140, "book_imb_10"] = np.nan  # a run of missing rows
    return frames


def _batch(frames: pd.DataFrame, hashes: dict[str, str]) -> pd.DataFrame:
    w = bred_windows(frames, SPECS)
    w.insert(0, "window_id", ids.window_ids(w["coin"], w["detector_id"], w["ts_ms"]))
    w["recipe_hash"] = w["detector_id"].map(hashes)
    return w


@pytest.mark.parametrize("seed", [3, 8])
def test_the_bred_step_row_by_row_equals_the_batch(seed: int) -> None:
    frames = _frames(seed)
    hashes = {s.detector_id: f"sha256:{k}" for k, s in enumerate(SPECS)}
    stream = BredStream(SPECS, 1000, hashes)
    rows = frames.sort_values(["ts_ms", "coin"], kind="stable").to_dict("records")
    live = pd.DataFrame([w for r in rows for w in stream.push(r)])
    batch = _batch(frames, hashes)
    assert len(batch) > 200 and set(batch["detector_id"]) == {s.detector_id for s in SPECS}
    assert live["window_id"].tolist() == batch["window_id"].tolist()
    for col in ("ts_ms", "coin", "detector_id", "recipe_hash", "horizon_s", "direction"):
        assert live[col].tolist() == batch[col].tolist(), col
    np.testing.assert_allclose(live["raw_strength"], batch["raw_strength"], rtol=RTOL, atol=0)


def test_a_look_ahead_or_a_vetted_detectors_term_is_refused_live() -> None:
    lead = BredSpec(terms=[Term(input="dpx_bps", transform="lead", window_s=10,
                                threshold=1.0)], horizon_s=60, cooldown_s=30)
    stream = BredStream([lead], 1000, {lead.detector_id: "sha256:x"})
    row = {"coin": "BTC", "ts_ms": 0, "dpx_bps": 0.0}
    with pytest.raises(ValueError, match="dpx_bps lead: not a live transform"):
        stream.push(row)
