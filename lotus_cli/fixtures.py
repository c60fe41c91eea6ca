"""`lotus fixtures`: generate deterministic recordings with planted truth, and verify them."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import click

from lotus_core.config import ConfigError, load_settings
from lotus_core.feed.manifest import (
    ManifestMismatchError,
    read_manifest,
    verify_all,
    write_manifest,
)


def _parse_hours(value: str) -> tuple[int, int]:
    try:
        start, end = (int(x) for x in value.split("-"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected START-END in UTC hours, e.g. 12-15",
                                 param_hint="--hours") from None
    if not 0 <= start < end <= 24:
        raise click.BadParameter(f"{value!r}: need 0 <= START < END <= 24", param_hint="--hours")
    return start, end


MODELS = ("synth", "flow")


def _load_spec(spec: str, model: str = "synth"):  # noqa: ANN202 - a SynthSpec or FlowSpec
    """`spec` ('default', 'null' or a file) of the generator `model`."""
    from lotus_core import flowmarket, synth

    makers: dict[str, Callable[[], object]]
    load: Callable[[Path], object]
    if model == "flow":  # its specs raise synth's SpecError too
        makers = {"default": flowmarket.default_flow_spec, "null": flowmarket.null_flow_spec}
        load = flowmarket.load_flow_spec
    else:
        makers = {"default": synth.default_spec, "null": synth.null_spec}
        load = synth.load_spec
    if spec in makers:
        return makers[spec]()
    try:
        return load(Path(spec))
    except (OSError, synth.SpecError) as exc:
        raise click.BadParameter(str(exc), param_hint="--spec") from exc


def generate_set(out: Path, start: date, days: int, coins: list[str], seed: int, spec_name: str,
                 hours: tuple[int, int], show_progress: bool = True, model: str = "synth"
                 ) -> list[Path]:
    """Generate the recordings, their truth files and the manifest that pins their hashes."""
    if model == "flow":
        from lotus_core.flowmarket import generate_days
    else:
        from lotus_core.synth import generate_days  # type: ignore[assignment]

    spec = _load_spec(spec_name, model)
    steps = days * (hours[1] - hours[0])
    with click.progressbar(length=steps, label=f"generating {days} day(s) x {len(coins)} coin(s)",
                           file=sys.stderr, show_pos=True,
                           show_eta=True) as bar:
        def tick(_msg: str) -> None:
            if show_progress:
                bar.update(1)
        paths = generate_days(out, start, days, coins, seed, spec, hours=hours, progress=tick)
    generator = {"start": start.isoformat(), "days": days, "coins": coins, "seed": seed,
                 "hours": list(hours), "spec": spec.to_dict(), "spec_name": spec_name}
    if model != "synth":  # synth manifests keep their bytes
        generator["model"] = model
    files = sorted(set(paths) | {p for p in out.glob("*.jsonl.gz")} |
                   {p for p in out.glob("*.truth.json")})
    write_manifest(out, files, generator=generator)
    return files


@click.group()
def fixtures() -> None:
    """Synthetic recordings with planted ground truth (the committed set lives in fixtures/)."""


@fixtures.command()
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Output directory (default: settings' feed_dir, i.e. fixtures/).")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (default from settings).")
@click.option("--days", type=click.IntRange(1, 366), help="How many consecutive days.")
@click.option("--coins", help="Comma-separated coins, e.g. BTC,ETH,SOL.")
@click.option("--seed", type=click.IntRange(0), help="Seed; the same inputs give the same bytes.")
@click.option("--hours", help="Simulated UTC hours per day as START-END, e.g. 12-15 or 0-24.")
@click.option("--spec", default="default", show_default=True,
              help="Planted effects: 'default', 'null' (no effect) or a YAML/JSON spec file "
                   "(of the chosen model).")
@click.option("--model", type=click.Choice(MODELS), default="synth", show_default=True,
              help="synth: latent mid path with planted patterns (lotus_core.synth). flow: "
                   "queue-reactive order flow, hourly funding, a funding x book-lean "
                   "interaction and a decoy (lotus_core.flowmarket, docs/flowmarket.md).")
@click.pass_context
def generate(ctx: click.Context, out: Path | None, start: str | None, days: int | None,
             coins: str | None, seed: int | None, hours: str | None, spec: str,
             model: str) -> None:
    """Write <day>.jsonl.gz + <day>.truth.json per day, and manifest.json with their sha256."""
    try:
        settings = load_settings(ctx.obj.get("config") if ctx.obj else None)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    f = settings.fixtures
    out = out or settings.feed_dir
    first = date.fromisoformat(start) if start else f.start
    coin_list = [c.strip() for c in coins.split(",")] if coins else list(f.coins)
    span = _parse_hours(hours) if hours else tuple(f.hours)
    files = generate_set(out, first, days or f.days, coin_list, f.seed if seed is None else seed,
                         spec, span, model=model)  # type: ignore[arg-type]
    size = sum(p.stat().st_size for p in files)
    click.echo(f"wrote {len(files)} files ({size / 1e6:.1f} MB) and {out / 'manifest.json'}")


@fixtures.command()
@click.option("--dir", "feed_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Directory with manifest.json (default: settings' feed_dir).")
@click.option("--regenerate", is_flag=True,
              help="Also regenerate from the manifest's generator settings and compare bytes.")
@click.pass_context
def verify(ctx: click.Context, feed_dir: Path | None, regenerate: bool) -> None:
    """Check every file against manifest.json; a tampered or truncated file is named."""
    try:
        settings = load_settings(ctx.obj.get("config") if ctx.obj else None)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    feed_dir = feed_dir or settings.feed_dir
    try:
        checked = verify_all(feed_dir)
    except (FileNotFoundError, ManifestMismatchError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{len(checked)} file(s) match {feed_dir / 'manifest.json'}")
    if not regenerate:
        return
    manifest = read_manifest(feed_dir) or {}
    gen = manifest.get("generator")
    if not gen:
        raise click.ClickException(f"{feed_dir / 'manifest.json'} has no generator settings")
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(gen["spec"]))
        out = Path(tmp) / "regen"
        generate_set(out, date.fromisoformat(gen["start"]), gen["days"], gen["coins"],
                     gen["seed"], str(spec_file), tuple(gen["hours"]),  # type: ignore[arg-type]
                     model=gen.get("model", "synth"))
        from lotus_core.feed.parse import file_sha256

        bad = [name for name, digest in manifest["files"].items()
               if not (out / name).is_file() or file_sha256(out / name) != digest]
    if bad:
        raise click.ClickException(f"regenerated files differ from the manifest: {bad}")
    click.echo(f"regenerated {len(manifest['files'])} file(s) byte for byte")


@fixtures.command()
@click.option("--manifest", "manifest_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A committed manifest.json with generator settings (e.g. fixtures/loop/).")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Where the frozen set lives (generated there on first use).")
def ensure(manifest_path: Path, out: Path) -> None:
    """Materialise a frozen set: generate missing files from the manifest's settings, verify
    every file's sha256, and refuse (naming it) a file that differs."""
    from lotus_cli.frozen import FrozenSetError, ensure_frozen_set

    try:
        names = ensure_frozen_set(manifest_path, out)
    except FrozenSetError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{len(names)} file(s) in {out} match {manifest_path}")
