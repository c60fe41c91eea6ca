"""Chart cards for the Dagster UI: each submitted chart beside what was read off it, the
past charts shaped like it and what happened after each.

    cards, total = day_cards(day_docs, index, image_of, outcomes_of, cap=20, k=3)
    md = cards_md(cards, horizons, total)      # Markdown for a materialisation's metadata
    png = thumbnail_png(image_bytes)           # the submitted chart, at most 240 x 240 px
    png = path_png(reading_doc)                # the digitised series drawn, 240 x 120 px

Images travel inside the Markdown as `data:image/png;base64,...` sources, which the Dagster
UI's Markdown renderer lets through (its sanitiser allows the `data` protocol on `src`).
Every image is a PNG in at most PALETTE colours: the submitted chart scaled to fit
THUMB_MAX x THUMB_MAX px and at most MAX_PNG_BYTES (a rendered 800 x 480 chart gives 240 x
144 px in 3-5 KB), its digitised series 240 x 120 px (about 1 KB), a past chart's
series 96 x 32 px (about 0.3 KB). Pure: no Dagster, no files (the caller passes the bytes).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from lotus_core.vis.outcomes import at_of
from lotus_core.vis.patterns import FLAGS
from lotus_core.vis.render import DOWN, LEVEL, LINE, UP, font
from lotus_core.vis.similar import ShapeIndex

THUMB_MAX = 240
"""Width and height cap (px) of the submitted chart's thumbnail; the digitised series is
drawn THUMB_MAX x THUMB_MAX / 2."""
MAX_PNG_BYTES = 16_000
"""Byte cap of a chart's thumbnail (a chart of flat colours is a few KB)."""
SPARK = (96, 32)
"""Size (px) of a similar past chart's digitised series."""
PALETTE = 64
"""Colours of every PNG (adaptive palette): a thumbnail stays small whatever was sent."""
STEPS = (("panel", "panel_conf"), ("symbol", "symbol_conf"), ("timeframe", "timeframe_conf"),
         ("axis", "axis_conf"), ("path", "path_conf"))

CAP = 20
"""Charts shown a day (the newest); the rest are counted, not drawn."""
K = 3
"""Similar past charts shown per chart."""

Outcomes = Mapping[int, Mapping[str, Any]]
"""horizon (s) -> {fwd_ret_bps (None unless measured), status}: `outcomes.realised`'s rows."""


@dataclass(frozen=True)
class Neighbour:
    """A past chart near in shape: its distance, reading document and realised outcomes."""

    distance: float
    doc: Mapping[str, Any]
    outcomes: Outcomes = field(default_factory=dict)


@dataclass(frozen=True)
class Card:
    """One submitted chart: its reading document (store.py), the submitted image's bytes
    (None when the file is gone), its own outcomes and its nearest past charts."""

    doc: Mapping[str, Any]
    image: bytes | None
    outcomes: Outcomes
    neighbours: Sequence[Neighbour]


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").quantize(colors=PALETTE, dither=Image.Dither.NONE).save(
        buf, format="PNG", optimize=True)
    return buf.getvalue()


def png_md(data: bytes, alt: str) -> str:
    """Markdown that shows PNG bytes inline (a base64 data URI)."""
    safe = alt.replace("[", "(").replace("]", ")").replace("|", "/")
    return f"![{safe}](data:image/png;base64,{base64.b64encode(data).decode('ascii')})"


