"""Submitting charts: refused files store nothing; accepted ones become one vis_strand row
with the reading beside it, content-addressed and recorded once."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from lotus_core.fabric.strands import read_strand
from lotus_core.store.opsdb import OpsDb
from lotus_core.vis import ingest
from lotus_core.vis.ingest import ChartRefused, check_image
from lotus_core.vis.store import submit_chart
from tests.core.vis.chart_kit import chart, png


def _files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "vis").rglob("*") if p.is_file()) if home.exists() else []


def _strands(fabric: OpsDb) -> int:
    with fabric.transaction() as tx:
        return int(tx.scalar("SELECT COUNT(*) FROM vis_strand"))


@pytest.mark.parametrize(("data", "why"), [
    (b"", "empty"),
    (b"GIF89a" + b"\0" * 64, "not a PNG or JPEG"),
    (b"%PDF-1.7 chart", "not a PNG or JPEG"),
    (png(Image.new("RGB", (64, 64), (9, 9, 9)))[:60], "corrupt or truncated PNG"),
    (b"\xff\xd8\xff\xe0" + b"\0" * 40, "corrupt or truncated JPG"),
], ids=["empty", "gif", "pdf", "truncated-png", "corrupt-jpeg"])
def test_bad_files_refused_by_name_and_nothing_stored(
        tmp_path: Path, fabric_sqlite: OpsDb, data: bytes, why: str) -> None:
    home = tmp_path / "home"
    with pytest.raises(ChartRefused, match=why):
        submit_chart(fabric_sqlite, home, data)
    assert _files(home) == [] and _strands(fabric_sqlite) == 0


def test_oversized_file_refused() -> None:
    data = png(Image.new("RGB", (64, 64), (9, 9, 9)))
    assert check_image(data)[0] == "png"
    with pytest.raises(ChartRefused, match="over the 100-byte cap"):
        check_image(data, max_bytes=100)
    big = png(Image.new("L", (5000, 4000), 0))
    with pytest.raises(ChartRefused, match="over 16777216 pixels"):
        check_image(big)
    assert ingest.MAX_BYTES == 8 * 1024 * 1024


def test_chart_recorded_once_as_a_strand_with_its_reading(
        tmp_path: Path, fabric_sqlite: OpsDb) -> None:
    home = tmp_path / "home"
    bars, _, data = chart("trend_up", 11, "candles", "dark")
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, format="JPEG", quality=92)
    res = submit_chart(fabric_sqlite, home, buf.getvalue(), note="jpeg copy")
    assert res.image_path.suffix == ".jpg" and res.image_path.read_bytes() == buf.getvalue()
    assert res.image_path.stem == res.chart_hash.removeprefix("sha256:")
    row = read_strand(fabric_sqlite, "vis", res.strand_id)
    assert row is not None and row["kind"] == "analysis", res.reading.reason
    assert row["chart_hash"] == res.chart_hash and row["symbol"] == bars.symbol
    assert row["timeframe"] == "5m" and row["panel_bbox"] == res.reading.panel_bbox
    assert bars.symbol in row["ocr_text"] and "trend_up" in row["pattern_flags"]
    doc = json.loads((home / "vis" / "readings" / f"{res.strand_id}.json").read_text())
    assert doc["reading"]["embedding"] and doc["note"] == "jpeg copy"
    again = submit_chart(fabric_sqlite, home, buf.getvalue(), note="jpeg copy")
    assert again.duplicate and again.strand_id == res.strand_id and _strands(fabric_sqlite) == 1


def test_unreadable_chart_is_a_strand_saying_so(tmp_path: Path, fabric_sqlite: OpsDb) -> None:
    res = submit_chart(fabric_sqlite, tmp_path, png(Image.new("RGB", (300, 200), "white")),
                       coin="BTC")
    row = read_strand(fabric_sqlite, "vis", res.strand_id)
    assert row is not None and row["kind"] == "unreadable" and row["symbol"] == "BTC"
    assert row["pattern_flags"] is None and "no price panel" in (res.reading.reason or "")


def test_failed_record_leaves_nothing_behind(tmp_path: Path, fabric_sqlite_url: str) -> None:
    fabric = OpsDb.open(fabric_sqlite_url)
    fabric.close()  # a fabric that cannot take the strand
    data = png(Image.new("RGB", (300, 200), "white"))
    with pytest.raises(Exception):  # noqa: B017  (whatever the closed connection raises)
        submit_chart(fabric, tmp_path, data)
    assert _files(tmp_path) == []


def test_submission_time_dates_the_points(tmp_path: Path, fabric_sqlite: OpsDb) -> None:
    bars, _, data = chart("range", 12, "line", "light")  # 5m bars drawn from 2026-01-05 09:00
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    res = submit_chart(fabric_sqlite, tmp_path, data, at=start + timedelta(minutes=5 * bars.n))
    doc = json.loads((tmp_path / "vis" / "readings" / f"{res.strand_id}.json").read_text())
    t_ms = doc["reading"]["t_ms"]
    assert t_ms is not None and len(t_ms) == len(doc["reading"]["x"])
    first_bar = start.timestamp() * 1000
    assert abs(t_ms[0] - first_bar) < 100_000  # within a third of a 5-minute bar
