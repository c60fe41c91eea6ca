"""The Curator API under test: the `api` fixture (a real uvicorn server on a loopback port
over a real SQLite fabric; `tests/kits/curator_api_kit.py` holds the curators and the client)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lotus_api.app import ApiConfig
from lotus_api.pool import FabricPool
from lotus_api.server import serving_in_thread
from lotus_core.curators.config import CouncilConfig, load_curators
from tests.kits.curator_api_kit import ROLES, Api, make_registry


@pytest.fixture(scope="session")
def council() -> CouncilConfig:
    return load_curators()


@pytest.fixture
def api(fabric_sqlite_url: str, council: CouncilConfig, tmp_path: Path) -> Iterator[Api]:
    pool = FabricPool(fabric_sqlite_url, size=4)
    cfg = ApiConfig(pool=pool, curators=make_registry(ROLES), council=council,
                    lake_root=tmp_path / "lake")
    try:
        with serving_in_thread(cfg) as url:
            yield Api(url, cfg, pool)
    finally:
        pool.close()