def thumbnail_png(data: bytes) -> bytes:
    """The chart image scaled (never up) to fit THUMB_MAX x THUMB_MAX, as a palette PNG;
    halved again while the PNG is over MAX_PNG_BYTES (a noisy photo, not a chart)."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    box = THUMB_MAX
    while True:
        small = img.copy()
        small.thumbnail((box, box), Image.Resampling.LANCZOS)
        out = _png(small)
        if len(out) <= MAX_PNG_BYTES or box <= 30:
            return out
        box //= 2


def path_png(reading: Mapping[str, Any], size: tuple[int, int] = (THUMB_MAX, THUMB_MAX // 2),
             labels: bool = True) -> bytes | None:
    """The digitised series of a reading drawn on white: the close as a blue line, each
    candle's high-low as a bar (teal when its close rose, red when it fell), drawn levels
    in orange, the price range written on the right (`labels`). None without a path."""
    close = np.asarray(reading.get("close") or [], dtype=np.float64)
    if len(close) < 2:
        return None
    xs = np.asarray(reading.get("x") or np.arange(len(close)), dtype=np.float64)
    high, low = reading.get("high"), reading.get("low")
    levels = [float(v) for v in reading.get("levels") or []]
    w, h = size
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    small = font(10)
    right = w - (44 if labels else 2)
    top, bot = 3, h - 4
    lo_hi = [close.min(), close.max(), *levels]
    if high is not None and low is not None:
        lo_hi += [float(np.min(low)), float(np.max(high))]
    lo, hi = float(min(lo_hi)), float(max(lo_hi))
    hi = hi if hi > lo else lo * (1 + 1e-6) + 1e-9
    span = float(xs.max() - xs.min()) or 1.0

    def px(x: float) -> float:
        return 2 + (x - float(xs.min())) / span * (right - 4)

    def row(p: float) -> float:
        return bot - (p - lo) / (hi - lo) * (bot - top)

    for lv in levels:
        d.line([(2, row(lv)), (right - 2, row(lv))], fill=LEVEL, width=1)
    if high is not None and low is not None:
        prev = float(close[0])
        for x, hh, ll, c in zip(xs, high, low, close, strict=True):
            colour = UP if c >= prev else DOWN
            d.line([(px(x), row(float(hh))), (px(x), row(float(ll)))], fill=colour)
            prev = float(c)
    d.line([(px(x), row(c)) for x, c in zip(xs.tolist(), close.tolist(), strict=True)],
           fill=LINE, width=2 if w >= 160 else 1)
    d.rectangle([0, 0, w - 1, h - 1], outline=(178, 181, 190))
    if labels:
        for p, y in ((hi, top), (lo, bot)):
            d.text((right + 3, y), f"{p:.6g}", font=small, fill=(19, 23, 34),
                   anchor="la" if y == top else "ld")
    return _png(img)


def _f2(v: float | None, sign: bool = False) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return f"{v:+.2f}" if sign else f"{v:.2f}"


def outcome_cell(o: Mapping[str, Any] | None) -> str:
    """A horizon's realised mid return in bps (`+3.00`, `+3.00 (gap)`) or its status."""
    if not o:
        return "-"
    v = o.get("fwd_ret_bps")
    if v is None:
        return str(o.get("status") or "-")
    return _f2(float(v), sign=True) + (" (gap)" if o.get("status") == "gap" else "")


