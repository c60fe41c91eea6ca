"""A small scored lake for the credit tests (the experiments tests' kit, 20 minutes)."""

from __future__ import annotations

import pytest

from tests.core.experiments.lake_kit import ScoredLake, scored_lake_at


@pytest.fixture(scope="package")
def credit_lake(tmp_path_factory: pytest.TempPathFactory) -> ScoredLake:
    return scored_lake_at(tmp_path_factory.mktemp("credit") / "lake")
