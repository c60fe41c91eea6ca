"""An execution report from the real Trader reaches sig and labels its signal window: the
TraderEngine executes a ticket, `persist` writes the signed EXEC_REPORT (exec-report-1.0)
to tr_outbox, the real router delivers it to sig's inbox, and sig's handler
(`link_exec_report`) writes the outcome strand linked to the window (SQLite and
PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lotus_core.fabric.contracts import first_error
from lotus_core.fabric.handlers import handle_row
from lotus_core.fabric.inbox import read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.router import route_once
from lotus_core.fabric.signing import ensure_keys, verify
from lotus_core.fabric.strands import read_strand, write_strand
from lotus_core.store.opsdb import OpsDb
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.store import persist
from tests.core.trader.trader_kit import T0, book, kinds, settings, ticket

LIFE = "01JLIFECYCLE0000000000000A"


@pytest.fixture
def keys(tmp_path: Path) -> Keyring:
    ensure_keys(MODULES, tmp_path / "keys")
    return Keyring(tmp_path / "keys")


def test_a_trader_exec_report_is_linked_to_its_signal_window(fabric: OpsDb, keys: Keyring):
    with fabric.transaction() as tx:
        window = write_strand(tx, "sig", "signal", lifecycle_id=LIFE, symbol="BTC",
                              fields={"signal": 0.4})
    eng = TraderEngine(settings(), triggers=None)
    eng.on_book(book(T0 - 1000, [(99_999, 5.0)], [(100_001, 5.0)]))
    outs = eng.on_decision(ticket("d-link", 0.2), T0)
    outs += eng.advance(T0 + 5_000)
    (report,) = kinds(outs, "exec_report")
    assert report["status"] == "filled"
    with fabric.transaction() as tx:
        persist(tx, outs, keys.private_key("tr"), {"d-link": LIFE},
                models_map=load_modules().map)
    sent = [r.envelope for r in read_outbox(fabric, "tr") if r.intent == "EXEC_REPORT"]
    (env,) = sent
    assert env["to"] == ["dm", "sig"] and env["lifecycle_id"] == LIFE
    assert env["priors_ver"] == "tr:v0" and verify(env, keys.public_keys())
    assert first_error("urn:lotus:schema:exec-report-1.0", env["payload"], "payload") is None

    route_once(fabric, keys)
    (row,) = [r for r in read_inbox(fabric, "sig") if r.envelope["intent"] == "EXEC_REPORT"]
    assert row.envelope["event_id"] == env["event_id"]
    done = handle_row(fabric, "sig", row.seq, keys, models_map=load_modules().map)
    assert done.status == "consumed", done
    with fabric.transaction() as tx:
        outcome = read_strand(tx, "sig", env["event_id"])
        labelled = read_strand(tx, "sig", window)
    assert outcome is not None and outcome["kind"] == "outcome"
    assert outcome["parent_id"] == window and outcome["lifecycle_id"] == LIFE
    assert outcome["outcomes"]["execution_id"] == report["execution_id"]
    assert outcome["outcomes"]["status"] == "filled"
    assert labelled["outcomes"]["execution_id"] == report["execution_id"]
    assert labelled["outcomes"]["n_reports"] == 1
    # handled once: the row is consumed, a second pass finds nothing to do
    again = handle_row(fabric, "sig", row.seq, keys, models_map=load_modules().map)
    assert again.status == "skipped"
