"""Test-only kits (fixture tapes, hand-built feeds, bad detectors, router fault plans).

They live here, not in the production packages, because nothing in the product imports
them. Tests and `bench/` both import them as `tests.kits.<name>` (the repository root is on
`sys.path` for pytest via `pythonpath` and for `python -m bench.run` via the working
directory).
"""
