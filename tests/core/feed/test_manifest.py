"""A recording that differs from its manifest is refused, naming the file and both hashes."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from lotus_core.feed.manifest import ManifestMismatchError, verify_all, verify_file, write_manifest
from lotus_core.feed.recordings import MissingRecordingError, list_days, require_recording
from tests.helpers import REAL_RECORDING


@pytest.fixture
def feed_dir(tmp_path):
    path = tmp_path / "2025-01-26.jsonl.gz"
    path.write_bytes(REAL_RECORDING.read_bytes())
    write_manifest(tmp_path, [path], generator={"note": "copied"})
    return tmp_path


def test_intact_file_verifies(feed_dir):
    digest = hashlib.sha256(REAL_RECORDING.read_bytes()).hexdigest()
    assert verify_all(feed_dir) == {"2025-01-26.jsonl.gz": digest}


@pytest.mark.parametrize("damage", ["truncate", "tamper"])
def test_damaged_file_is_refused_with_both_hashes(feed_dir, damage):
    path = feed_dir / "2025-01-26.jsonl.gz"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-100])
    else:
        lines = gzip.decompress(path.read_bytes()).replace(b"105055.0", b"105155.0", 1)
        path.write_bytes(gzip.compress(lines))
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ManifestMismatchError) as err:
        verify_file(feed_dir, path)
    assert str(path) in str(err.value) and expected in str(err.value) and actual in str(err.value)


def test_missing_day_names_what_is_there(feed_dir):
    assert list_days(feed_dir) == ["2025-01-26"]
    with pytest.raises(MissingRecordingError, match=r"2025-01-27.*2025-01-26 \.\. 2025-01-26"):
        require_recording(feed_dir, "2025-01-27")
