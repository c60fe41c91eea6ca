"""Hyperliquid feed recordings: reading, validating and flattening them into columnar tables."""
