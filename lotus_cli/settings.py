"""The settings of one `lotus` invocation: `--config` from the group, then the flags.

Every subcommand imports `cli_settings` from here (not from `lotus_cli.main`, which imports
the subcommands: that was an import cycle). The file is read and validated once per
invocation (kept in the root context's `obj["settings"]`); a subcommand's flags are laid
over that object, and what it hands to Dagster or the daemon is that one `Settings`.
"""

from __future__ import annotations

import click
from pydantic import ValidationError

from lotus_core.config import ConfigError, Settings, load_settings


def cli_settings(ctx: click.Context, **overrides: object) -> Settings:
    """Settings for this command; a bad value becomes a ClickException naming the key."""
    obj = ctx.find_root().ensure_object(dict)
    try:
        if obj.get("settings") is None:  # the group's one load (file, profile, env)
            obj["settings"] = load_settings(obj.get("config"))
        base: Settings = obj["settings"]
        flags = {k: v for k, v in overrides.items() if v is not None}
        if not flags:
            return base
        try:
            return Settings.model_validate({**base.model_dump(), **flags})
        except ValidationError as exc:
            keys = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise ConfigError(f"invalid Lotus settings from the command line: {keys}: "
                              f"{exc.errors()[0]['msg']}") from None
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
