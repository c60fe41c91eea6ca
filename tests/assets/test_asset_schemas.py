"""Every asset the lake IO manager writes has a pandera schema it enforces (one
place for schemas), so a new asset cannot reach the lake unchecked."""

from __future__ import annotations

import dagster as dg

from lotus_assets.definitions import ASSETS
from lotus_core.schemas import ASSET_SCHEMAS


def test_every_lake_asset_has_a_schema() -> None:
    lake_assets = sorted(
        key.path[-1] for a in ASSETS if isinstance(a, dg.AssetsDefinition) for key in a.keys
        if a.get_io_manager_key_for_asset_key(key) == "lake_io")
    assert len(lake_assets) >= 20
    missing = [name for name in lake_assets if name not in ASSET_SCHEMAS]
    assert not missing, f"lake assets without a pandera schema: {missing}"
