"""The breeder posts its survivors to the Curator API's curator_candidates as the sig module
role, on a real PostgreSQL server with the fabric's and the curators' row-level
security applied: sig may insert only pending bred_detector items of the breeder and read
back only their item_id; a curator role then lists and decides them; a module without the
grant, or sig posting another kind, a decided item or reading the evidence, is refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from psycopg.errors import InsufficientPrivilege

from lotus_core.breeding import Candidate, Grammar, Harness
from lotus_core.breeding.night import candidate_items, tables
from lotus_core.curator_api.security import apply_curator_security
from lotus_core.curator_api.store import (
    decide_candidate,
    list_candidates,
    post_candidate,
    role_session,
)
from lotus_core.curators.config import load_curators
from lotus_core.fabric.connect import open_opsdb
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.security import apply_security
from lotus_core.store.connection import Tx
from lotus_core.store.opsdb import OpsDb
from tests.core.breeding.tape import absorption_spec, tape
from tests.core.fabric.test_module_security import as_user

pytestmark = pytest.mark.postgres
DAY = "2026-01-01"


@pytest.fixture(scope="module")
def survivor() -> dict:
    """A real bred survivor (the planted absorption edge judged by the harness), as the
    breeder's curator_candidates row."""
    planted, _ = tape(3, planted=True, coins=("BTC", "ETH"))
    verdicts = Harness(planted, Grammar()).dispose([Candidate(absorption_spec(), "composition")])
    assert verdicts[0].survived, verdicts[0].reason
    (item,) = candidate_items(tables(verdicts, DAY), DAY)
    assert item["kind"] == "bred_detector" and item["proposer"] == f"breeder:{DAY}"
    return item


@pytest.fixture
def fabric(fabric_pg_dsn: str) -> Iterator[tuple[OpsDb, Callable[[str], OpsDb]]]:
    """The owner (module and curator security applied) and a way to open it as a role."""
    opened: list[OpsDb] = []

    def connect(role: str) -> OpsDb:
        db = open_opsdb(as_user(fabric_pg_dsn, role), migrate=False)
        opened.append(db)
        return db

    with OpsDb.open(fabric_pg_dsn) as owner:
        apply_security(owner, registry=load_modules())
        apply_curator_security(owner, load_curators())
        # re-run after the curators' rules: both sets stand
        apply_security(owner, registry=load_modules())
        yield owner, connect
    for db in opened:
        db.close()


def _post(db: OpsDb, row: dict) -> bool:
    with db.transaction() as tx:
        return post_candidate(tx, **row)


def _denied(db: OpsDb, work: Callable[[Tx], object]) -> str:
    with pytest.raises(InsufficientPrivilege) as err, db.transaction() as tx:
        work(tx)
    return str(err.value)


def test_the_breeder_posts_a_survivor_as_sig_and_a_curator_lists_it(fabric, survivor) -> None:
    owner, connect = fabric
    sig = connect("lotus_sig")
    assert _post(sig, survivor) is True
    assert _post(sig, survivor) is False  # idempotent on item_id, as the nightly re-run needs
    with sig.transaction() as tx:  # its own proposal's key, and nothing else of it
        assert tx.query("SELECT item_id FROM curator_candidates") == [
            {"item_id": survivor["item_id"]}]
    with role_session(owner, "leakage") as tx:
        (listed,) = list_candidates(tx, kind="bred_detector")
    assert (listed["item_id"], listed["status"], listed["proposer"], listed["subject_id"]) == (
        survivor["item_id"], "pending", f"breeder:{DAY}", survivor["subject_id"])
    assert listed["detail"] == survivor["detail"] and listed["decided_by"] is None
    with role_session(owner, "leakage") as tx:
        assert decide_candidate(tx, survivor["item_id"], "sign_off", "alice/leakage") == "ok"


def test_a_role_without_the_grant_or_outside_it_is_refused(fabric, survivor) -> None:
    owner, connect = fabric
    for role in ("lotus_dm", "lotus_tr", "lotus_vis", "lotus_router"):
        assert "permission denied" in _denied(connect(role), lambda tx: post_candidate(
            tx, **survivor))
    sig = connect("lotus_sig")
    card = {**survivor, "item_id": "card:x:1", "kind": "detector_card",
            "proposer": f"detector_cards:{DAY}"}
    assert "row-level security" in _denied(sig, lambda tx: post_candidate(tx, **card))
    other = {**survivor, "item_id": "bred:y:1", "proposer": "learning:2026-01-01"}
    assert "row-level security" in _denied(sig, lambda tx: post_candidate(tx, **other))
    decided = ("INSERT INTO curator_candidates (item_id, kind, subject_id, proposer, detail,"
               " status) VALUES ('bred:z:1', 'bred_detector', 'z', 'breeder:x', '{}', ?)")
    assert "permission denied" in _denied(sig, lambda tx: tx.execute(decided, ("signed_off",)))
    assert _post(sig, survivor) is True
    _denied(sig, lambda tx: tx.query("SELECT detail, status FROM curator_candidates"))
    _denied(sig, lambda tx: tx.execute("UPDATE curator_candidates SET status = 'signed_off'"))
    _denied(sig, lambda tx: tx.execute("DELETE FROM curator_candidates"))
    with owner.transaction() as tx:
        assert tx.query("SELECT item_id, status FROM curator_candidates") == [
            {"item_id": survivor["item_id"], "status": "pending"}]
