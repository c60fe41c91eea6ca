"""The MicroTape: per-coin microstructure features on a fixed, epoch-aligned cadence.

Pure numpy/pandas (no dagster): the nightly asset calls `build_microtape`, the live daemon
its row-by-row form `build.TapeStream` (one module, the same rules), and every value at grid
time t uses only data received by t.
See docs/microtape.md for each column's formula and units.
"""

from lotus_core.microtape.build import build_microtape
from lotus_core.microtape.cut import cut_feed
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.microtape.schema import MICROTAPE_COLUMNS, MICROTAPE_SCHEMA

__all__ = [
    "MICROTAPE_COLUMNS",
    "MICROTAPE_SCHEMA",
    "MicroTapeParams",
    "build_microtape",
    "cut_feed",
]
