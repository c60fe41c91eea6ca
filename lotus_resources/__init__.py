"""Dagster resources: thin handles on the lake, the fabric and the feed source."""

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)
