"""Lakes that several modules read, each built once a session (their modules share an
xdist group, so one worker builds it)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def surface(tmp_path_factory):
    """Four one-hour days through the real jobs: tests/assets/test_surface_loop.py."""
    from tests.assets.test_surface_loop import build_surface

    yield from build_surface(tmp_path_factory)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A LOTUS_HOME under tmp, the cwd beside it, no user fabric or config in the way (the
    vis tests' `lotus` commands and assets)."""
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    for var in ("LOTUS_FABRIC_URL", "LOTUS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"
