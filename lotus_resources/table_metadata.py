"""`dagster/row_count` and `dagster/column_schema` for any table: the lake IO manager adds
them to every materialisation so the Dagster UI shows each table's shape."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd


def _type_name(s: pd.Series) -> str:
    return str(s.dtype)


def table_metadata(df: pd.DataFrame, rows: int | None = None) -> dict[str, Any]:
    """Row count (`rows`, or df's) and column schema (name and dtype of every column)."""
    schema = dg.TableSchema(columns=[dg.TableColumn(name=str(c), type=_type_name(df[c]))
                                     for c in df.columns])
    return {"dagster/row_count": dg.MetadataValue.int(len(df) if rows is None else rows),
            "dagster/column_schema": dg.MetadataValue.table_schema(schema)}
