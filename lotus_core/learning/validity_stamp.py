"""What a piece of evidence was measured with: the commit, whether the judged
code differed from it, and a hash of the judged code's source bytes, file by file, so that
evidence made by other code is refused with the changed modules named, not re-judged as if
it were current."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VALIDITY_CODE = ("lotus_core/learning", "lotus_core/signals", "lotus_core/synth")
"""What the validity plan judges: the learner, the scoring context it quantises, the generator."""
LOOP_CODE = VALIDITY_CODE + ("lotus_core/curators", "lotus_core/microtape", "lotus_core/dsi",
                             "lotus_core/feed", "lotus_core/evaluation", "lotus_core/audits",
                             "lotus_assets")
"""What the closed loop judges: also publication, the features the context is built from, the
parse they are built on, the realised outcomes and audits the lessons read, and the asset
wiring that decides which partitions each night reads (e.g. `signal_eval_late`)."""
LOOP_EXCLUDE = ("lotus_core/learning/validity",)
"""The validity plan's own modules: the closed loop never runs them."""
SUFFIXES = (".py", ".yaml", ".yml", ".json")


class StaleEvidence(ValueError):
    """Evidence whose stamp is missing or names other code than the checkout's."""


def module_hashes(packages: Sequence[str], exclude: Sequence[str] = (),
                  root: Path = ROOT) -> dict[str, str]:
    """sha256 (16 hex) of every source and config file under `packages`, by path from the
    repository root."""
    out = {}
    for pkg in packages:
        for p in sorted((root / pkg).rglob("*")):
            rel = p.relative_to(root).as_posix()
            if (p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts
                    and not rel.startswith(tuple(exclude))):
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
    return out


def code_hash(modules: Mapping[str, str]) -> str:
    return hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(modules.items()))
                          .encode()).hexdigest()[:16]


def canonical_hash(obj: Any) -> str:
    """sha256 (16 hex) of an object's canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()
                          ).hexdigest()[:16]


def git_commit(packages: Sequence[str] = (), root: Path = ROOT) -> tuple[str, bool | None]:
    """(HEAD's hash, whether `packages` differ from it); ("unknown", None) outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=30, check=True).stdout.strip()
        st = subprocess.run(["git", "status", "--porcelain", "--", *packages], cwd=root,
                            capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    return head, bool(st.strip())


def stamp(packages: Sequence[str], exclude: Sequence[str] = (),
          root: Path = ROOT) -> dict[str, Any]:
    """The stamp of the code in `packages` as it is now."""
    mods = module_hashes(packages, exclude, root)
    commit, dirty = git_commit(packages, root)
    return {"commit": commit, "dirty": dirty, "code_hash": code_hash(mods),
            "packages": list(packages), "modules": mods}


def changed_modules(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Paths added, removed or changed between two `module_hashes`."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def check_current(found: Mapping[str, Any] | None, packages: Sequence[str],
                  exclude: Sequence[str] = (), what: str = "evidence",
                  root: Path = ROOT) -> None:
    """Raise StaleEvidence unless `found` (a stamp) names exactly the current code."""
    if not found or "code_hash" not in found:
        raise StaleEvidence(f"{what} carries no code stamp: it was made before runs were "
                            "stamped, by code that cannot be identified, so it cannot be "
                            "judged as evidence about this checkout (re-run it)")
    if found.get("changed_during_run"):
        raise StaleEvidence(f"{what}: the judged code changed while it ran: "
                            f"{', '.join(found['changed_during_run'])}")
    now = module_hashes(packages, exclude, root)
    if found["code_hash"] != code_hash(now):
        diff = changed_modules(found.get("modules", {}), now)
        shown = ", ".join(diff[:12]) + (f" and {len(diff) - 12} more" if len(diff) > 12 else "")
        raise StaleEvidence(f"{what} was made by other code (commit {found.get('commit')}, "
                            f"code hash {found['code_hash']}, now {code_hash(now)}); changed "
                            f"since: {shown or 'the module list'}: re-run it")
