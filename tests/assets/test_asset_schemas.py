"""Every asset the lake IO manager writes has a pandera schema it enforces (one
place for schemas), so a new asset cannot reach the lake unchecked."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lotus_core.dsi import load_registry
from lotus_core.schemas import asset_schemas
from lotus_location.definitions import ASSETS

ASSET_SCHEMAS = asset_schemas(load_registry())


def test_every_lake_asset_has_a_schema() -> None:
    lake_assets = sorted(
        key.path[-1] for a in ASSETS if isinstance(a, dg.AssetsDefinition) for key in a.keys
        if a.get_io_manager_key_for_asset_key(key) == "lake_io")
    assert len(lake_assets) >= 20
    missing = [name for name in lake_assets if name not in ASSET_SCHEMAS]
    assert not missing, f"lake assets without a pandera schema: {missing}"


def test_every_lake_schema_refuses_infinity_and_the_failure_names_the_column(tmp_path) -> None:
    """No float column of the lake holds +-inf: each asset's schema carries the check, and the
    IO manager's refusal names the column and its rows; NaN (missing) is accepted and the
    refused write leaves nothing behind."""
    from lotus_core.schemas import NO_INFINITY, infinite_columns
    from lotus_resources.lake import LakeIOManager, LakeResource

    assert all(NO_INFINITY in schema.checks for schema in ASSET_SCHEMAS.values())
    frame = pd.DataFrame({"x": [1.0, np.inf, -np.inf, np.nan], "n": [1, 2, 3, 4],
                          "s": ["a", "b", "c", "d"]})
    assert infinite_columns(frame) == {"x": 2}
    assert infinite_columns(frame.assign(x=[1.0, 2.0, np.nan, 0.0])) == {}

    @dg.asset(io_manager_key="lake_io", partitions_def=dg.DailyPartitionsDefinition("2026-01-01"))
    def no_schema_of_its_own():  # noqa: ANN202 - dagster resolves annotations at runtime
        return frame

    lake = LakeResource(root=str(tmp_path / "lake"))
    with pytest.raises(dg.Failure, match=r"infinity in x: 2 rows") as failed:
        dg.materialize([no_schema_of_its_own], partition_key="2026-01-02",
                       resources={"lake_io": LakeIOManager(lake=lake)})
    assert "no_schema_of_its_own for 2026-01-02" in str(failed.value)
    assert not list((tmp_path / "lake").rglob("*.parquet"))
    ok = dg.materialize([dg.asset(io_manager_key="lake_io", name="finite", partitions_def=(
        dg.DailyPartitionsDefinition("2026-01-01")))(lambda: frame.assign(x=1.5))],
        partition_key="2026-01-02", resources={"lake_io": LakeIOManager(lake=lake)})
    assert ok.success
