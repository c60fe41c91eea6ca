"""`lotus vis`: chart images in (submit), read without recording (read), and charts whose
price paths looked the same (similar). docs/vision.md describes the reading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _summary(r: Any) -> str:
    if r.status != "read":
        return f"unreadable: {r.reason}"
    flags = ", ".join(f"{k} {v:.2f}" for k, v in r.pattern_flags.items()) or "none"
    return (f"{r.kind} chart, {len(r.close)} points, {r.close[0]:.6g} -> {r.close[-1]:.6g}; "
            f"symbol {r.symbol or '?'} ({r.symbol_conf:.2f}), timeframe {r.timeframe or '?'} "
            f"({r.timeframe_conf:.2f}); panel {r.panel_bbox} ({r.panel_conf:.2f}), axis "
            f"rms {r.axis['rms_px']:.2f} px ({r.axis_conf:.2f}), path ({r.path_conf:.2f}); "
            f"confidence {r.confidence:.2f}; flags: {flags}; {_times(r)}")


def _times(r: Any) -> str:
    """`times 2026-01-05 09:00 -> 17:15 UTC (0.86)`, or why the points have none."""
    if r.t_ms is None:
        return f"times: none ({r.time_reason})"
    from datetime import UTC, datetime

    first, last = (datetime.fromtimestamp(t / 1000, UTC) for t in (r.t_ms[0], r.t_ms[-1]))
    return (f"times {first:%Y-%m-%d %H:%M} -> {last:%Y-%m-%d %H:%M} UTC "
            f"({r.time_conf:.2f})")


def _load(image: Path) -> tuple[bytes, Any]:
    from lotus_core.vis.ingest import ChartRefused, check_image

    data = image.read_bytes()
    try:
        return data, check_image(data)[1]
    except ChartRefused as exc:
        raise click.ClickException(f"{image} refused: {exc}") from exc


def _reading_json(r: Any) -> dict[str, Any]:
    doc = r.to_json()
    doc.pop("embedding", None)
    return doc


@click.group("vis")
def vis() -> None:
    """The vision module: chart images read into a panel, OCR text, a digitised price
    path, pattern flags and a shape embedding, each with its confidence."""


@vis.command("submit")
@click.argument("image", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--coin", help="The coin the chart shows (default: the symbol OCR read).")
@click.option("--at", "at", help="The chart's as-of time, ISO 8601 (UTC when no zone).")
@click.option("--note", help="Free text kept with the submission.")
@click.option("--fabric-url", help="Ops DB URL (default: the settings' fabric).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def submit(ctx: click.Context, image: Path, coin: str | None, at: str | None,
           note: str | None, fabric_url: str | None, as_json: bool) -> None:
    """Check, store (content-addressed under LOTUS_HOME/vis) and read a PNG or JPEG chart,
    and record it as a vis_strand row. A refused file stores nothing."""
    from lotus_cli.settings import cli_settings as _settings
    from lotus_core.store.errors import FabricError
    from lotus_core.store.opsdb import OpsDb
    from lotus_core.vis.ingest import ChartRefused
    from lotus_core.vis.intake import accept_chart
    from lotus_core.vis.ocr import OcrUnavailable

    settings = _settings(ctx, fabric_url=fabric_url)
    data = image.read_bytes()
    try:
        with OpsDb.open(settings.fabric) as fabric:
            res = accept_chart(fabric, settings.home, data, coin=coin, at=at, note=note,
                               source={"via": "cli", "file": image.name})
    except ChartRefused as exc:
        raise click.ClickException(f"{image} refused: {exc}") from exc
    except (OcrUnavailable, FabricError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({"strand_id": res.strand_id, "chart_hash": res.chart_hash,
                               "image": str(res.image_path), "duplicate": res.duplicate,
                               "reading": _reading_json(res.reading)}, indent=2))
        return
    what = "already recorded as" if res.duplicate else "recorded as"
    click.echo(f"{image}: {res.chart_hash} {what} vis_strand {res.strand_id}")
    click.echo(_summary(res.reading))


@vis.command("read")
@click.argument("image", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--at", "at", help="The chart's as-of time, ISO 8601 (UTC when no zone); "
              "dates time-of-day labels.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole reading as JSON.")
def read(image: Path, at: str | None, as_json: bool) -> None:
    """Read a chart and print what was read, recording nothing."""
    from lotus_core.vis.ingest import ChartRefused
    from lotus_core.vis.intake import parse_at
    from lotus_core.vis.ocr import OcrUnavailable
    from lotus_core.vis.read import read_chart

    _, img = _load(image)
    try:
        r = read_chart(img, at=parse_at(at))
    except ChartRefused as exc:
        raise click.ClickException(str(exc)) from exc
    except OcrUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(_reading_json(r), indent=2) if as_json else _summary(r))


def _outcomes(row: dict[str, Any]) -> str:
    """`30s +4.2 60s -1.0 300s pending ...`: the realised mid return (bps) per horizon."""
    parts = []
    for h, o in sorted(row["outcomes"].items(), key=lambda kv: int(kv[0])):
        value = o["fwd_ret_bps"]
        shown = o["status"] if value is None else f"{value:+.1f}" + (
            "(gap)" if o["status"] == "gap" else "")
        parts.append(f"{h}s {shown}")
    if parts:
        return " ".join(parts)
    if not row["symbol"] or not row["at"]:
        return "none (the chart has no coin or no time)"
    return f"not evaluated yet (vis_eval of {str(row['at'])[:10]})"


@vis.command("similar")
@click.argument("image", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True,
              help="How many neighbours.")
@click.option("--fabric-url", help="Ops DB URL (default: the settings' fabric).")
@click.option("--json", "as_json", is_flag=True, help="Print the neighbours as JSON.")
@click.pass_context
def similar(ctx: click.Context, image: Path, k: int, fabric_url: str | None,
            as_json: bool) -> None:
    """The recorded charts whose digitised price paths are nearest this one's in shape
    (the image itself is read, not recorded), each with its realised outcomes where the
    lake's vis_eval has them: the coin's mid return in bps at each horizon after its time.
    The fabric's chart_embedding is searched (pgvector on PostgreSQL)."""
    from lotus_cli.settings import cli_settings as _settings
    from lotus_core.store.errors import FabricError
    from lotus_core.store.lake import open_lake
    from lotus_core.store.opsdb import OpsDb
    from lotus_core.vis.ingest import chart_hash
    from lotus_core.vis.ocr import OcrUnavailable
    from lotus_core.vis.outcomes import realised
    from lotus_core.vis.read import read_chart
    from lotus_core.vis.similar import nearest_recorded

    settings = _settings(ctx, fabric_url=fabric_url)
    data, img = _load(image)
    try:
        r = read_chart(img)
    except OcrUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    if r.embedding is None:
        raise click.ClickException(f"{image} could not be read: {r.reason}")
    try:
        with OpsDb.open(settings.fabric) as fabric:
            hits = nearest_recorded(fabric, settings.home, r.embedding, k=k,
                                    exclude=chart_hash(data))
    except FabricError as exc:
        raise click.ClickException(str(exc)) from exc
    seen = realised(open_lake(settings.lake_dir), [doc for _, doc in hits])
    rows = [{"distance": round(d, 4), "strand_id": doc["strand_id"],
             "chart_hash": doc["chart_hash"], "symbol": doc.get("symbol"), "at": doc.get("at"),
             "timeframe": doc["reading"].get("timeframe"), "note": doc.get("note"),
             "pattern_flags": doc["reading"].get("pattern_flags"),
             "outcomes": {str(h): o for h, o in seen.get(doc["strand_id"], {}).items()}}
            for d, doc in hits]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no recorded charts to compare with (lotus vis submit records them)")
        return
    for row in rows:
        flags = ", ".join(row["pattern_flags"] or {}) or "-"
        click.echo(f"{row['distance']:.3f}  {row['strand_id']}  {row['symbol'] or '?':<6} "
                   f"{row['timeframe'] or '?':<4} {row['at'] or '-':<26} {flags}"
                   + (f"  ({row['note']})" if row["note"] else ""))
        click.echo(f"       realised: {_outcomes(row)}")
