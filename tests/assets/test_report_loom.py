"""`loop_report` with pooled lessons: the Loom of all detectors is its own plot under a
readable metadata key (not `loom_*`), each detector's Loom names the pooled lesson behind its
pooled braid, and the priors-over-time panel of wildcard keys is named as the wildcard."""

from __future__ import annotations

import base64
from html import unescape
from pathlib import Path

import dagster as dg
import pandas as pd

from lotus_assets.report import loop_report
from lotus_core.report.names import POOLED_NAME, WILDCARD_NAME
from lotus_core.store.by_coin import CoinDay, CoinDays
from lotus_core.store.lake import Lake
from tests.core.report.test_loom_pooled import DETS, SPECIALISED, build_night

DAY = "2026-02-05"


def _svg(value: object) -> str:
    """The SVG of a metadata plot (Markdown with a base64 `data:` image)."""
    return unescape(base64.b64decode(str(value).split("base64,")[1].rstrip(")")).decode())


def test_loop_report_draws_the_pooled_loom_and_names_star_for_a_person(tmp_path: Path) -> None:
    lessons, micro, meta, snap = build_night()
    lake = Lake(tmp_path)
    lake.write("signal_eval", DAY, pd.DataFrame({
        "status": ["done"], "published": [True], "hit": pd.array([True], dtype="boolean")}))
    priors = snap.assign(date=DAY, priors_ver=2, before_ver=1, source=f"active_priors:{DAY}")
    out = loop_report(dg.build_asset_context(partition_key=DAY),
                      CoinDays((CoinDay(lake, "signal_eval", DAY),)), priors, lessons, micro,
                      meta)
    assert isinstance(out, dg.Output)
    shown = {k: str(v.value) for k, v in out.metadata.items()}
    looms = sorted(k for k in shown if k.startswith("loom_"))
    assert looms == ["loom_all_detectors_pooled", *(f"loom_{d}" for d in DETS)]
    pooled = _svg(shown["loom_all_detectors_pooled"])
    assert f"The Loom of {POOLED_NAME}" in pooled
    assert ">(none)<" not in pooled.split("meta braids")[0]  # its lessons lead to braids
    assert f"loom of {POOLED_NAME}" in shown["loom_all_detectors_pooled"]  # the image's alt
    for d in DETS:  # the pooled lesson, by name, ahead of its rule (wrapped at the colon)
        svg = _svg(shown[f"loom_{d}"])
        assert f">{POOLED_NAME}:</text>" in svg and f">{SPECIALISED} (+3.00 bps)</text>" in svg
    panels = _svg(shown["priors_over_time"])
    assert f">{WILDCARD_NAME}</text>" in panels and ">*</text>" not in panels
