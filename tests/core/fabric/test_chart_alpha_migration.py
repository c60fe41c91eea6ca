"""Migration 0009 (the intent CHART_ALPHA): a fabric built up to 0008 refuses a CHART_ALPHA
row, keeps its rows through 0009 and accepts one after it, in every box and dead_letter,
on the connection that migrated and on a new one; any other unknown intent is still
refused. 0002 renders as it did (its recorded checksum is unchanged), on both backends."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from lotus_core.fabric import dead_letter as dl
from lotus_core.fabric.ddl import modules_ddl
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.examples import example_envelope
from lotus_core.fabric.inbox import deliver_to_inbox, read_inbox
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import post_to_outbox, read_outbox
from lotus_core.store.migrations import default_sql_dir
from lotus_core.store.opsdb import OpsDb


def _up_to_8(tmp_path: Path, dialect: str) -> Path:
    root = tmp_path / "sql"
    (root / dialect).mkdir(parents=True)
    for p in sorted((default_sql_dir() / dialect).glob("*.sql")):
        if int(p.name[:4]) <= 8:
            shutil.copy(p, root / dialect / p.name)
    return root


def test_0009_lets_every_box_and_dead_letter_hold_a_chart_alpha(
        fabric_url: str, tmp_path: Path) -> None:
    dialect = "postgres" if fabric_url.startswith("postgres") else "sqlite"
    routes = load_modules().map
    chart = example_envelope("vis", "CHART_ALPHA", 1)
    bogus = {**example_envelope("vis", "CHART_ALPHA", 2), "intent": "NOT_AN_INTENT"}
    with OpsDb.open(fabric_url, _up_to_8(tmp_path, dialect)) as old:
        assert old.schema_version() == 8
        post_to_outbox(old, "sig", example_envelope("sig", "ALPHA_PROPOSED", 1),
                       models_map=routes)
        with pytest.raises(Exception, match="(?i)check"):
            post_to_outbox(old, "vis", chart, models_map=routes, validate=False)
    with OpsDb.open(fabric_url) as fabric:  # 0009 applied by this open, then used at once
        assert fabric.schema_version() >= 9
        with fabric.transaction() as tx:
            recorded = tx.scalar("SELECT sha256 FROM schema_version WHERE version = 2")
        assert recorded == hashlib.sha256(modules_ddl(dialect).encode()).hexdigest()
        assert len(read_outbox(fabric, "sig", limit=10, pending_only=False)) == 1
        post_to_outbox(fabric, "vis", chart, models_map=routes)
        with fabric.transaction() as tx:
            assert deliver_to_inbox(tx, "dm", chart, models_map=routes)
        for m in MODULES:  # every outbox (validate=False: as a relay or a fault would)
            if m != "vis":
                env = build_envelope(sender=m, to=["dm"], intent="CHART_ALPHA",
                                     payload=chart["payload"])
                post_to_outbox(fabric, m, env, models_map=routes, validate=False)
        dl.record_dead_letter(fabric, module="dm", reason=dl.HANDLER_ERROR, envelope=chart)
        with pytest.raises(Exception, match="(?i)check"):
            post_to_outbox(fabric, "vis", bogus, models_map=routes, validate=False)
    with OpsDb.open(fabric_url) as again:  # a new connection sees the wider check too
        assert [r.intent for r in read_inbox(again, "dm", limit=10)] == ["CHART_ALPHA"]
        assert dl.count_dead_letters(again) == {("dm", dl.HANDLER_ERROR): 1}
        with pytest.raises(Exception, match="(?i)check"):
            post_to_outbox(again, "vis", bogus, models_map=routes, validate=False)
