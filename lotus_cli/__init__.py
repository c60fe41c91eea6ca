"""The `lotus` command line: what a terminal does better than the Dagster UI."""

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)
