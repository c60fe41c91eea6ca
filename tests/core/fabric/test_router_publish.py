"""publish_alpha: sigbus documents leave sig as signed ALPHA_PROPOSED envelopes through
sig_outbox, with their sig_strand window, idempotently; the router delivers them to dm."""

from __future__ import annotations

from pathlib import Path

import pytest

from lotus_core.fabric.envelope import EnvelopeError
from lotus_core.fabric.examples import example_payload
from lotus_core.fabric.inbox import read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.publish import alpha_dedupe_key, publish_alpha
from lotus_core.fabric.router import route_once
from lotus_core.fabric.signing import ensure_keys, verify
from lotus_core.fabric.strands import read_strand, write_strand
from lotus_core.store.opsdb import OpsDb


@pytest.fixture
def keys(tmp_path: Path) -> Keyring:
    ensure_keys(MODULES, tmp_path / "keys")
    return Keyring(tmp_path / "keys")


def docs(*indices: int) -> list[dict]:
    return [example_payload("ALPHA_PROPOSED", i)["sigbus"] for i in indices]


def test_publish_alpha_posts_signed_envelopes_once(fabric: OpsDb, keys: Keyring) -> None:
    assert publish_alpha(fabric, docs(1, 2, 3), keys, models_map=load_modules().map) == 3
    rows = read_outbox(fabric, "sig")
    assert [r.intent for r in rows] == ["ALPHA_PROPOSED"] * 3
    for row, doc in zip(rows, docs(1, 2, 3), strict=True):
        env = row.envelope
        assert verify(env, keys.public_keys()) and env["to"] == ["dm"]
        assert env["payload"]["sigbus"] == doc and env["dedupe_key"] == alpha_dedupe_key(doc)
        window = read_strand(fabric, "sig", env["payload"]["strand_id"])
        assert window["kind"] == "signal" and window["lifecycle_id"] == env["lifecycle_id"]
        assert window["detector_id"] == doc["detector_id"] and window["published"] is True
        assert window["signal"] == pytest.approx(doc["signal"])
    # Re-publishing (a re-materialised partition) adds nothing; a new as-of time does.
    assert publish_alpha(fabric, docs(1, 2, 3), keys.private_key("sig"),
                         models_map=load_modules().map) == 0
    later = {**docs(1)[0], "asof_ts": "2025-01-26T12:05:00.000Z"}
    assert publish_alpha(fabric, [later], keys, models_map=load_modules().map) == 1
    assert len(read_outbox(fabric, "sig")) == 4
    stats = route_once(fabric, keys)
    assert stats.routed == 4 and stats.dead == {}
    assert len(read_inbox(fabric, "dm")) == 4


def test_publish_alpha_refuses_bad_documents_before_writing(
    fabric: OpsDb, keys: Keyring
) -> None:
    bad = {**docs(5)[0], "signal": 1.5}
    with pytest.raises(EnvelopeError, match=r"sigbus.signal: 1.5 is greater than the maximum"):
        publish_alpha(fabric, [*docs(4), bad], keys, models_map=load_modules().map)
    assert read_outbox(fabric, "sig") == []
    given = "01JJJJJJJJJJJJJJJJJJJJJJJJ"  # a window id with no strand yet: the strand is written
    assert publish_alpha(fabric, [{"sigbus": docs(7)[0], "strand_id": given}], keys,
                         models_map=load_modules().map) == 1
    assert read_strand(fabric, "sig", given) is not None
    window = write_strand(fabric, "sig", "signal", fields={"detector_id": "breakout_v1"})
    assert publish_alpha(fabric, [{"sigbus": docs(6)[0], "strand_id": window}], keys,
                         models_map=load_modules().map) == 1
    row = read_outbox(fabric, "sig")[-1]
    assert row.envelope["payload"]["strand_id"] == row.envelope["lifecycle_id"] == window
