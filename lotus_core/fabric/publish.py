"""Publishing signals: sigbus-1.0.0 documents leave sig through sig_outbox as signed
ALPHA_PROPOSED envelopes (instead of an interim signal_bus table).

    n = publish_alpha(fabric, sigbus_docs, Keyring(settings.home / "keys"),
                      models_map=load_modules().map)   # the entry point's load

Each document becomes, in one transaction: a `signal` row of sig_strand (published, its
scores, eligibility and provenance; skipped when the caller names an existing strand) and
an ALPHA_PROPOSED envelope to every module the map lets sig tag with it, signed with sig's
key, lifecycle_id = the strand id (so DM_DECISION and EXEC_REPORT find the window again).
Idempotent: the envelope's dedupe_key is `alpha:<detector>:<symbol>:<horizon>:<asof_ts>`,
and a document whose key is already in sig_outbox is skipped, so re-materialising a
partition publishes nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lotus_core.fabric.codec import utc_now
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.envelope import build_envelope, parse_ts, validate_envelope
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import ModelsMap
from lotus_core.fabric.outbox import post_to_outbox
from lotus_core.fabric.signing import sign
from lotus_core.fabric.strands import write_strand
from lotus_core.fabric.ulid import encode

SENDER = "sig"
INTENT = "ALPHA_PROPOSED"


def alpha_dedupe_key(sigbus: Mapping[str, Any]) -> str:
    """One key per (detector, symbol, horizon, as-of time): the same signal, published once."""
    return (f"alpha:{sigbus['detector_id']}:{sigbus['symbol']}:{sigbus['horizon']}:"
            f"{sigbus['asof_ts']}")


def strand_id_for(dedupe_key: str, asof_ts: str) -> str:
    """A deterministic ULID for the signal's strand row: its as-of time, then 80 bits of
    the dedupe key's sha256 (so publishing again names the same strand)."""
    ms = int(parse_ts(asof_ts).timestamp() * 1000)
    rand = int.from_bytes(hashlib.sha256(dedupe_key.encode()).digest()[:10], "big")
    return encode(ms << 80 | rand)


def _private_key(keys: Keyring | Ed25519PrivateKey | Path | str | None) -> Ed25519PrivateKey:
    if isinstance(keys, Ed25519PrivateKey):
        return keys
    ring = keys if isinstance(keys, Keyring) else Keyring(keys)
    return ring.private_key(SENDER)


def _split(item: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    if "sigbus" in item:
        return dict(item["sigbus"]), item.get("strand_id")
    return dict(item), None


def publish_alpha(
    fabric: Db,
    sigbus_payloads: Iterable[Mapping[str, Any]],
    keys: Keyring | Ed25519PrivateKey | Path | str | None,
    *,
    models_map: ModelsMap,
    ttl_sec: int = 600,
    now: datetime | None = None,
) -> int:
    """Post each sigbus document as a signed ALPHA_PROPOSED; returns how many were new.

    An item is a sigbus-1.0.0 document, or {"sigbus": doc, "strand_id": id} to name the
    signal's strand (and lifecycle) id, e.g. its signal_events window_id, so an EXEC_REPORT
    links back to the window; the strand row is written when it does not exist yet. An
    invalid document raises EnvelopeError naming the failing path before anything is written.
    `models_map`: the entry point's (`load_modules().map`): who the envelopes go to, and the
    routes they are checked against.
    """
    key = _private_key(keys)
    when = now or utc_now()
    targets = list(models_map.targets(SENDER, INTENT))
    prepared = []
    for item in sigbus_payloads:
        doc, strand_id = _split(item)
        dedupe = alpha_dedupe_key(doc)
        sid = strand_id or strand_id_for(dedupe, doc["asof_ts"])
        env = build_envelope(
            sender=SENDER, to=targets, intent=INTENT, payload={"sigbus": doc, "strand_id": sid},
            lifecycle_id=sid, dedupe_key=dedupe, ttl_sec=ttl_sec, now=when,
            tags=[f"detector:{doc['detector_id']}", f"symbol:{doc['symbol']}"],
        )
        validate_envelope(env)
        prepared.append((doc, sid, sign(env, key)))
    new = 0
    with in_tx(fabric) as tx:
        tx.lock("sig_outbox:publish_alpha")  # two publishers of one key take turns
        for doc, sid, env in prepared:
            if tx.scalar("SELECT 1 FROM sig_outbox WHERE dedupe_key = ?", (env["dedupe_key"],)):
                continue
            exists = tx.scalar("SELECT 1 FROM sig_strand WHERE id = ?", (sid,))
            if not exists:  # a given id (e.g. the signal_events window_id) becomes the strand's
                write_strand(tx, SENDER, "signal", id=sid, symbol=doc["symbol"], now=when,
                             fields=_strand_fields(doc))
            post_to_outbox(tx, SENDER, env, models_map=models_map)
            new += 1
    return new


def _strand_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "detector_id": doc["detector_id"], "horizon": doc["horizon"],
        "signal": float(doc["signal"]), "det_sigma": float(doc["det_sigma"]),
        "curated_sigma": float(doc["curated_sigma"]),
        "published": bool(doc["eligibility"]["publish"]),
        "eligibility": dict(doc["eligibility"]), "provenance": dict(doc["provenance"]),
    }
