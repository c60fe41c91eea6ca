"""`lotus lessons` and `lotus braids`: what the learning loop concluded on a night, read from
the lake (docs/learning.md). Human tables by default, `--json` for machines."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # pandas is imported by the commands, not by `lotus --help`
    import pandas as pd

LESSON_FIELDS = ["lesson_id", "detector_id", "rule", "state", "reason", "uplift_bps", "ci_lo",
                 "ci_hi", "p05", "uplift_ipw", "uplift_naive", "uplift_hit", "support",
                 "stability", "bqs", "z", "z_crit", "activated_on", "expires_on",
                 "challenger_of", "train_window", "gates", "overlap", "clipped_share", "ess",
                 "dr_ipw_z", "oos_cusum"]
BRAID_FIELDS = ["braid_id", "braid_type", "op", "parents", "detector_id", "rule", "state",
                "theta_delta", "phi_mult", "uplift_bps", "ci_lo", "ci_hi", "support", "bqs",
                "expires_on"]


def _read(ctx: click.Context, asset: str, day: str) -> pd.DataFrame:
    import pandas as pd

    from lotus_cli.settings import cli_settings as _settings
    from lotus_core.store.lake import Lake

    try:
        pd.Timestamp(day)
    except ValueError:
        raise click.BadParameter(f"{day!r} is not a date (YYYY-MM-DD)",
                                 param_hint="--date") from None
    settings = _settings(ctx)
    lake = Lake(settings.lake_dir)
    if not lake.exists(asset, day):
        raise click.ClickException(
            f"no {asset} for {day} in {settings.lake_dir}; materialise that night first "
            f"(lotus materialize --from {day} --to {day})")
    return lake.read(asset, day)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


def _records(df: pd.DataFrame, fields: list[str]) -> list[dict[str, Any]]:
    fields = [f for f in fields if f in df]  # a partition written before a column existed
    return [{k: _clean(v) for k, v in r.items()} for r in
            df[fields].astype(object).where(df[fields].notna(), None).to_dict("records")]


def _table(df: pd.DataFrame, fields: list[str]) -> str:
    if df.empty:
        return "(none)"
    return df[fields].to_string(index=False, float_format=lambda x: f"{x:.3g}")


@click.command("lessons")
@click.option("--date", "day", required=True, metavar="YYYY-MM-DD", help="The night.")
@click.option("--state", type=click.Choice(["proposed", "active", "sunset", "archived"]),
              help="Only lessons in this state.")
@click.option("--detector", help="Only this detector's lessons.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def lessons(ctx: click.Context, day: str, state: str | None, detector: str | None,
            as_json: bool) -> None:
    """A night's lessons: rule, state, DR uplift with its 90 % CI beside IPW and naive, BQS."""
    df = _read(ctx, "lessons", day)
    if state:
        df = df[df["state"] == state]
    if detector:
        df = df[df["detector_id"] == detector]
    df = df.sort_values(["state", "bqs"], ascending=[True, False], kind="stable")
    if as_json:
        click.echo(json.dumps({"date": day, "lessons": _records(df, LESSON_FIELDS)},
                              indent=2, sort_keys=True))
        return
    counts = df["state"].value_counts().to_dict()
    click.echo(f"lessons of {day}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    click.echo(_table(df, ["detector_id", "rule", "state", "uplift_bps", "ci_lo", "ci_hi",
                           "uplift_naive", "support", "bqs"]))


@click.command("braids")
@click.option("--date", "day", required=True, metavar="YYYY-MM-DD", help="The night.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def braids(ctx: click.Context, day: str, as_json: bool) -> None:
    """A night's micro, meta and field braids with their effects and parents."""
    import pandas as pd

    df = pd.concat([_read(ctx, "braids", day), _read(ctx, "meta_braids", day)],
                   ignore_index=True)
    if as_json:
        click.echo(json.dumps({"date": day, "braids": _records(df, BRAID_FIELDS)},
                              indent=2, sort_keys=True))
        return
    click.echo(_table(df, ["braid_type", "op", "detector_id", "rule", "state", "theta_delta",
                           "phi_mult", "uplift_bps", "bqs"]))
