"""A frozen set of recordings: the committed manifest pins every file's sha256 and the
generator settings that produce them. `ensure_frozen_set` materialises the set on first use
(deterministic generation), and refuses, naming the file, anything that differs from the
manifest before a single run starts. `make run` uses it for the demo loop (fixtures/loop/)."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import date
from pathlib import Path

from lotus_core.cores import spare_workers
from lotus_core.feed.manifest import MANIFEST_NAME
from lotus_core.feed.parse import file_sha256


class FrozenSetError(ValueError):
    """A file of a frozen set differs from its manifest (or the manifest is unusable)."""


def _check(out: Path, files: dict[str, str], names: list[str]) -> None:
    for name in names:
        path = out / name
        digest = file_sha256(path)
        if digest != files[name]:
            raise FrozenSetError(
                f"{path} differs from the manifest {out / MANIFEST_NAME}: sha256 {digest}, "
                f"manifest says {files[name]}; refusing to run on it (delete it to regenerate)")


def ensure_frozen_set(manifest_path: Path, out: Path, *, generate: bool = True) -> list[str]:
    """Make `out` hold exactly the files `manifest_path` lists; returns their names.

    Files already in `out` are verified, never overwritten; missing ones are generated from
    the manifest's generator settings into a temporary folder, verified, then moved in. A
    file that does not match its hash is refused with its name and both hashes."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FrozenSetError(f"{manifest_path}: {exc}") from exc
    if not isinstance(manifest, dict) or not manifest.get("files"):
        raise FrozenSetError(f"{manifest_path}: no 'files' to materialise")
    files: dict[str, str] = dict(manifest["files"])
    out.mkdir(parents=True, exist_ok=True)
    present = sorted(n for n in files if (out / n).is_file())
    _check(out, files, present)
    missing = sorted(set(files) - set(present))
    if missing:
        gen = manifest.get("generator")
        if not generate or not gen:
            raise FrozenSetError(f"{out}: missing {missing} and {manifest_path} has no "
                                 "generator settings to rebuild them")
        _generate_into(out, gen, files, missing)
    shutil.copyfile(manifest_path, out / MANIFEST_NAME)
    return sorted(files)


def _generate_into(out: Path, gen: dict, files: dict[str, str], missing: list[str]) -> None:
    from lotus_core.synth import generate_days, load_spec

    with tempfile.TemporaryDirectory(dir=out) as tmp:
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(gen["spec"]), encoding="utf-8")
        built = Path(tmp) / "built"
        generate_days(built, date.fromisoformat(gen["start"]), int(gen["days"]),
                      list(gen["coins"]), int(gen["seed"]), load_spec(spec_file),
                      hours=(int(gen["hours"][0]), int(gen["hours"][1])),
                      workers=spare_workers(2))  # days are independent
        try:
            _check(built, files, missing)
        except FrozenSetError as exc:
            raise FrozenSetError(f"regenerated set does not match the manifest: {exc}") \
                from None
        for name in missing:
            shutil.move(str(built / name), out / name)
