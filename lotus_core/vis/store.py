"""Recording a reading: a `vis_strand` row in the fabric and the full reading beside it.

    result = submit_chart(fabric, home, data, coin="BTC", at=when, note="daily level")

The strand carries what its columns hold (chart_hash, ocr_text, panel_bbox, pattern_flags;
symbol and timeframe in the envelope; kind `analysis`, or `unreadable` when the reading
stopped). The whole reading (path, axis fit, each step's confidence, the reason a chart was
unreadable, the shape embedding) is a JSON file at <home>/vis/readings/<strand id>.json;
the embedding is also a `chart_embedding` row, written in the strand's transaction
(embedding_store.py), which `lotus vis similar` searches. Order of writes: image, reading
file, strand; a failure at any
point removes what this call wrote, so a submission is stored whole or not at all. The same
bytes with the same coin, time and note return the strand already recorded.

A strand that is a Decision-Maker source (`lotus_core.vis.source.sources`: read, with a
coin and a time, its pattern flags stating a direction) is also posted, in the strand's
transaction, as a signed CHART_ALPHA to dm (`chart_payload`: its `vis_strands` row's
fields, weighed by the newest vis priors version), through vis_outbox and the router like
every module's message; the live DM decides on it as the nightly does on the same row
(docs/vision.md). Signed with vis's key from `keys` (default `<home>/keys`, the key
directory's default), routed per `models_map` (default `load_modules().map`). Any other
strand posts nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import ModelsMap, load_modules
from lotus_core.fabric.outbox import post_to_outbox
from lotus_core.fabric.signing import sign
from lotus_core.fabric.strands import write_strand
from lotus_core.fabric.ulid import new_ulid
from lotus_core.vis.embedding_store import record_embedding
from lotus_core.vis.ingest import atomic_write, check_image, store_image
from lotus_core.vis.lessons import load_vis_learning, weigh
from lotus_core.vis.outcomes import strand_row, strands_frame
from lotus_core.vis.priors import newest_vis_priors
from lotus_core.vis.read import Reading, read_chart
from lotus_core.vis.source import DETECTOR, chart_payload, sources

MODULE = "vis"
INTENT = "CHART_ALPHA"  # a source chart, to dm (chart-alpha-1.0)
TTL_SEC = 600  # as a published signal's ALPHA_PROPOSED (lotus_core.fabric.publish)


@dataclass(frozen=True)
class Submitted:
    """What one submission recorded (or found already recorded)."""

    strand_id: str
    chart_hash: str
    image_path: Path
    reading: Reading
    duplicate: bool


def readings_dir(home: Path) -> Path:
    return Path(home) / "vis" / "readings"


def submission_key(chart_hash: str, coin: str | None, at: datetime | None,
                   note: str | None) -> str:
    """One key per (bytes, coin, time, note): the same submission, recorded once."""
    raw = json.dumps([chart_hash, coin, at.isoformat() if at else None, note])
    return hashlib.sha256(raw.encode()).hexdigest()


def _find(home: Path, key: str) -> dict[str, Any] | None:
    idx = readings_dir(home) / "by-key" / key
    if not idx.exists():
        return None
    sid = idx.read_text().strip()
    doc: dict[str, Any] = json.loads((readings_dir(home) / f"{sid}.json").read_text())
    return doc


def submit_chart(fabric: Db, home: Path, data: bytes, *, coin: str | None = None,
                 at: datetime | None = None, note: str | None = None,
                 source: dict[str, Any] | None = None, keys: Keyring | None = None,
                 models_map: ModelsMap | None = None) -> Submitted:
    """Check, store, read and record one chart; ChartRefused (nothing stored) if refused.
    `source` (who or what submitted it) is kept in the reading file, not in the key.
    A source chart's CHART_ALPHA is signed with `keys` (default `<home>/keys`) and routed
    per `models_map` (default `load_modules().map`)."""
    ext, img = check_image(data)
    stored = store_image(home, data, ext)
    key = submission_key(stored.chart_hash, coin, at, note)
    prior = _find(home, key)
    if prior is not None:
        return Submitted(strand_id=prior["strand_id"], chart_hash=stored.chart_hash,
                         image_path=stored.path, reading=Reading.from_json(prior["reading"]),
                         duplicate=True)
    written: list[Path] = [] if stored.existed else [stored.path]
    try:
        reading = read_chart(img, at=at)
        symbol = coin or (reading.symbol if reading.symbol_conf >= 0.5 else None)
        sid = _record(fabric, home, key, stored.chart_hash, reading, symbol, at, note, written,
                      source, keys, models_map)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return Submitted(strand_id=sid, chart_hash=stored.chart_hash, image_path=stored.path,
                     reading=reading, duplicate=False)


def _record(fabric: Db, home: Path, key: str, digest: str, reading: Reading,
            symbol: str | None, at: datetime | None, note: str | None,
            written: list[Path], source: dict[str, Any] | None = None,
            keys: Keyring | None = None, models_map: ModelsMap | None = None) -> str:
    sid = new_ulid()
    doc = {"strand_id": sid, "chart_hash": digest, "symbol": symbol,
           "at": at.isoformat() if at else None, "note": note, "reading": reading.to_json(),
           "source": source}
    path = readings_dir(home) / f"{sid}.json"
    atomic_write(path, json.dumps(doc, sort_keys=True).encode())
    written.append(path)
    fields = {"chart_hash": digest, "ocr_text": reading.ocr_text or None,
              "panel_bbox": reading.panel_bbox, "pattern_flags": reading.pattern_flags or None}
    kind = "analysis" if reading.status == "read" else "unreadable"
    payload = _source_payload(fabric, doc, kind)
    posted: tuple[dict[str, Any], ModelsMap] | None = None
    if payload is not None:  # the routes and vis's key are read only for a source chart
        routes = models_map if models_map is not None else load_modules().map
        posted = (_chart_envelope(sid, payload, keys or Keyring(Path(home) / "keys"), routes),
                  routes)
    with in_tx(fabric) as tx:
        write_strand(tx, MODULE, kind,
                     id=sid, symbol=symbol, timeframe=reading.timeframe, fields=fields)
        if kind == "analysis" and reading.embedding is not None:
            record_embedding(tx, sid, reading.embedding)
        if posted is not None:
            post_to_outbox(tx, MODULE, posted[0], models_map=posted[1])
        marker = readings_dir(home) / "by-key" / key
        atomic_write(marker, sid.encode())  # inside the transaction: a failed commit undoes it
        written.append(marker)
    return sid


def _source_payload(fabric: Db, doc: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The CHART_ALPHA payload of a strand about to be recorded when its `vis_strands`
    row is a source, else None (no time, no coin, not read, no direction); weighed by the
    newest vis priors version (lessons.weigh)."""
    if not doc.get("at"):
        return None
    row = strands_frame([strand_row(doc, {"kind": kind})])
    if sources(row).empty:
        return None
    return chart_payload(weigh(row, newest_vis_priors(fabric, load_vis_learning()[0])))


def _chart_envelope(strand_id: str, payload: dict[str, Any], keys: Keyring,
                    models_map: ModelsMap) -> dict[str, Any]:
    """The signed CHART_ALPHA of a source strand's payload."""
    env = build_envelope(
        sender=MODULE, to=list(models_map.targets(MODULE, INTENT)), intent=INTENT,
        payload=payload, lifecycle_id=strand_id,
        dedupe_key=f"chart:{strand_id}", ttl_sec=TTL_SEC,
        tags=[f"detector:{DETECTOR}", f"symbol:{payload['coin']}"])
    return sign(env, keys.private_key(MODULE))


def load_readings(home: Path) -> list[dict[str, Any]]:
    """Every recorded reading document, oldest strand first (ULIDs sort by time)."""
    folder = readings_dir(home)
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

