"""The learning loop (docs/learning.md): signal_eval outcomes -> lesson_atoms -> doubly robust
lessons -> braids and meta braids -> one compiled, capped patch set (active priors).

Pure domain code: pandas, numpy, scipy, scikit-learn; never dagster. `night` runs
one night stage by stage; `testkit` plants known effects for tests and benchmarks.
"""
