"""Lakes that several modules read, each built once a session (their modules share an
xdist group, so one worker builds it)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def surface(tmp_path_factory):
    """Four one-hour days through the real jobs: tests/assets/test_surface_loop.py."""
    from tests.assets.test_surface_loop import build_surface

    yield from build_surface(tmp_path_factory)
