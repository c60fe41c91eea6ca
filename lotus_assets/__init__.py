"""Dagster assets: one module per learning stage, each a thin shell around lotus_core."""

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)
