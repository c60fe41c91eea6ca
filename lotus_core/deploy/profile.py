"""Deployment profiles: one environment variable, LOTUS_PROFILE, selects a directory holding
a `lotus.yaml` (layered over the packaged defaults, under the user's own file) and a
`dagster.yaml` (seeded into DAGSTER_HOME). Unset or `embedded`: the embedded default.

    LOTUS_PROFILE=production            the repository's deploy/production/
    LOTUS_PROFILE=/etc/lotus/prod       any directory with the same two files
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

PROFILE_ENV = "LOTUS_PROFILE"
EMBEDDED = "embedded"
DEPLOY_ROOT = Path(__file__).resolve().parents[2] / "deploy"
PROFILE_FILES = ("lotus.yaml", "dagster.yaml")


class ProfileError(ValueError):
    """LOTUS_PROFILE names a profile that does not exist or lacks one of its files."""


def profile_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """The selected profile's directory, or None for the embedded default."""
    env = os.environ if env is None else env
    name = (env.get(PROFILE_ENV) or "").strip()
    if not name or name == EMBEDDED:
        return None
    path = Path(name) if ("/" in name or name.startswith(".")) else DEPLOY_ROOT / name
    if not path.is_dir():
        known = sorted(p.name for p in DEPLOY_ROOT.iterdir() if p.is_dir()) \
            if DEPLOY_ROOT.is_dir() else []
        raise ProfileError(f"{PROFILE_ENV}={name!r}: no profile directory {path} "
                           f"(known: {', '.join([EMBEDDED, *known])})")
    missing = [f for f in PROFILE_FILES if not (path / f).is_file()]
    if missing:
        raise ProfileError(f"{PROFILE_ENV}={name!r}: {path} lacks {', '.join(missing)}")
    return path


def profile_file(which: Literal["lotus.yaml", "dagster.yaml"],
                 env: Mapping[str, str] | None = None) -> Path | None:
    """The selected profile's lotus.yaml or dagster.yaml (None: embedded default)."""
    base = profile_dir(env)
    return None if base is None else base / which