def _when(doc: Mapping[str, Any]) -> str:
    text = doc.get("at")
    if not text:
        return "-"
    t = datetime.fromisoformat(str(text))
    t = (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _flags(reading: Mapping[str, Any]) -> str:
    """Flags reported, with their confidence; flags that held under the reporting
    threshold are named after them."""
    shown = reading.get("pattern_flags") or {}
    held = [f for f in FLAGS if (reading.get("flags") or {}).get(f) and f not in shown]
    parts = [f"{f} {_f2(float(c))}" for f, c in shown.items()]
    if held:
        parts.append("held below the threshold: " + ", ".join(held))
    return "; ".join(parts) or "none"


def _cell(text: Any) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def _outcome_line(outcomes: Outcomes, horizons: Sequence[int], doc: Mapping[str, Any]) -> str:
    if not doc.get("symbol"):
        return "no outcome: the chart has no coin"
    if not outcomes:
        return "no outcome yet: its day's vis_eval is not in the lake"
    head = "| " + " | ".join(f"{h} s" for h in horizons) + " |"
    return "\n".join([head, "|" + " --- |" * len(horizons),
                      "| " + " | ".join(outcome_cell(outcomes.get(h)) for h in horizons)
                      + " |"])


def card_md(card: Card, horizons: Sequence[int], number: int) -> str:
    """One chart's section: title line, the two images side by side, each step's
    confidence and the flags, its outcome, its similar past charts with theirs."""
    doc, r = card.doc, card.doc.get("reading") or {}
    sid = str(doc.get("strand_id"))
    what = " ".join(str(v) for v in (doc.get("symbol") or "no coin", r.get("timeframe")) if v)
    status = "read" if r.get("status") == "read" else "unreadable"
    lines = [f"### {number}. {_when(doc)} UTC · {what} · {status} · confidence "
             f"{_f2(float(r.get('confidence') or 0.0))}",
             f"strand `{sid}` · chart `{str(doc.get('chart_hash'))[:19]}`"
             + (f" · note: {_cell(doc['note'])}" if doc.get("note") else ""), ""]
    chart = (png_md(thumbnail_png(card.image), f"submitted chart {sid}")
             if card.image is not None else "(image file missing)")
    path = path_png(r)
    series = (png_md(path, f"digitised series {sid}") if path is not None
              else f"not read: {_cell(r.get('reason') or 'no path')}")
    lines += ["| submitted chart | digitised series |", "| --- | --- |",
              f"| {chart} | {series} |", ""]
    steps = [f"{name} {_f2(float(r.get(key) or 0.0))}" for name, key in STEPS]
    lines += ["| " + " | ".join(["step confidences", "kind", "flags (confidence)"]) + " |",
              "| --- | --- | --- |",
              f"| {' · '.join(steps)} | {r.get('kind') or '-'} | {_cell(_flags(r))} |", ""]
    lines += ["**Outcome** (the coin's mid return after the chart's time, bps)", "",
              _outcome_line(card.outcomes, horizons, doc), ""]
    if not card.neighbours:
        lines += ["**Similar past charts**: none (no readable chart before this one's time)",
                  ""]
        return "\n".join(lines)
    lines += [f"**Similar past charts** (the {len(card.neighbours)} nearest in shape among "
              "the charts timed before this one)", "",
              "| shape | distance | chart | time (UTC) | flags | "
              + " | ".join(f"{h} s" for h in horizons) + " |",
              "| --- | --- | --- | --- | --- |" + " --- |" * len(horizons)]
    for nb in card.neighbours:
        nr = nb.doc.get("reading") or {}
        spark = path_png(nr, SPARK, labels=False)
        nsid = str(nb.doc.get("strand_id"))
        name = " ".join(str(v) for v in (nb.doc.get("symbol") or "no coin",
                                         nr.get("timeframe")) if v)
        shape = png_md(spark, f"shape of {nsid}") if spark is not None else "-"
        cells = [shape, _f2(nb.distance), f"{name} `{nsid}`"
                 + (f" ({_cell(nb.doc['note'])})" if nb.doc.get("note") else ""),
                 _when(nb.doc), _cell(", ".join(nr.get("pattern_flags") or {}) or "-")]
        cells += ([outcome_cell(nb.outcomes.get(h)) for h in horizons] if nb.outcomes
                  else ["no coin" if not nb.doc.get("symbol") else "not evaluated"]
                  * len(horizons))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def cards_md(cards: Sequence[Card], horizons: Sequence[int], total: int | None = None) -> str:
    """The cards in the order given (newest first is the caller's), under a line saying how
    many of the day's `total` charts are shown and how many are left out."""
    total = len(cards) if total is None else total
    if total == 0:
        return "No charts this day."
    left = total - len(cards)
    head = (f"The {len(cards)} newest of the day's {total} charts; {left} older "
            f"chart{'s are' if left != 1 else ' is'} left out (the vis_strands table lists "
            "every chart)." if left > 0
            else f"The day's {total} chart{'s' if total != 1 else ''}, newest first.")
    return "\n".join([head, "", *(card_md(c, horizons, i + 1) for i, c in enumerate(cards))])


def newest_first(docs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Reading documents by submitted time, newest first (then strand id, newest first)."""
    def key(d: Mapping[str, Any]) -> tuple[float, str]:
        t = at_of(d)
        return (t.timestamp() if t is not None else float("-inf"), str(d.get("strand_id")))
    return sorted(docs, key=key, reverse=True)


def past_neighbours(doc: Mapping[str, Any], index: ShapeIndex, k: int = K
                    ) -> list[tuple[float, dict[str, Any]]]:
    """The k readable charts nearest `doc` in shape among those timed strictly before it
    (other bytes; a chart without a time is never a past chart). None without a path."""
    emb = (doc.get("reading") or {}).get("embedding")
    at = at_of(doc)
    if not emb or at is None:
        return []

    def before(d: Mapping[str, Any]) -> bool:
        t = at_of(d)
        return t is not None and t < at

    return index.nearest(emb, k=k, exclude=str(doc.get("chart_hash")), where=before)


def day_cards(day_docs: Sequence[Mapping[str, Any]], index: ShapeIndex,
              image_of: Callable[[Mapping[str, Any]], bytes | None],
              outcomes_of: Callable[[list[dict[str, Any]]], Mapping[str, Outcomes]],
              cap: int = CAP, k: int = K) -> tuple[list[Card], int]:
    """The cards of a day's charts: the `cap` newest, each with its image (`image_of`), its
    k past neighbours and, for it and them, the outcomes `outcomes_of(docs)` gives
    (strand id -> horizon -> outcome). Returns (cards, how many charts the day has)."""
    shown = newest_first(day_docs)[:max(0, cap)]
    near = {str(d.get("strand_id")): past_neighbours(d, index, k) for d in shown}
    wanted = [dict(d) for d in shown] + [nd for hits in near.values() for _, nd in hits]
    seen = outcomes_of(wanted)
    cards = [Card(doc=d, image=image_of(d), outcomes=seen.get(str(d.get("strand_id")), {}),
                  neighbours=[Neighbour(dist, nd, seen.get(str(nd.get("strand_id")), {}))
                              for dist, nd in near[str(d.get("strand_id"))]])
             for d in shown]
    return cards, len(day_docs)
