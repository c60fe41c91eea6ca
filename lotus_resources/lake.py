"""The lake as a Dagster resource and as the IO manager for the daily and the day x coin
partitioned assets."""


from functools import cache

import dagster as dg
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from lotus_core.dsi.registry import load_registry
from lotus_core.schemas import ANY_ASSET_SCHEMA, asset_schemas, infinite_columns
from lotus_core.store.by_coin import ByCoin, CoinDay, CoinDays, InOrder
from lotus_core.store.lake import SLICE_ROWS, Lake, ObjectLake, open_lake
from lotus_resources.partition_keys import day_and_coin
from lotus_resources.table_metadata import table_metadata


@cache
def _schemas() -> dict[str, pa.DataFrameSchema]:
    """Every lake asset's schema (`asset_schemas`), `dsi_annotations` by the experts
    registry the DSI assets fit with (the packaged experts.yaml, `dsi_model`'s): built when
    the first output is written, once per process."""
    return asset_schemas(load_registry())


class LakeResource(dg.ConfigurableResource):
    """Parquet + DuckDB lake rooted at `root` (default `<LOTUS_HOME>/lake`): a path every
    worker reaches, or an object-store URL (lotus_core.store.lake)."""

    root: str

    def get(self) -> Lake | ObjectLake:
        return open_lake(self.root)


class LakeIOManager(dg.ConfigurableIOManager):
    """Writes each asset-day atomically to the lake, enforcing its pandera schema first. An
    output given as `ByCoin` is written one coin at a time (a row group each, the step never
    holding every coin), one given as `InOrder` a slice at a time in row groups of SLICE_ROWS
    (the whole frame's rows and row groups); an input whose AssetIn metadata sets
    `lake_coins` is given as a `CoinDay`, read one coin at a time (`coin_day_in`). A day x
    coin partition is its coin's file of the day (`date=D/coin=C`); a daily step's input
    of a day x coin asset is every coin of its day, read as one partition."""

    lake: dg.ResourceDependency[LakeResource]

    def handle_output(self, context: dg.OutputContext,
                      obj: pd.DataFrame | ByCoin | InOrder) -> None:
        asset = context.asset_key.path[-1]
        day, coin = day_and_coin(context.asset_partition_key)  # coin: a day x coin asset
        where = day if coin is None else f"{day}, coin {coin}"
        schema = _schemas().get(asset, ANY_ASSET_SCHEMA)

        def validate(df: pd.DataFrame) -> pd.DataFrame:
            try:
                return schema.validate(df, lazy=False)
            except (SchemaError, SchemaErrors) as exc:
                inf = infinite_columns(df)
                named = (" (infinity in " + ", ".join(f"{c}: {n} rows" for c, n in inf.items())
                         + ")") if inf else ""
                raise dg.Failure(
                    description=f"{asset} for {where} failed its schema{named}: {exc}",
                    metadata={"asset": asset, "partition": where}) from exc

        lake = self.lake.get()
        if isinstance(obj, ByCoin):
            path = lake.write_parts(asset, day, obj.counted(), obj.empty, validate=validate,
                                    coin=coin)
            rows = sum(obj.rows.values())
            context.add_output_metadata({
                "path": dg.MetadataValue.path(str(path)),
                "rows": rows,
                "bytes": lake.size(asset, day, coin),
                "coins": sorted(obj.rows),
                "rows_per_coin": dict(sorted(obj.rows.items())),
                "written": "by coin (a row group each)",
                **table_metadata(obj.empty, rows=rows),
                **(obj.tally() if obj.tally is not None else {}),
            })
            return
        if isinstance(obj, InOrder):
            group = obj.row_group or SLICE_ROWS
            path = lake.write_parts(asset, day, obj.counted(), obj.empty, validate=validate,
                                    row_group=group, coin=coin)
            context.add_output_metadata({
                "path": dg.MetadataValue.path(str(path)),
                "rows": obj.rows,
                "bytes": lake.size(asset, day, coin),
                "written": f"in slices (row groups of {group:,} rows)",
                **table_metadata(obj.empty, rows=obj.rows),
            })
            return
        path = lake.write(asset, day, obj, validate=validate, coin=coin)
        context.add_output_metadata({
            "path": dg.MetadataValue.path(str(path)),
            "rows": len(obj),
            "bytes": lake.size(asset, day, coin),
            **table_metadata(obj),
        })

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | CoinDay | CoinDays:
        """One partition; or, for an input whose AssetIn metadata sets `lake_history`, every
        existing partition the mapping asks for (e.g. the previous 7 days), concatenated in
        day order. Only the `lake_columns` when the metadata names them; only the first
        `lake_head` rows when it sets that (a value every row repeats). Missing earlier
        days are skipped: history may be short or empty. With `lake_coins`: the partition
        as a `CoinDay` (nothing read yet; a day x coin step's: its own coin of the day);
        with both, the window as `CoinDays` (the days present, nothing read yet). With
        `lake_asset`, the days are the input's, the rows that asset's (a window over a
        daily handle)."""
        meta = context.definition_metadata or {}
        # a window over a daily handle (`lake_asset`): its days, the rows of what it stands for
        asset = str(meta.get("lake_asset") or context.asset_key.path[-1])
        lake = self.lake.get()
        # the days asked for: an upstream by day x coin gives a daily step every coin of
        # its day (the lake reads a day in coins as one partition)
        keys = sorted({day_and_coin(k)[0] for k in context.asset_partition_keys})
        if meta.get("lake_coins") and meta.get("lake_history"):
            present = tuple(CoinDay(lake, asset, d) for d in keys if lake.exists(asset, d))
            context.log.info("%s window: %d of %d day(s) present", asset, len(present),
                             len(keys))
            return CoinDays(present)
        if not meta.get("lake_history") and not keys:
            # an upstream by day x coin with no coin registered yet: this step's own day
            # (whose partition the lake then does not have: the step's read names it)
            keys = [day_and_coin(context.partition_key)[0]]
        if not meta.get("lake_history") and len(keys) != 1:
            raise dg.Failure(f"{asset}: one day expected for this input, got {keys}")
        if meta.get("lake_coins"):
            # a missing partition fails the step's first `coins()`, naming it (LakeError);
            # a day x coin step sees its own coin of the day
            coin = day_and_coin(context.partition_key)[1] if context.has_partition_key else None
            return CoinDay(lake, asset, keys[0], coin)
        columns = meta.get("lake_columns")
        if meta.get("lake_head") and not meta.get("lake_history"):
            return lake.head(asset, keys[0], int(meta["lake_head"]), columns)
        if not meta.get("lake_history"):
            return lake.read(asset, keys[0], columns)
        days = [d for d in keys if lake.exists(asset, d)]
        frames = [lake.read(asset, d, columns).assign(date=d) for d in days]
        context.log.info("%s history: %d of %d day(s) present", asset, len(days), len(keys))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
