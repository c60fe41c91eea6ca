"""`lotus priors show|diff|rollback`: read, compare and revert the active-prior patch sets
(docs/priors.md) in the fabric of the current settings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

_fabric_url = click.option("--fabric-url", help="Ops DB URL (default: the settings' fabric).")
_as_json = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
_module = click.option("--module", type=click.Choice(["sig", "tr", "vis"]), default="sig",
                       show_default=True,
                       help="Whose patch sets: sig (scoring), tr (the Trader's choices) or "
                       "vis (the weight of each kind of chart).")


def _rows_dict(found: Any, module: str) -> dict[str, Any]:
    """A tr or vis priors version as JSON (its rows as stored; neither has signal-layer
    patches)."""
    return {"module": module, "version": found.version, "source": found.source,
            "created_at": None if found.created_at is None else found.created_at.isoformat(),
            "note": found.note, "before_version": found.before_version,
            "rows": dict(sorted(found.rows.items()))}


@contextmanager
def _open(ctx: click.Context, fabric_url: str | None) -> Iterator[Any]:
    """The settings' fabric; every known failure becomes a clear message and exit code 1."""
    from lotus_cli.settings import cli_settings as _settings
    from lotus_core.learning.priors_store import PatchSetError, PriorsVersionError
    from lotus_core.store.errors import FabricError
    from lotus_core.store.opsdb import OpsDb

    settings = _settings(ctx, fabric_url=fabric_url)
    try:
        with OpsDb.open(settings.fabric) as fabric:
            yield fabric
    except (FabricError, PriorsVersionError, PatchSetError) as exc:
        raise click.ClickException(str(exc)) from exc


def _echo_json(body: object) -> None:
    click.echo(json.dumps(body, indent=2, sort_keys=True))


def _num(x: float | None, fmt: Callable[[float], str] = lambda v: f"{v:+.6g}") -> str:
    return "-" if x is None else fmt(x)


@click.group("priors")
def priors() -> None:
    """Active-prior patch sets: show a version, diff two, roll back (as a new version)."""


@priors.command("show")
@click.option("--version", "version", type=click.IntRange(min=0),
              help="Version to show (default: the newest, which the live daemon uses).")
@_as_json
@_module
@_fabric_url
@click.pass_context
def show(ctx: click.Context, version: int | None, as_json: bool, module: str,
         fabric_url: str | None) -> None:
    """Print a patch-set version: source, time, caps and its patches."""
    from lotus_core.learning.priors_store import latest_version, read_version

    with _open(ctx, fabric_url) as fabric:
        found = read_version(fabric, latest_version(fabric, module) if version is None
                             else version, module)
    if module != "sig":
        if as_json:
            _echo_json(_rows_dict(found, module))
            return
        when = found.created_at.isoformat() if found.created_at else "-"
        click.echo(f"{module} version {found.version}  source {found.source or '-'}  "
                   f"created {when}")
        for k, v in sorted(found.rows.items()):
            click.echo(f"  {k:<64}{v:>12.6g}")
        return
    if as_json:
        _echo_json(found.as_dict())
        return
    if found.version == 0:
        click.echo("version 0: no patch set (scoring uses the configured caps, no patches)")
        return
    when = found.created_at.isoformat() if found.created_at else "-"
    click.echo(f"version {found.version}  source {found.source or '-'}  created {when}")
    if found.before_version is not None:
        click.echo(f"replaced version {found.before_version}" +
                   (f"  note: {found.note}" if found.note else ""))
    click.echo(f"caps: theta_min {_num(found.theta_min, str)}  phi_max {_num(found.phi_max, str)}")
    patches = found.patches
    click.echo(f"{len(patches)} patch(es)" + (":" if patches else ""))
    if patches:
        click.echo(f"  {'detector':<24}{'coin':<8}{'cond_key':<40}{'theta_delta':>12}"
                   f"{'phi_mult':>10}")
        for p in patches:
            click.echo(f"  {p.detector_id:<24}{p.coin:<8}{p.cond_key:<40}"
                       f"{p.theta_delta:>+12.4f}{p.phi_mult:>10.4f}")
    if found.extra:
        click.echo(f"{len(found.extra)} quantizer edge(s): "
                   + ", ".join(f"{k}={v:g}" for k, v in found.extra.items()))
    for key, reason in found.priors.rejected:
        click.echo(f"REJECTED {key}: {reason}")


@priors.command("diff")
@click.argument("ver1", type=click.IntRange(min=0))
@click.argument("ver2", type=click.IntRange(min=0))
@_as_json
@_module
@_fabric_url
@click.pass_context
def diff(ctx: click.Context, ver1: int, ver2: int, as_json: bool, module: str,
         fabric_url: str | None) -> None:
    """Keys added, removed and changed from VER1 to VER2 (0: no patch set)."""
    from lotus_core.learning.priors_store import diff_versions

    with _open(ctx, fabric_url) as fabric:
        d = diff_versions(fabric, ver1, ver2, module)
    if as_json:
        _echo_json(d.as_dict())
        return
    if d.empty:
        click.echo(f"versions {ver1} and {ver2} hold the same rows")
        return
    click.echo(f"  {'key':<64}{'v' + str(ver1):>12}{'v' + str(ver2):>12}")
    for k, v in d.added.items():
        click.echo(f"+ {k:<64}{'-':>12}{v:>12.6g}")
    for k, v in d.removed.items():
        click.echo(f"- {k:<64}{v:>12.6g}{'-':>12}")
    for k, (b, a) in d.changed.items():
        click.echo(f"~ {k:<64}{b:>12.6g}{a:>12.6g}")
    click.echo(f"{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed")


@priors.command("rollback")
@click.option("--to", "to_version", type=click.IntRange(min=0), required=True,
              help="Version whose rows become active again (0: no patches).")
@click.option("--note", default="", help="Why (stored in the snapshot).")
@_as_json
@_module
@_fabric_url
@click.pass_context
def rollback(ctx: click.Context, to_version: int, note: str, as_json: bool, module: str,
             fabric_url: str | None) -> None:
    """Make an older version active again, as a new version with its snapshot (--to 0, sig:
    the caps of the settings' scoring.yaml, `scoring.config`)."""
    from lotus_cli.settings import cli_settings
    from lotus_core.learning.priors_store import rollback as do_rollback
    from lotus_core.signals.config import load_scoring
    from lotus_core.signals.spec import SpecError

    scoring = None
    if module == "sig" and to_version == 0:  # the file this invocation's settings name
        try:
            scoring = load_scoring(cli_settings(ctx).scoring.config)
        except (SpecError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
    with _open(ctx, fabric_url) as fabric:
        new = do_rollback(fabric, to_version, note, module=module, scoring=scoring)
    if as_json:
        body = _rows_dict(new, module) if module != "sig" else new.as_dict()
        _echo_json({**body, "created": new.created})
        return
    if new.created:
        click.echo(f"rolled back to version {to_version}: wrote version {new.version} "
                   f"(source {new.source}, replaced version {new.before_version})")
    else:
        click.echo(f"version {new.version} already holds version {to_version}'s rows; "
                   "nothing written")
