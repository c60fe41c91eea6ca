"""The Dagster instance the CLI runs on: $DAGSTER_HOME, or `<LOTUS_HOME>/dagster` by default."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from lotus_core.config import Settings
from lotus_core.deploy import profile_file

_REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"
_FALLBACK_YAML = "telemetry:\n  enabled: false\n"


def dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the Lotus home unless the user chose one; seed its dagster.yaml."""
    chosen = os.environ.get("DAGSTER_HOME")
    home = Path(chosen).resolve() if chosen else (settings.home / "dagster").resolve()
    if home.exists() and not home.is_dir():
        raise NotADirectoryError(f"DAGSTER_HOME {home} exists and is not a directory")
    home.mkdir(parents=True, exist_ok=True)  # a chosen but missing home is created, seeded
    target = home / "dagster.yaml"
    if not target.exists():
        seed = profile_file("dagster.yaml") or _REPO_DAGSTER_YAML  # LOTUS_PROFILE's, if set
        if seed.is_file():
            shutil.copyfile(seed, target)
        else:
            target.write_text(_FALLBACK_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance(settings: Settings) -> dg.DagsterInstance:
    dagster_home(settings)
    return dg.DagsterInstance.get()
