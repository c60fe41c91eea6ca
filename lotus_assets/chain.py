"""The nightly chain's assets, in one list: what the code location holds (its lake windows
re-sized from the settings: `definitions.build_assets`) and what a day's phases are made of
(`lotus_assets.day_plan`), without the code location's sensors and jobs (so the runner of a
day imports it without importing the location that registers the runner)."""

from lotus_assets.audits import AUDIT_ASSETS
from lotus_assets.credit import CREDIT_ASSETS
from lotus_assets.dm import DM_ASSETS
from lotus_assets.dsi import DSI_ASSETS
from lotus_assets.evaluation import EVAL_ASSETS
from lotus_assets.experiments import EXPERIMENT_ASSETS
from lotus_assets.feed import raw_feed
from lotus_assets.learning import LEARNING_ASSETS
from lotus_assets.microtape import microtape_days, microtape_frames
from lotus_assets.report import REPORT_ASSETS
from lotus_assets.signals import SIGNAL_ASSETS
from lotus_assets.trader import TRADER_ASSETS

ASSETS = [raw_feed, microtape_frames, microtape_days, *DSI_ASSETS, *SIGNAL_ASSETS,
          *AUDIT_ASSETS, *EVAL_ASSETS, *LEARNING_ASSETS, *DM_ASSETS, *TRADER_ASSETS,
          *REPORT_ASSETS, *EXPERIMENT_ASSETS, *CREDIT_ASSETS]
"""The assets with their lake windows at the packaged sizes (`build_assets` re-sizes them)."""
