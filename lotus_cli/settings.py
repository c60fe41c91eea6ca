"""The settings of one `lotus` invocation: `--config` from the group, then the flags.

Every subcommand imports `cli_settings` from here (not from `lotus_cli.main`, which imports
the subcommands: that was an import cycle).
"""

from __future__ import annotations

import click

from lotus_core.config import ConfigError, Settings, load_settings


def cli_settings(ctx: click.Context, **overrides: object) -> Settings:
    """Settings for this command; a bad value becomes a ClickException naming the key."""
    try:
        return load_settings(ctx.obj.get("config"), overrides=dict(overrides))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
