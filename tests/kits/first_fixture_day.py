"""The first two committed fixture days in a feed directory, the first of them materialised
through every asset: what test_signals_pipeline.py and test_signal_eval.py each built for
themselves (the same settings, feed and run) before their own runs on top of it. Built once
a session (`first_fixture_day` in tests/conftest.py; the two modules share an xdist group,
so one worker builds it) and copied by each test that starts from it: its home (lake and
fabric), feed and Dagster instance, which the copy then writes to as its own."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import dagster_instance_at
from tests.kits.signals_kit import FIXTURES

DAYS = ["2026-01-02", "2026-01-03"]
PARTS = ("feed", "home", "dagster_home")  # what a copy takes: the settings' dirs, the instance


@dataclass(frozen=True)
class FirstDay:
    root: Path  # PARTS as the build left them: copied, never written to again
    result: Any  # DAYS[0]'s run (every asset), its events held in memory


def settings_at(root: Path, fabric_url: str | None = None) -> Any:
    """The settings both modules ran with: home and feed under `root`, nothing from the user."""
    from lotus_core.config import load_settings

    return load_settings(overrides={"home": str(root / "home"), "feed_dir": str(root / "feed"),
                                    "fabric_url": fabric_url}, env={})


def feed_at(root: Path) -> Path:
    feed = root / "feed"
    feed.mkdir(parents=True)
    for day in DAYS:
        shutil.copyfile(FIXTURES / f"{day}.jsonl.gz", feed / f"{day}.jsonl.gz")
    shutil.copyfile(FIXTURES / "manifest.json", feed / "manifest.json")
    return feed


def build(root: Path) -> FirstDay:
    from lotus_assets.chain import sized_assets
    from lotus_assets.day_plan import materialize_day
    from lotus_core.config.shared import shared_values
    from lotus_location.definitions import build_resources

    feed_at(root)
    settings = settings_at(root)
    with dagster_instance_at(root / "dagster_home") as instance:
        result = materialize_day(sized_assets(shared_values(settings)), partition_key=DAYS[0],
                                 instance=instance, selection=None,
                                 resources=build_resources(settings), raise_on_error=False)
    assert result.success, [e.step_failure_data.error.message for e in result.all_events
                            if e.is_step_failure]
    return FirstDay(root, result)


def copy_to(first: FirstDay, dest: Path) -> Any:
    """The built day under `dest` (its PARTS); returns the settings that read it there. Open
    its instance with `dagster_instance_at(dest / "dagster_home")`."""
    for part in PARTS:
        shutil.copytree(first.root / part, dest / part)
    return settings_at(dest)
