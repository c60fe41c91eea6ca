"""The learning loop (docs/learning.md): signal_eval outcomes -> lesson_atoms -> doubly robust
lessons -> braids and meta braids -> one compiled, capped patch set (active priors).

Pure domain code: pandas, numpy, scipy, scikit-learn; never dagster. `night` runs
one night stage by stage (planted truth for its tests lives in `lotus_core.synth.windows`);
`priors_store` is the one module that reads and writes the priors tables (docs/structure.md).
"""
