"""`POST /charts` over real HTTP on loopback: a signed chart becomes a vis strand (the real
reader, tesseract included), the same again is the same strand, and every refusal is a 4xx
naming its reason with nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from PIL import Image

from lotus_core.fabric.strands import read_strand
from lotus_core.vis.intake import chart_body
from tests.core.vis.chart_kit import chart, png
from tests.kits.curator_api_kit import Api


def _stored(home: Path) -> list[Path]:
    return sorted(p for p in (home / "vis").rglob("*") if p.is_file()) if home.exists() else []


def _strands(api: Api) -> int:
    with api.owner_tx() as tx:
        return int(tx.scalar("SELECT COUNT(*) FROM vis_strand"))


def test_a_signed_chart_becomes_a_strand_once(api: Api) -> None:
    home = api.cfg.home
    assert home is not None
    bars, _, data = chart("trend_up", 31, "candles", "light")
    with api.client("bob", "data") as c:
        r = c.post_chart(data, coin="btc", at="2026-01-05T09:00Z", note="desk level")
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["kind"] == "analysis" and body["symbol"] == "BTC" and not body["duplicate"]
        assert "trend_up" in body["pattern_flags"] and body["timeframe"] == "5m"
        again = c.post_chart(data, coin="btc", at="2026-01-05T09:00Z", note="desk level")
    assert again.status_code == 200 and again.json()["strand_id"] == body["strand_id"]
    assert again.json()["duplicate"] and _strands(api) == 1
    with api.owner_tx() as tx:
        row = read_strand(tx, "vis", body["strand_id"])
    assert row is not None and row["chart_hash"] == body["chart_hash"] and row["symbol"] == "BTC"
    doc = json.loads((home / "vis" / "readings" / f"{body['strand_id']}.json").read_text())
    assert doc["at"] == "2026-01-05T09:00:00+00:00" and doc["note"] == "desk level"
    assert doc["source"]["via"] == "api" and doc["source"]["curator"] == "bob"
    assert doc["source"]["role"] == "data" and doc["source"]["sig"].startswith("ed25519:")
    assert bars.symbol in (row["ocr_text"] or "")


def test_refusals_name_their_reason_and_store_nothing(api: Api) -> None:
    home = api.cfg.home
    assert home is not None
    blank = png(Image.new("RGB", (300, 200), "white"))
    with api.client("alice", "leakage") as c:
        cases = {
            "not_png_or_jpeg": (415, c.post_chart(b"GIF89a" + b"\0" * 64)),
            "corrupt_image": (422, c.post_chart(blank[:70])),
            "empty_file": (400, c.post_chart(b"")),
            "bad_at": (400, c.post_chart(blank, at="tomorrow")),
            "bad_coin": (400, c.post_chart(blank, coin="BTC/USDT")),
            "bad_query": (400, c.post_chart(blank, symbol="BTC")),
        }
        # signed over other bytes than those sent: the signature binds the image
        headers = {**c.headers("POST", "/charts", body=chart_body(blank)),
                   "content-type": "image/png"}
        tampered = c.http.post("/charts", content=blank[:-1] + b"\1", headers=headers)
    with httpx.Client(base_url=api.url) as plain:
        unsigned = plain.post("/charts", content=blank)
    for code, (status, r) in cases.items():
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
        assert r.json()["reason"]
    assert "not a PNG or JPEG" in cases["not_png_or_jpeg"][1].json()["reason"]
    assert (tampered.status_code, tampered.json()["error"]) == (401, "bad_signature")
    assert (unsigned.status_code, unsigned.json()["error"]) == (401, "unsigned")
    assert _stored(home) == [] and _strands(api) == 0
