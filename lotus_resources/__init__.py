"""Dagster resources: thin handles on the lake, the fabric and the feed source."""
