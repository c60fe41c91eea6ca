"""The lake contract of loop_report: one row per day of the window it plots (docs/surface.md)."""

from __future__ import annotations

import pandera.pandas as pa

LOOP_REPORT_SCHEMA = pa.DataFrameSchema(
    {
        "day": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$"), coerce=True),
        "published_rows": pa.Column("int64", pa.Check.ge(0), coerce=True),
        "published_hit_rate": pa.Column("float64", pa.Check.in_range(0.0, 1.0),
                                        nullable=True, coerce=True),
        "all_hit_rate": pa.Column("float64", pa.Check.in_range(0.0, 1.0), nullable=True,
                                  coerce=True),
        "priors_ver": pa.Column("int64", pa.Check.ge(0), coerce=True),
        "patches": pa.Column("int64", pa.Check.ge(0), coerce=True),
    },
    strict=True, ordered=True, name="loop_report",
)
