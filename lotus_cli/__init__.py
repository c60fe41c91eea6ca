"""The `lotus` command line: what a terminal does better than the Dagster UI."""
