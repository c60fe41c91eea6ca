"""Dagster assets: one module per learning stage, each a thin shell around lotus_core."""

import warnings

from dagster import BetaWarning, PreviewWarning

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)

# Preview and beta features Lotus chooses to use, each on purpose: per-partition asset checks
# (a day's checks judge that day), look-back windows that may start before the first
# partition (a first day has no history), and the feed directory as an observable source.
# Their warnings are silenced by name; any other preview or beta warning still shows.
for _message in ("Specifying a partitions_def on an AssetCheckSpec",
                 "Parameter `allow_nonexistent_upstream_partitions`",
                 "Function `observable_source_asset`"):
    warnings.filterwarnings("ignore", message=_message, category=PreviewWarning)
    warnings.filterwarnings("ignore", message=_message, category=BetaWarning)
