"""lotus_ledger mirrors every strand and inbox row, in the same transaction, on both
backends: after any mix of inserts, updates, deletes and rolled-back transactions the
ledger and the tables never disagree."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lotus_core.fabric.codec import json_out, ts_out
from lotus_core.fabric.examples import example_envelope
from lotus_core.fabric.inbox import deliver_to_inbox, mark_consumed, mark_failed, retry_inbox_later
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import post_to_outbox
from lotus_core.fabric.strands import update_strand, write_strand
from lotus_core.fabric.ulid import UlidFactory
from lotus_core.store.connection import Tx
from lotus_core.store.opsdb import OpsDb

T0 = datetime(2025, 1, 26, 12, tzinfo=UTC)
PRIORITY = {"WATCHDOG_ALERT": 2, "PRIOR_PATCH": 1, "PRIOR_PATCH_APPLIED": 1}
FIELDS = ("module", "kind", "ref_table", "ref_id", "lifecycle_id", "parent_id", "symbol",
          "timeframe", "session_bucket", "regime", "tags", "priority", "ttl", "retry_count",
          "status", "created_at", "processed_at")


class Boom(Exception):
    pass


def ids(seed: int) -> UlidFactory:
    return UlidFactory(lambda: T0.timestamp(), random.Random(seed).randbytes)


def expected_ledger(tx: Tx) -> dict[str, dict[str, Any]]:
    """What the ledger must hold, computed from the module tables alone."""
    out: dict[str, dict[str, Any]] = {}
    for m in MODULES:
        for r in tx.query(f"SELECT * FROM {m}_strand"):
            out[f"{m}_strand:{r['id']}"] = {
                "module": r["module"], "kind": r["kind"], "ref_table": f"{m}_strand",
                "ref_id": r["id"], "lifecycle_id": r["lifecycle_id"], "parent_id": r["parent_id"],
                "symbol": r["symbol"], "timeframe": r["timeframe"],
                "session_bucket": r["session_bucket"], "regime": r["regime"], "tags": [],
                "priority": 0, "ttl": None, "retry_count": 0, "status": "recorded",
                "created_at": ts_out(r["created_at"]), "processed_at": None,
            }
        for r in tx.query(f"SELECT * FROM {m}_inbox"):
            out[f"{m}_inbox:{r['event_id']}"] = {
                "module": m, "kind": r["intent"], "ref_table": f"{m}_inbox",
                "ref_id": r["event_id"], "lifecycle_id": r["lifecycle_id"],
                "parent_id": r["parent_id"], "symbol": None, "timeframe": None,
                "session_bucket": None, "regime": None,
                "tags": [*json_out(r["tags"]), f"from:{r['from_module']}"],
                "priority": PRIORITY.get(r["intent"], 0), "ttl": r["ttl_sec"],
                "retry_count": r["attempts"], "status": r["status"],
                "created_at": ts_out(r["created_at"]), "processed_at": ts_out(r["consumed_at"]),
            }
    return out


def actual_ledger(tx: Tx) -> dict[str, dict[str, Any]]:
    rows = tx.query(f"SELECT ledger_id, {', '.join(FIELDS)} FROM lotus_ledger")
    out = {}
    for r in rows:
        r["tags"] = json_out(r["tags"])
        r["created_at"] = ts_out(r["created_at"])
        r["processed_at"] = ts_out(r["processed_at"])
        out[r.pop("ledger_id")] = r
    return out


def assert_agree(fabric: OpsDb) -> int:
    with fabric.transaction() as tx:
        want, have = expected_ledger(tx), actual_ledger(tx)
    assert have == want
    return len(have)


def test_strand_rows_are_mirrored_on_insert_update_delete(fabric: OpsDb) -> None:
    sid = write_strand(fabric, "sig", "signal", symbol="BTC", timeframe="5m", regime="trend",
                       fields={"detector_id": "breakout_v3", "signal": 0.4, "det_sigma": 0.6,
                               "published": True}, now=T0, new_id=ids(1))
    with fabric.transaction() as tx:
        (row,) = actual_ledger(tx).values()
    assert row["module"] == "sig" and row["kind"] == "signal" and row["ref_id"] == sid
    assert (row["ref_table"], row["status"], row["symbol"]) == ("sig_strand", "recorded", "BTC")
    assert row["lifecycle_id"] == sid and row["created_at"] == T0
    assert update_strand(fabric, "sig", sid, kind="outcome", regime="chop",
                         fields={"outcomes": {"status": "filled"}})
    assert assert_agree(fabric) == 1
    with fabric.transaction() as tx:
        tx.execute("DELETE FROM sig_strand WHERE id = ?", (sid,))
    assert assert_agree(fabric) == 0


def test_inbox_rows_are_mirrored_with_their_delivery_state(fabric: OpsDb) -> None:
    env = example_envelope("dm", "PRIOR_PATCH", 3, new_id=ids(2), tags=["asset:BTC"])
    with fabric.transaction() as tx:
        assert deliver_to_inbox(tx, "tr", env, models_map=load_modules().map)
        # a redelivery adds nothing anywhere
        assert not deliver_to_inbox(tx, "tr", env, models_map=load_modules().map)
    with fabric.transaction() as tx:
        (row,) = actual_ledger(tx).values()
    assert (row["module"], row["kind"], row["ref_table"]) == ("tr", "PRIOR_PATCH", "tr_inbox")
    assert row["tags"] == ["asset:BTC", "from:dm"] and row["priority"] == 1
    assert (row["status"], row["retry_count"], row["ttl"]) == ("pending", 0, 600)
    with fabric.transaction() as tx:
        retry_inbox_later(tx, "tr", 1, "busy", T0 + timedelta(seconds=5))
        retry_inbox_later(tx, "tr", 1, "busy", T0 + timedelta(seconds=9))
    with fabric.transaction() as tx:
        assert mark_consumed(tx, "tr", 1, now=T0 + timedelta(seconds=10))
    with fabric.transaction() as tx:
        (row,) = actual_ledger(tx).values()
    assert (row["status"], row["retry_count"]) == ("processed", 2)
    assert row["processed_at"] == T0 + timedelta(seconds=10)
    assert assert_agree(fabric) == 1


def test_outbox_rows_are_not_in_the_ledger(fabric: OpsDb) -> None:
    post_to_outbox(fabric, "sig", example_envelope("sig", "ALPHA_PROPOSED", new_id=ids(3)),
                   models_map=load_modules().map)
    assert assert_agree(fabric) == 0  # the envelope enters the ledger when delivered


def test_a_rolled_back_transaction_leaves_neither_row_nor_ledger(fabric: OpsDb) -> None:
    env = example_envelope("tr", "EXEC_REPORT", 1, new_id=ids(4))
    with pytest.raises(Boom), fabric.transaction() as tx:
        write_strand(tx, "tr", "execution", fields={"exec_status": "filled"}, new_id=ids(5))
        deliver_to_inbox(tx, "dm", env, models_map=load_modules().map)
        deliver_to_inbox(tx, "sig", env, models_map=load_modules().map)
        assert len(actual_ledger(tx)) == 3  # visible inside the transaction...
        raise Boom
    with fabric.transaction() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM tr_strand") == 0
        assert tx.scalar("SELECT COUNT(*) FROM dm_inbox") == 0
    assert assert_agree(fabric) == 0  # ...and gone with it


def test_ledger_never_disagrees_under_random_work(fabric: OpsDb) -> None:
    rng = random.Random(20250126)
    new_id = ids(6)
    routes = [(s, t, i) for s, ts in load_modules().map.may_tag.items()
              for t, intents in ts.items() for i in sorted(intents)]
    kinds = {m: load_modules().modules[m].strand_kinds for m in MODULES}
    strands: list[tuple[str, str]] = []
    inbox: list[tuple[str, int]] = []
    committed_batches = 0
    for batch in range(60):
        rollback = rng.random() < 0.3
        try:
            with fabric.transaction() as tx:
                for _ in range(rng.randint(1, 6)):
                    op = rng.random()
                    if op < 0.35 or not strands:
                        m = rng.choice(MODULES)
                        sid = write_strand(tx, m, rng.choice(kinds[m]), symbol=rng.choice(
                            ["BTC", "ETH", None]), lifecycle_id=rng.choice([None, "L-1"]),
                            new_id=new_id)
                        strands.append((m, sid))
                    elif op < 0.7:
                        sender, target, intent = rng.choice(routes)
                        env = example_envelope(sender, intent, batch, to=[target], new_id=new_id,
                                               tags=rng.choice([[], ["asset:ETH"]]))
                        deliver_to_inbox(tx, target, env, models_map=load_modules().map)
                        seq = tx.scalar(f"SELECT MAX(seq) FROM {target}_inbox")
                        inbox.append((target, seq))
                    elif op < 0.8:
                        m, sid = rng.choice(strands)
                        update_strand(tx, m, sid, regime=rng.choice(["trend", "chop"]))
                    elif op < 0.95 and inbox:
                        m, seq = rng.choice(inbox)
                        what = rng.randrange(3)
                        if what == 0:
                            mark_consumed(tx, m, seq)
                        elif what == 1:
                            mark_failed(tx, m, seq, "handler said no")
                        else:
                            retry_inbox_later(tx, m, seq, "later", T0)
                    else:
                        m, sid = rng.choice(strands)
                        tx.execute(f"DELETE FROM {m}_strand WHERE id = ?", (sid,))
                if rollback:
                    raise Boom
            committed_batches += 1
        except Boom:
            pass
    assert committed_batches > 30
    assert assert_agree(fabric) > 50
