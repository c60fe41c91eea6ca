"""A small lake holding two scored fixture days, written by the same stage functions and
schemas the nightly assets use (MicroTape -> detector_windows; the DSI fitted on day 1 and
annotating day 2; day 2 scored with day 1 as history): what a replay reads. The days are
cut to their first 20 minutes to keep the tests short."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lotus_core.curators.config import load_curators
from lotus_core.dsi import annotate, fit_dsi, load_registry
from lotus_core.experiments import StageConfig, base_config
from lotus_core.schemas import asset_schemas
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import detect_day, score_day
from lotus_core.store.lake import Lake
from tests.kits.signals_kit import fixture_sha256, fixture_tape

DAY1, DAY = "2026-01-02", "2026-01-03"
MINUTES = 20


@dataclass(frozen=True)
class ScoredLake:
    lake: Lake
    day: str
    base: StageConfig


def _first(day: str, minutes: int) -> pd.DataFrame:
    tape = fixture_tape(day)
    cut = tape["ts_ms"] < tape["ts_ms"].min() + minutes * 60_000
    return tape[cut].reset_index(drop=True)


_BUILT: dict[tuple[int, bool], Path] = {}


def scored_lake_at(root: Path, minutes: int = MINUTES, history: bool = True) -> ScoredLake:
    """A copy at `root` of the lake `build_lake` makes (built once per process and kind,
    in a directory of its own; each caller gets its own copy to write experiments into)."""
    key = (minutes, history)
    if key not in _BUILT:
        src = Path(tempfile.mkdtemp(prefix="lotus-scored-lake-")) / "lake"
        atexit.register(shutil.rmtree, src.parent, ignore_errors=True)
        build_lake(src, minutes, history)
        _BUILT[key] = src
    shutil.copytree(_BUILT[key], root)
    return ScoredLake(lake=Lake(root), day=DAY, base=base_config())


def build_lake(root: Path, minutes: int = MINUTES, history: bool = True) -> ScoredLake:
    """DAY scored in a lake at `root` (LOTUS_HOME/lake for the CLI); with `history`, DAY1
    too, as its sq_* history and the DSI's training day (without: both fall back to priors)."""
    lake, schemas = Lake(root), asset_schemas(load_registry())

    def put(asset: str, day: str, df: pd.DataFrame) -> None:
        lake.write(asset, day, df, validate=schemas.get(asset))

    put("microtape_frames", DAY, _first(DAY, minutes))
    hist, dsi_hist = None, None
    if history:
        put("microtape_frames", DAY1, _first(DAY1, minutes))
        put("detector_windows", DAY1, detect_day(lake.read("microtape_frames", DAY1),
                                                 scoring=load_scoring()))
        dsi_hist = lake.read("microtape_frames", DAY1).assign(date=DAY1)
        hist = lake.read("detector_windows", DAY1).assign(date=DAY1)
    model = fit_dsi(dsi_hist, registry=load_registry())
    put("dsi_annotations", DAY, annotate(lake.read("microtape_frames", DAY), model).annotations)
    result = score_day(lake.read("microtape_frames", DAY), DAY, fingerprint=fixture_sha256(DAY),
                       history=hist, dsi=lake.read("dsi_annotations", DAY),
                       scoring=load_scoring(), council=load_curators())
    put("signal_events", DAY, result.events)
    return ScoredLake(lake=lake, day=DAY, base=base_config())
