"""Lotus's stores: the lake (analytical, Parquet + DuckDB) and the fabric (operational DB)."""
