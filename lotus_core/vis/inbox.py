"""The chart drop folder: image files put in <home>/vis/inbox/ become vis strands.

    for f in waiting(home):                          # settled files, oldest first
        outcome = take(fabric, home, f.name, f.sha256)

A file is taken once it has not changed for SETTLE_S seconds (a copy still being written
is left for the next look); names starting with `.` or ending `.part`, `.tmp`, `.json` are
never taken. An optional `<file>.json` beside it gives `coin`, `at` and `note`. Each file
goes through `intake.accept_chart` (what `lotus vis submit` and the Curator API call):

    recorded   -> done/<file> (and its .json); the strand id in the outcome
    refused    -> refused/<file> (and its .json) with refused/<file>.reason.txt saying why;
                  nothing of it is stored

A name already in done/ or refused/ gets the first 12 hex digits of its sha256 in front.
Anything else (no OCR engine, the fabric down) raises and leaves the file where it is, to
be taken again; a file recorded whose move then failed is found as already recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lotus_core.fabric.db import Db
from lotus_core.vis.ingest import MAX_BYTES, ChartRefused
from lotus_core.vis.intake import accept_chart

SETTLE_S = 2.0
SKIP_SUFFIXES = (".part", ".tmp", ".json", ".reason.txt")


def inbox_dir(home: Path) -> Path:
    return Path(home) / "vis" / "inbox"


@dataclass(frozen=True)
class Waiting:
    """A settled file in the inbox: its name and the sha256 hex of its bytes."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Taken:
    """What became of one inbox file."""

    name: str
    status: str  # recorded | duplicate | refused | gone | changed
    moved_to: Path | None = None
    strand_id: str | None = None
    reason: str | None = None


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def waiting(home: Path, *, now: float | None = None, settle_s: float = SETTLE_S,
            limit: int | None = None) -> list[Waiting]:
    """The inbox's settled chart files, oldest first (then by name)."""
    folder = inbox_dir(home)
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    found = []
    for p in folder.iterdir():
        if p.name.startswith(".") or p.name.endswith(SKIP_SUFFIXES) or not p.is_file():
            continue
        st = p.stat()
        if now - st.st_mtime < settle_s:
            continue
        found.append((st.st_mtime, p.name, p))
    found.sort()
    if limit is not None:
        found = found[:limit]
    return [Waiting(name=name, sha256=_sha(p), size=p.stat().st_size) for _, name, p in found]


def _free(folder: Path, name: str, sha256: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    return target if not target.exists() else folder / f"{sha256[:12]}-{name}"


def _move(src: Path, folder: Path, sha256: str) -> Path:
    target = _free(folder, src.name, sha256)
    os.replace(src, target)
    side = src.with_name(src.name + ".json")
    if side.exists():
        os.replace(side, target.with_name(target.name + ".json"))
    return target


def _sidecar(path: Path) -> dict[str, Any]:
    side = path.with_name(path.name + ".json")
    if not side.exists():
        return {}
    try:
        doc = json.loads(side.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ChartRefused(f"{side.name} is not JSON: {exc}", "bad_sidecar") from None
    if not isinstance(doc, dict) or set(doc) - {"coin", "at", "note"}:
        raise ChartRefused(f"{side.name} must be an object with only coin, at, note",
                           "bad_sidecar")
    return {k: None if v is None else str(v) for k, v in doc.items()}


def take(fabric: Db, home: Path, name: str, sha256: str | None = None) -> Taken:
    """Record or refuse the inbox file `name` and move it aside. `sha256`: the bytes it
    was seen with; a file since changed is left for the next look (`changed`)."""
    path = inbox_dir(home) / name
    if not path.is_file():
        return Taken(name, "gone", reason="no longer in the inbox")
    size = path.stat().st_size
    # an oversized file is hashed in chunks and refused unread
    data = path.read_bytes() if size <= MAX_BYTES else b""
    digest = hashlib.sha256(data).hexdigest() if size <= MAX_BYTES else _sha(path)
    if sha256 is not None and digest != sha256:
        return Taken(name, "changed", reason=f"its bytes changed since it was seen "
                     f"({sha256[:12]} -> {digest[:12]})")
    source = {"via": "inbox", "file": name}
    try:
        if size > MAX_BYTES:
            raise ChartRefused(f"file is {size} bytes, over the {MAX_BYTES}-byte cap",
                               "too_large")
        meta = _sidecar(path)
        res = accept_chart(fabric, home, data, coin=meta.get("coin"), at=meta.get("at"),
                           note=meta.get("note"), source=source)
    except ChartRefused as exc:
        moved = _move(path, home / "vis" / "refused", digest)
        reason = f"{exc.code}: {exc}\n"
        moved.with_name(moved.name + ".reason.txt").write_text(reason)
        return Taken(name, "refused", moved_to=moved, reason=str(exc))
    moved = _move(path, home / "vis" / "done", digest)
    return Taken(name, "duplicate" if res.duplicate else "recorded", moved_to=moved,
                 strand_id=res.strand_id, reason=res.reading.reason)
