"""The lake on both kinds of root, for the store tests that hold each to the same rules."""

from __future__ import annotations

import pyarrow.fs as pafs
import pytest

from lotus_core.store.lake import Lake, ObjectLake


@pytest.fixture(params=["filesystem", "object_store"])
def lake(request, tmp_path) -> Lake | ObjectLake:
    """A filesystem lake, and an object-store lake (a local subtree through pyarrow's
    filesystem: the one-put path)."""
    if request.param == "filesystem":
        return Lake(tmp_path / "lake")
    (tmp_path / "store").mkdir()
    return ObjectLake(pafs.SubTreeFileSystem(str(tmp_path / "store"), pafs.LocalFileSystem()))
