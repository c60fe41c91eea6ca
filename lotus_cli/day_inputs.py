"""What the workbench commands (`breed`, `govern`, `experiment`) read: the settings' lake,
and a day's MicroTape built from its recording. One home, so the commands cannot disagree on
where the lake is or how a night's tape is made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lotus_core.config import Settings


def cli_lake(settings: Settings) -> Any:
    """The lake the settings name (a directory or an object store), opened."""
    from lotus_core.store.lake import open_lake
    from lotus_resources.deploy import lake_root

    return open_lake(lake_root(settings))


def day_tape(settings: Settings, day: str, feed_dir: Path | None) -> Any:
    """The day's MicroTape from its recording (`feed_dir`, default the settings'), as the
    nightly chain builds it; a missing recording is a ClickException naming the path."""
    from lotus_core.config.shared import shared_values
    from lotus_core.feed.parse import parse_recording
    from lotus_core.microtape import build_microtape
    from lotus_core.microtape.context_history import context_history

    folder = feed_dir or settings.feed_dir
    path = folder / f"{day}.jsonl.gz"
    if not path.is_file():
        raise click.ClickException(f"no recording for {day} at {path}")
    params = shared_values(settings).microtape_params()
    return build_microtape(parse_recording(path, day), params,
                           history=context_history(folder, day, params,
                                                   settings.verify_manifest))
