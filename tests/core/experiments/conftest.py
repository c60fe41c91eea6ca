"""One scored lake for the experiments tests (built once per package run)."""

from __future__ import annotations

import pytest

from tests.core.experiments.lake_kit import ScoredLake, scored_lake_at


@pytest.fixture(scope="package")
def scored_lake(tmp_path_factory: pytest.TempPathFactory) -> ScoredLake:
    return scored_lake_at(tmp_path_factory.mktemp("experiments") / "home" / "lake")
