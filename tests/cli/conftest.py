"""The CLI tests' shared home: the real sample recording in a fresh feed directory, with
LOTUS_HOME and DAGSTER_HOME under the test's tmp_path and no user settings in the way."""

import shutil

import pytest

from tests.helpers import REAL_RECORDING

DAY = "2025-01-26"


@pytest.fixture
def env(tmp_path, monkeypatch):
    feed = tmp_path / "feed"
    feed.mkdir()
    shutil.copyfile(REAL_RECORDING, feed / f"{DAY}.jsonl.gz")
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    monkeypatch.delenv("LOTUS_FABRIC_URL", raising=False)
    monkeypatch.delenv("LOTUS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return feed
