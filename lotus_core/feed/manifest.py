"""sha256 manifests for frozen recordings: a tampered or truncated file is refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"


class ManifestMismatchError(ValueError):
    """A file's sha256 differs from the manifest's (tampered, truncated or regenerated)."""


def write_manifest(feed_dir: Path, files: list[Path], generator: dict[str, Any] | None = None
                   ) -> Path:
    """Record each file's sha256 (and how the set was generated) next to the files."""
    from lotus_core.feed.parse import file_sha256  # parse imports numpy, pyarrow, pandas

    feed_dir = Path(feed_dir)
    entries = {Path(f).name: file_sha256(Path(f)) for f in sorted(files)}
    body: dict[str, Any] = {"files": entries}
    if generator is not None:
        body["generator"] = generator
    path = feed_dir / MANIFEST_NAME
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    return path


def read_manifest(feed_dir: Path) -> dict[str, Any] | None:
    path = Path(feed_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestMismatchError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("files"), dict):
        raise ManifestMismatchError(f"{path} must hold an object with a 'files' mapping")
    return body


def verify_file(feed_dir: Path, path: Path, manifest: dict[str, Any] | None = None) -> str | None:
    """Check one file against the directory's manifest; returns its sha256 (None: unlisted)."""
    manifest = manifest if manifest is not None else read_manifest(feed_dir)
    if manifest is None:
        return None
    expected = manifest["files"].get(Path(path).name)
    if expected is None:
        return None
    from lotus_core.feed.parse import file_sha256

    actual = file_sha256(Path(path))
    if actual != expected:
        raise ManifestMismatchError(
            f"{path}: sha256 {actual} does not match the manifest's {expected} "
            f"(the file was modified or truncated; regenerate it or restore it from git)")
    return actual


def verify_all(feed_dir: Path) -> dict[str, str]:
    """Verify every file the manifest lists; raises on the first mismatch or missing file."""
    manifest = read_manifest(feed_dir)
    if manifest is None:
        raise FileNotFoundError(f"no {MANIFEST_NAME} in {feed_dir}")
    out = {}
    for name in sorted(manifest["files"]):
        path = Path(feed_dir) / name
        if not path.is_file():
            raise ManifestMismatchError(f"{path} is listed in the manifest but missing")
        out[name] = verify_file(feed_dir, path, manifest) or ""
    return out
