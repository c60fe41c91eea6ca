"""A day x coin asset's daily handle: the day's coins and their rows, from the coin files'
footers (no row read). A daily stage that needs a window of such an asset's days takes the
window over the handle (Dagster maps no time window from a daily asset onto a day x coin
one) and reads the rows through the lake."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from lotus_core.columns import STR
from lotus_core.store.by_coin import CoinDay


def coin_days_schema(name: str) -> pa.DataFrameSchema:
    """The handle's contract: one row a coin, its row count."""
    return pa.DataFrameSchema(
        {"coin": pa.Column(str, unique=True), "rows": pa.Column("int64", pa.Check.ge(0))},
        strict=True, ordered=True, coerce=False, name=name)


def coin_days_frame(day: CoinDay) -> pd.DataFrame:
    """The handle's rows for `day` (none when the lake does not have the day)."""
    rows = day.coin_rows() if day.lake.exists(day.asset, day.day) else {}
    return pd.DataFrame({"coin": pd.Series(list(rows), dtype=STR),
                         "rows": pd.Series(list(rows.values()), dtype="int64")})
