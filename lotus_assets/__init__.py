"""Dagster assets: one module per learning stage, each a thin shell around lotus_core."""
