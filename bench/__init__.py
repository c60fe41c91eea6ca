"""Benchmarks: `python -m bench --list` lists them, `python -m bench NAME` runs one, and
`python -m bench report` writes the summary of BENCHMARKS.md (bench/catalog.py)."""

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)
