"""The chart cards' pieces on hand-made reading documents (no OCR): which charts are shown
and in what order, which past charts are neighbours, the images' sizes and what an
unreadable chart's card says."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from PIL import Image

from lotus_core.vis.cards import (
    MAX_PNG_BYTES,
    THUMB_MAX,
    Card,
    Neighbour,
    card_md,
    cards_md,
    day_cards,
    outcome_cell,
    past_neighbours,
    path_png,
    thumbnail_png,
)
from lotus_core.vis.embed import embed_path
from lotus_core.vis.similar import ShapeIndex
from tests.core.vis.chart_kit import png

IMAGE = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def _doc(sid: str, at: str | None, drift: float, *, coin: str | None = "BTC",
         digest: str | None = None) -> dict:
    close = 100.0 * np.exp(np.cumsum(np.full(60, drift) + 0.002 * np.sin(np.arange(60))))
    reading = {"status": "read", "kind": "line", "confidence": 0.9, "panel_conf": 1.0,
               "symbol_conf": 0.8, "timeframe_conf": 0.7, "axis_conf": 0.95, "path_conf": 1.0,
               "timeframe": "5m", "x": list(range(100, 160)), "close": close.tolist(),
               "levels": [float(close[30])], "pattern_flags": {"trend_up": 0.9} if drift > 0
               else {}, "flags": {"trend_up": drift > 0, "range": drift == 0},
               "embedding": embed_path(close).tolist()}
    return {"strand_id": sid, "chart_hash": digest or f"sha256:{sid:0>64}", "symbol": coin,
            "at": at, "note": None, "reading": reading}


def test_the_newest_charts_are_shown_and_the_rest_counted() -> None:
    day = [_doc(f"0{i}", f"2026-01-05T1{i}:00:00+00:00", 0.001 * i) for i in range(3)]
    cards, total = day_cards(day, ShapeIndex.from_docs(day), lambda d: None, lambda ds: {},
                             cap=2, k=3)
    assert total == 3 and [c.doc["strand_id"] for c in cards] == ["02", "01"]
    md = cards_md(cards, (30, 60), total)
    assert md.startswith("The 2 newest of the day's 3 charts; 1 older chart is left out")
    assert md.index("### 1. 2026-01-05 12:00:00 UTC") < md.index("### 2. 2026-01-05 11:00:00")
    assert cards_md([], (30,), 0) == "No charts this day."


def test_past_neighbours_are_timed_before_the_chart_and_other_bytes() -> None:
    me = _doc("10", "2026-01-05T12:00:00Z", 0.002)
    docs = [me, _doc("01", "2026-01-04T12:00:00Z", 0.002),   # earlier: a neighbour
            _doc("02", "2026-01-05T12:00:00Z", 0.002),       # the same time: not past
            _doc("03", "2026-01-06T12:00:00Z", 0.002),       # later
            _doc("04", None, 0.002),                          # no time
            _doc("05", "2026-01-03T12:00:00Z", 0.002, digest=me["chart_hash"]),  # same bytes
            _doc("06", "2026-01-02T12:00:00Z", -0.002)]      # earlier, the other shape
    hits = past_neighbours(me, ShapeIndex.from_docs(docs), k=5)
    assert [d["strand_id"] for _, d in hits] == ["01", "06"]
    assert hits[0][0] < hits[1][0]


def test_images_are_small_pngs_of_the_stated_sizes() -> None:
    tall = thumbnail_png(png(Image.new("RGB", (600, 1800), "white")))
    wide = thumbnail_png(png(Image.new("RGB", (1600, 400), "navy")))
    small = thumbnail_png(png(Image.new("RGB", (100, 50), "white")))  # never scaled up
    sizes = [Image.open(io.BytesIO(b)).size for b in (tall, wide, small)]
    assert sizes == [(80, THUMB_MAX), (THUMB_MAX, 60), (100, 50)]
    series = path_png(_doc("01", None, 0.001)["reading"])
    assert series is not None and Image.open(io.BytesIO(series)).size == (240, 120)
    assert path_png({"status": "unreadable", "close": []}) is None


def test_a_card_says_what_was_read_and_what_followed() -> None:
    doc, past = _doc("10", "2026-01-05T12:00:00Z", 0.002), _doc("01", "2026-01-04T12:00:00Z",
                                                                  0.002)
    past["note"] = "a | pipe"
    card = Card(doc=doc, image=png(Image.new("RGB", (800, 480), "white")),
                outcomes={30: {"fwd_ret_bps": 3.0, "status": "done"},
                          60: {"fwd_ret_bps": -1.234, "status": "gap"},
                          300: {"fwd_ret_bps": None, "status": "pending"}},
                neighbours=[Neighbour(0.25, past, {30: {"fwd_ret_bps": 1.5, "status": "done"}})])
    md = card_md(card, (30, 60, 300, 900), 1)
    assert "| panel 1.00 · symbol 0.80 · timeframe 0.70 · axis 0.95 · path 1.00 | line | " \
           "trend_up 0.90 |" in md
    assert "| +3.00 | -1.23 (gap) | pending | - |" in md
    (row,) = [ln for ln in md.splitlines() if "`01`" in ln]
    assert row.endswith("| 0.25 | BTC 5m `01` (a / pipe) | 2026-01-04 12:00:00 | trend_up | "
                        "+1.50 | - | - | - |")
    shots = [Image.open(io.BytesIO(base64.b64decode(b))).size for b in IMAGE.findall(md)]
    assert shots == [(240, 144), (240, 120), (96, 32)]


def test_an_unreadable_chart_says_why_and_has_no_outcome_without_a_coin() -> None:
    doc = {"strand_id": "20", "chart_hash": "sha256:" + "0" * 64, "symbol": None,
           "at": "2026-01-05T09:00:00Z", "note": None,
           "reading": {"status": "unreadable", "reason": "no price panel found",
                       "panel_conf": 0.0}}
    md = card_md(Card(doc=doc, image=None, outcomes={}, neighbours=[]), (30,), 1)
    assert "· no coin · unreadable · confidence 0.00" in md
    assert "| (image file missing) | not read: no price panel found |" in md
    assert "no outcome: the chart has no coin" in md
    assert "none (no readable chart before this one's time)" in md
    assert outcome_cell(None) == "-"


def test_a_noisy_photo_is_shrunk_under_the_byte_cap() -> None:
    noise = np.random.default_rng(7).integers(0, 256, (480, 800, 3), dtype=np.uint8)
    out = thumbnail_png(png(Image.fromarray(noise)))
    assert len(out) <= MAX_PNG_BYTES and Image.open(io.BytesIO(out)).size[0] < THUMB_MAX
