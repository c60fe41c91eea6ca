"""Benchmarks: `python -m bench.run` (or `make bench`) writes figures to BENCHMARKS.md."""
