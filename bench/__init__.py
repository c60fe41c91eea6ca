"""Benchmarks: `python -m bench.run` (or `make bench`) writes figures to BENCHMARKS.md."""

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)
