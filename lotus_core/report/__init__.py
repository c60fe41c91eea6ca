"""What a person reads: Markdown tables, deterministic SVG charts, health and drift measures
and the WATCHDOG_ALERT a failed check posts. Pure (no dagster)."""
