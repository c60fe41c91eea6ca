"""`vis_strands` and `vis_eval` materialised by Dagster on a tiny lake (a hand-built BTC
MicroTape over two days) with charts recorded by the real reader, then `lotus vis similar`
showing a neighbour's realised outcomes from the lake; `vis_eval`'s chart cards (each chart
beside its digitised series, flags, confidences, outcome and similar past charts)."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from lotus_assets.partitions import daily_partitions
from lotus_assets.vis import vis_eval, vis_strands
from lotus_cli.main import cli
from lotus_core.columns import STR
from lotus_core.config import load_settings
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_core.vis.intake import accept_chart
from lotus_location.definitions import build_definitions, build_resources
from tests.core.vis.chart_kit import chart, png

DAY, NEXT = "2026-01-05", "2026-01-06"


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def _tape(start: str, minutes: int, bp: float = 1.0) -> pd.DataFrame:
    """BTC every 10 s from `start`, the mid rising `bp` bp a frame from 100 at
    2026-01-05T12:00."""
    ts = _ms(start) + 10_000 * np.arange(minutes * 6, dtype=np.int64)
    mid = 100.0 * np.exp(bp * 1e-4 * (ts - _ms("2026-01-05T12:00:00")) / 10_000)
    n = len(ts)
    return pd.DataFrame({"coin": pd.array(["BTC"] * n, dtype=STR), "ts_ms": ts, "mid_px": mid,
                         "spread_bps": np.full(n, 1.0), "gap": np.zeros(n, dtype=bool)})



def test_strands_and_outcomes_of_a_day_and_similar_shows_them(home: Path, tmp_path: Path
                                                              ) -> None:
    settings = load_settings(overrides={"home": str(home)}, env={})
    lake = Lake(settings.lake_dir)
    lake.write("microtape_frames", DAY, pd.concat(
        [_tape("2026-01-05T12:00:00", 20), _tape("2026-01-05T23:50:00", 10)],
        ignore_index=True), coin="BTC")
    lake.write("microtape_frames", NEXT, _tape("2026-01-06T00:00:00", 20), coin="BTC")
    blank = [png(Image.new("RGB", (300 + i, 200), "white")) for i in range(4)]
    with OpsDb.open(settings.fabric) as fabric:
        noon = accept_chart(fabric, home, chart("trend_up", 11, "candles", "dark")[2],
                            coin="BTC", at="2026-01-05T12:00:00Z", note="noon",
                            source={"via": "test"})
        late = accept_chart(fabric, home, blank[0], coin="BTC", at="2026-01-05T23:59:00Z")
        eth = accept_chart(fabric, home, blank[1], coin="ETH", at="2026-01-05T12:00:00Z")
        accept_chart(fabric, home, blank[2], coin="BTC")  # no time: in no day
        accept_chart(fabric, home, blank[3], coin="BTC", at="2026-01-06T01:00:00Z")

    tape_days = dg.AssetSpec("microtape_days", partitions_def=daily_partitions
                             ).with_io_manager_key("lake_io")  # the lake holds the tape
    result = dg.materialize([tape_days, vis_strands, vis_eval],
                            selection=[vis_strands, vis_eval], partition_key=DAY,
                            resources=build_resources(settings))
    assert result.success
    strands = lake.read("vis_strands", DAY)
    same_time = sorted([eth.strand_id, noon.strand_id])  # by time, then strand id
    assert list(strands["strand_id"]) == [*same_time, late.strand_id]
    row = strands.set_index("strand_id").loc[noon.strand_id]
    assert row["kind"] == "analysis" and row["coin"] == "BTC" and row["note"] == "noon"
    assert "trend_up" in json.loads(row["pattern_flags"])
    assert json.loads(row["source"]) == {"via": "test"} and row["ts_ms"] == _ms("2026-01-05T12:00")

    ev = lake.read("vis_eval", DAY).set_index(["strand_id", "horizon_s"])
    assert sorted({h for _, h in ev.index}) == [30, 60, 300, 900]
    for h in (30, 60, 300, 900):  # 1 bp a frame of 10 s: h/10 bp, log-compounded
        assert ev.loc[(noon.strand_id, h), "status"] == "done"
        assert ev.loc[(noon.strand_id, h), "fwd_ret_bps"] == pytest.approx(
            (np.exp(1e-4 * h / 10) - 1) * 1e4)
    # 23:59 + 900 s is in the next day's tape: read through microtape_days' window
    assert ev.loc[(late.strand_id, 900), "status"] == "done"
    assert ev.loc[(late.strand_id, 900), "fwd_ret_bps"] == pytest.approx(
        (np.exp(1e-4 * 90) - 1) * 1e4)
    assert (ev.loc[eth.strand_id, "status"] == "no_tape").all()
    assert ev.loc[eth.strand_id, "fwd_ret_bps"].isna().all()

    query = tmp_path / "query.png"
    query.write_bytes(chart("trend_up", 24, "line", "dark")[2])
    res = CliRunner().invoke(cli, ["vis", "similar", str(query), "-k", "1"])
    assert res.exit_code == 0, res.output
    first, realised = res.output.splitlines()[:2]
    assert noon.strand_id in first and "(noon)" in first
    assert realised.split() == ["realised:", "30s", "+3.0", "60s", "+6.0", "300s", "+30.0",
                                "900s", "+90.4"]


def test_the_code_location_holds_them_downstream_of_the_microtape(tmp_path: Path) -> None:
    defs = build_definitions(load_settings(env={"LOTUS_HOME": str(tmp_path)}))
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("vis_eval")).parent_keys == {
        dg.AssetKey("vis_strands"), dg.AssetKey("microtape_days")}
    assert graph.get(dg.AssetKey("microtape_days")).parent_keys == {
        dg.AssetKey("microtape_frames")}
    assert defs.resolve_job_def("vis_inbox") is not None
    assert defs.resolve_sensor_def("vis_inbox_sensor") is not None


IMAGE = re.compile(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


def test_vis_eval_shows_each_chart_beside_its_reading_outcome_and_similar_past_charts(
        home: Path) -> None:
    settings = load_settings(overrides={"home": str(home)}, env={})
    lake = Lake(settings.lake_dir)
    prev = "2026-01-04"
    lake.write("microtape_frames", prev, _tape("2026-01-04T12:00:00", 20, bp=-2.0), coin="BTC")
    lake.write("microtape_frames", DAY, _tape("2026-01-05T12:00:00", 20), coin="BTC")
    with OpsDb.open(settings.fabric) as fabric:
        past = accept_chart(fabric, home, chart("trend_up", 24, "line", "light")[2],
                            coin="BTC", at="2026-01-04T12:00:00Z", note="yesterday")
        first = accept_chart(fabric, home, chart("trend_up", 11, "candles", "dark")[2],
                             coin="BTC", at="2026-01-05T12:00:00Z", note="noon")
        second = accept_chart(fabric, home, chart("trend_up", 31, "line", "dark")[2],
                              coin="BTC", at="2026-01-05T12:05:00Z")
    tape_days = dg.AssetSpec("microtape_days", partitions_def=daily_partitions
                             ).with_io_manager_key("lake_io")
    cards: dict[str, str] = {}
    for day in (prev, DAY):
        result = dg.materialize([tape_days, vis_strands, vis_eval],
                                selection=[vis_strands, vis_eval], partition_key=day,
                                resources=build_resources(settings))
        assert result.success
        (mat,) = result.asset_materializations_for_node("vis_eval")
        cards[day] = str(mat.metadata["chart_cards"].value)
    text = cards[DAY]
    assert text.startswith("The day's 2 charts, newest first.")
    # newest first: the 12:05 chart's card, then the noon one's
    assert text.index(second.strand_id) < text.index(f"strand `{first.strand_id}`")
    sections = text.split("\n### ")[1:]
    assert len(sections) == 2 and sections[0].startswith("1. 2026-01-05 12:05:00 UTC · BTC 5m")
    noon = sections[1]
    assert "| submitted chart | digitised series |" in noon and "note: noon" in noon
    assert re.search(r"panel 1\.00 · symbol \d\.\d\d · timeframe \d\.\d\d · axis "
                     r"\d\.\d\d · path \d\.\d\d \| candles \| [^|]*trend_up 0\.\d\d", noon)
    # its own outcome (this run's vis_eval): 1 bp a frame of 10 s
    assert "| +3.00 | +6.00 | +30.05 | +90.41 |" in noon
    # its one past chart is yesterday's, with yesterday's outcomes read back from the lake
    (row,) = [ln for ln in noon.splitlines() if past.strand_id in ln]
    assert "(yesterday)" in row and "2026-01-04 12:00:00" in row
    assert row.endswith("| -6.00 | -11.99 | -59.82 | -178.39 |")
    # the 12:05 chart's past charts: the noon chart (this run's outcomes) and yesterday's
    near = [ln for ln in sections[0].splitlines() if ln.startswith("| ![shape")]
    assert len(near) == 2 and {past.strand_id, first.strand_id} == {
        s for s in (past.strand_id, first.strand_id) if any(s in ln for ln in near)}
    (noon_row,) = [ln for ln in near if first.strand_id in ln]
    assert noon_row.endswith("| +3.00 | +6.00 | +30.05 | +90.41 |")
    assert "none (no readable chart before this one's time)" in cards[prev]
    # the images: PNG thumbnails of the stated sizes, each small
    images = [(alt, base64.b64decode(data)) for alt, data in IMAGE.findall(text)]
    assert len(images) == 2 * 2 + 3  # 2 charts + 2 series + 3 past-chart shapes
    sizes = {alt: Image.open(io.BytesIO(data)).size for alt, data in images}
    assert all(data.startswith(b"\x89PNG") and len(data) < 40_000 for _, data in images)
    assert sizes[f"submitted chart {first.strand_id}"] == (240, 144)  # 800 x 480 scaled
    assert sizes[f"digitised series {first.strand_id}"] == (240, 120)
    assert sizes[f"shape of {past.strand_id}"] == (96, 32)
    assert len(text) < 200_000
