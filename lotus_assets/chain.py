"""The nightly chain's assets, in one list: what the code location holds and what a day's
phases are made of (`lotus_assets.day_plan`), without the code location's sensors and jobs
(so the runner of a day imports it without importing the location that registers the
runner). `ASSETS` carries no settings: its shared-size lake windows (`sized_window_in`) are
placeholders, right for the graph (what reads what, the phases) but not to run;
`sized_assets(values)` is what anything that materialises the chain runs."""

import dagster as dg

from lotus_assets.audits import AUDIT_ASSETS
from lotus_assets.credit import CREDIT_ASSETS
from lotus_assets.dm import DM_ASSETS
from lotus_assets.dsi import DSI_ASSETS
from lotus_assets.evaluation import EVAL_ASSETS
from lotus_assets.experiments import EXPERIMENT_ASSETS
from lotus_assets.feed import raw_feed
from lotus_assets.learning import LEARNING_ASSETS
from lotus_assets.microtape import microtape_days, microtape_frames
from lotus_assets.partitions import size_windows
from lotus_assets.report import REPORT_ASSETS
from lotus_assets.signals import SIGNAL_ASSETS
from lotus_assets.trader import TRADER_ASSETS
from lotus_core.config.shared import SharedValues

ASSETS = [raw_feed, microtape_frames, microtape_days, *DSI_ASSETS, *SIGNAL_ASSETS,
          *AUDIT_ASSETS, *EVAL_ASSETS, *LEARNING_ASSETS, *DM_ASSETS, *TRADER_ASSETS,
          *REPORT_ASSETS, *EXPERIMENT_ASSETS, *CREDIT_ASSETS]
"""The assets with their shared-size lake windows unsized (`sized_assets` sizes them)."""


def sized_assets(values: SharedValues) -> list[dg.AssetsDefinition]:
    """`ASSETS` with every shared-size lake window sized from `values`
    (`shared_values(settings)` of the settings the caller runs with)."""
    return size_windows(ASSETS, values)
