"""The one way in (coin, time and note refused by name before anything is stored), the
inbox folder's moves, and a chart's realised outcome by signal_eval's outcome function on a
hand-built tape: exact returns, `pending` past the tape, `no_tape` for a coin without one."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lotus_core.columns import STR
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_core.vis.inbox import inbox_dir, take, waiting
from lotus_core.vis.ingest import MAX_BYTES, ChartRefused
from lotus_core.vis.intake import accept_chart, parse_at
from lotus_core.vis.outcomes import evaluate_strands, realised, strands_of_day
from tests.core.vis.chart_kit import png

T0 = 1_767_614_400_000  # 2026-01-05T12:00:00Z


@pytest.mark.parametrize(("kw", "code"), [
    ({"coin": "B"}, "bad_coin"), ({"coin": "BTC/USDT"}, "bad_coin"),
    ({"at": "yesterday"}, "bad_at"), ({"note": "x" * 501}, "bad_note")])
def test_a_bad_coin_time_or_note_is_refused_by_code_and_nothing_stored(
        tmp_path: Path, fabric_sqlite: OpsDb, kw: dict[str, str], code: str) -> None:
    with pytest.raises(ChartRefused) as err:
        accept_chart(fabric_sqlite, tmp_path, png(Image.new("RGB", (40, 30), "white")), **kw)
    assert err.value.code == code
    assert not (tmp_path / "vis").exists()


def test_times_are_utc() -> None:
    assert parse_at("2026-01-05T09:00") == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert parse_at("2026-01-05T11:00+02:00") == datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_inbox_records_refuses_and_leaves_a_fresh_file(tmp_path: Path,
                                                       fabric_sqlite: OpsDb) -> None:
    box = inbox_dir(tmp_path)
    box.mkdir(parents=True)
    (box / "blank.png").write_bytes(png(Image.new("RGB", (300, 200), "white")))
    (box / "blank.png.json").write_text(json.dumps({"coin": "eth", "at": "2026-01-05T12:00Z"}))
    (box / "notes.txt").write_text("not a chart")
    (box / "fresh.png").write_bytes(b"still copying")
    old = 1_700_000_000
    for name in ("blank.png", "notes.txt"):
        os.utime(box / name, (old, old))
    seen = waiting(tmp_path, now=old + 60)
    assert [w.name for w in seen] == ["blank.png", "notes.txt"]  # fresh.png: not settled
    ok = take(fabric_sqlite, tmp_path, "blank.png", seen[0].sha256)
    assert ok.status == "recorded" and ok.moved_to == tmp_path / "vis" / "done" / "blank.png"
    assert (tmp_path / "vis" / "done" / "blank.png.json").exists()
    doc = json.loads((tmp_path / "vis" / "readings" / f"{ok.strand_id}.json").read_text())
    assert doc["symbol"] == "ETH" and doc["source"] == {"via": "inbox", "file": "blank.png"}
    bad = take(fabric_sqlite, tmp_path, "notes.txt", seen[1].sha256)
    assert bad.status == "refused" and "not a PNG or JPEG" in (bad.reason or "")
    reason = tmp_path / "vis" / "refused" / "notes.txt.reason.txt"
    assert reason.read_text().startswith("not_png_or_jpeg: not a PNG or JPEG")
    assert sorted(p.name for p in box.iterdir()) == ["fresh.png"]
    assert take(fabric_sqlite, tmp_path, "fresh.png", "0" * 64).status == "changed"
    charts = sorted((tmp_path / "vis" / "charts").rglob("*"))
    with (box / "huge.png").open("wb") as f:  # sparse: over the cap, refused unread
        f.truncate(MAX_BYTES + 1)
    huge = take(fabric_sqlite, tmp_path, "huge.png")
    assert huge.status == "refused" and "over the 8388608-byte cap" in (huge.reason or "")
    assert not (box / "huge.png").exists()
    assert sorted((tmp_path / "vis" / "charts").rglob("*")) == charts


def _tape(coin: str, t0: int, mids: list[float]) -> pd.DataFrame:
    n = len(mids)
    return pd.DataFrame({"coin": pd.array([coin] * n, dtype=STR),
                         "ts_ms": t0 + 10_000 * np.arange(n, dtype=np.int64),
                         "mid_px": np.asarray(mids, dtype=np.float64),
                         "spread_bps": np.full(n, 1.0), "gap": np.zeros(n, dtype=bool)})


def _strands(rows: list[tuple[str, str | None, int]]) -> pd.DataFrame:
    docs = [{"strand_id": sid, "symbol": coin, "chart_hash": f"sha256:{sid}",
             "at": datetime.fromtimestamp(ts / 1000, UTC).isoformat(),
             "reading": {"status": "read", "confidence": 0.9, "pattern_flags": {"range": 0.9}}}
            for sid, coin, ts in rows]
    recorded = {sid: {"kind": "analysis", "created_at": datetime(2026, 1, 6, tzinfo=UTC)}
                for sid, _, _ in rows}
    return strands_of_day(docs, recorded, "2026-01-05")


def test_outcomes_are_the_mid_return_after_the_chart_and_missing_never_zero() -> None:
    strands = _strands([("S1", "BTC", T0 + 5_000), ("S2", "ETH", T0), ("S3", None, T0)])
    assert list(strands["strand_id"]) == ["S2", "S3", "S1"]  # by time
    tape = _tape("BTC", T0, [100.0, 101.0, 99.0, 102.0, 103.0, 104.0, 105.0, 106.0])
    out = evaluate_strands(strands, lambda c: tape if c == "BTC" else None, horizons_s=(30, 120))
    btc = out[out["strand_id"] == "S1"].set_index("horizon_s")
    # entry: the frame as of T0+5 s (100); 30 s -> the frame as of T0+35 s (102)
    assert btc.loc[30, "fwd_ret_bps"] == pytest.approx(200.0)
    assert btc.loc[30, "mae_bps"] == pytest.approx(-100.0)
    assert btc.loc[30, "status"] == "done"
    # 120 s runs past the tape's last frame (T0+70 s): pending, NaN, not 0
    assert btc.loc[120, "status"] == "pending" and np.isnan(btc.loc[120, "fwd_ret_bps"])
    eth = out[out["strand_id"] == "S2"]
    assert list(eth["status"]) == ["no_tape", "no_tape"] and eth["fwd_ret_bps"].isna().all()
    assert "S3" not in set(out["strand_id"])  # no coin: nothing to measure


def test_realised_reads_the_days_vis_eval(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    strands = _strands([("S1", "BTC", T0 + 5_000)])
    tape = _tape("BTC", T0, [100.0, 101.0, 99.0, 102.0, 103.0])
    lake.write("vis_eval", "2026-01-05", evaluate_strands(strands, lambda c: tape, (30, 60)))
    docs = [{"strand_id": "S1", "symbol": "BTC", "at": "2026-01-05T12:00:05+00:00"},
            {"strand_id": "S9", "symbol": "BTC", "at": "2026-01-07T12:00:00+00:00"}]
    seen = realised(lake, docs)
    assert seen == {"S1": {30: {"fwd_ret_bps": 200.0, "mfe_bps": 200.0, "mae_bps": -100.0,
                                "status": "done"},
                           60: {"fwd_ret_bps": None, "mfe_bps": None, "mae_bps": None,
                                "status": "pending"}}}
