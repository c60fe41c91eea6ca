"""The daily handles on day x coin assets (`microtape_days`, `detector_windows_days`,
`signal_eval_days`): a daily stage that reads a window of a day x coin asset's days takes
the window over its handle (`lake_window_in(..., reads=...)`), so lineage shows the
dependency and a backfill runs those days' coins first."""

import dagster as dg

from lotus_assets.partitions import coin_day_in, daily_partitions
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.coin_days import coin_days_frame


def coin_days_asset(name: str, of: str, group: str, what: str) -> dg.AssetsDefinition:
    """The daily asset `name`: each coin of the day x coin asset `of` and its rows."""

    @dg.asset(
        name=name,
        partitions_def=daily_partitions,
        io_manager_key="lake_io",
        group_name=group,
        kinds={"parquet", "pandas"},
        ins={"part": coin_day_in(of)},  # every coin of the day
        description=f"{what} by coin: each coin and its rows (the footers of its coin "
        f"partitions, no row read). The daily handle on the day x coin `{of}`: a daily "
        "stage that reads a window of its days takes it through this asset's window, so a "
        "backfill runs those days' coins first.",
    )
    def handle(part: CoinDay) -> dg.Output:
        out = coin_days_frame(part)
        return dg.Output(out, metadata={"coins": len(out), "rows": int(out["rows"].sum())})

    return handle
