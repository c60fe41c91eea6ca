"""The router's fault test: 10,000 posts with duplicates, reordering, expired TTLs, invalid
payloads and tampered signatures (seeded); the router runs as a real subprocess (`lotus
router run`) that is SIGKILLed at seeded random points and restarted until the outboxes
are drained. Then: every valid envelope reached each of its targets exactly once, every
faulty one is in dead_letter with the right reason, nothing is pending and nothing was lost.
On SQLite and on PostgreSQL; counts are printed (run with -s to see them)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import post_many_to_outbox
from lotus_core.fabric.signing import ensure_keys
from lotus_core.store.opsdb import OpsDb
from lotus_resources.router import LOTUS_MAIN
from tests.kits.fabric_faults import fault_plan

N_POSTS = 10_000
SEED = 20260105
MAX_KILLS = 15
KILL_PHASE_SEC = 35.0  # the kill-and-restart phase never runs longer than this
DRAIN_TIMEOUT_SEC = 45.0

pytestmark = pytest.mark.slow


def _count(fabric: OpsDb, sql: str, params: tuple = ()) -> int:
    with fabric.transaction() as tx:
        return int(tx.scalar(sql, params))


def _settled(fabric: OpsDb) -> int:
    return sum(_count(fabric, f"SELECT COUNT(*) FROM {m}_outbox WHERE status <> 'pending'")
               for m in MODULES)


def _pending(fabric: OpsDb) -> int:
    return sum(_count(fabric, f"SELECT COUNT(*) FROM {m}_outbox WHERE status = 'pending'")
               for m in MODULES)


def test_router_survives_sigkill_and_delivers_exactly_once(
    fabric_url: str, tmp_path: Path
) -> None:
    t_start = time.monotonic()
    ensure_keys(MODULES, tmp_path / "keys")
    keys = Keyring(tmp_path / "keys")
    plan = fault_plan(N_POSTS, seed=SEED, keys=keys, now=datetime.now(UTC))
    with OpsDb.open(fabric_url) as owner:
        for module, envs in plan.batches():
            post_many_to_outbox(owner, module, envs, validate=False, models_map=load_modules().map)
        assert _pending(owner) == plan.rows
    t_posted = time.monotonic()

    cmd = [sys.executable, "-c", LOTUS_MAIN, "router", "run", "--fabric-url", fabric_url,
           "--key-dir", str(keys.key_dir), "--batch-size", "250", "--lease-sec", "2",
           "--name", "herald-fault", "--json"]
    env = {**os.environ, "LOTUS_HOME": str(tmp_path / "home")}
    rng = random.Random(SEED)
    kills = kills_mid_routing = 0
    with OpsDb.open(fabric_url) as watch:
        deadline = time.monotonic() + KILL_PHASE_SEC
        while kills < MAX_KILLS and time.monotonic() < deadline and _pending(watch):
            before = _settled(watch)
            proc = subprocess.Popen([*cmd, "--seconds", "30"], env=env, cwd=tmp_path,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:  # kill at a seeded random point of its progress once it routes: a point
                # in rows, not seconds, so a fast machine cannot drain everything in a few
                # lives (at most rows/12 each, plus what it routes between two polls)
                started = time.monotonic()
                target = before + rng.randint(1, plan.rows // 12)
                while _settled(watch) < target and time.monotonic() - started < 15:
                    time.sleep(0.01)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            kills += 1
            if _settled(watch) > before and _pending(watch):
                kills_mid_routing += 1
        t_killed = time.monotonic()
        final = subprocess.run([*cmd, "--until-idle", "--seconds", str(DRAIN_TIMEOUT_SEC)],
                               env=env, cwd=tmp_path, capture_output=True, text=True,
                               timeout=DRAIN_TIMEOUT_SEC + 15)
        assert final.returncode == 0, final.stderr[-3000:]
    t_drained = time.monotonic()

    with OpsDb.open(fabric_url) as f, f.transaction() as tx:
        outbox = {}
        for m in MODULES:
            for r in tx.query(f"SELECT event_id, status FROM {m}_outbox"):
                outbox[r["event_id"]] = r["status"]
        inbox: dict[str, Counter[str]] = {}
        for m in MODULES:
            inbox[m] = Counter(r["event_id"] for r in tx.query(f"SELECT event_id FROM {m}_inbox"))
        dead = [(r["event_id"], r["module"], r["reason"])
                for r in tx.query("SELECT event_id, module, reason FROM dead_letter")]
        ledger = int(tx.scalar("SELECT COUNT(*) FROM lotus_ledger WHERE ref_table LIKE '%_inbox'"))
        leases = int(tx.scalar("SELECT COUNT(*) FROM router_lease"))  # none left behind

    inbox_rows = sum(sum(c.values()) for c in inbox.values())
    dead_by_reason = Counter(reason for _, _, reason in dead)
    print(f"\n[{f.dialect}] posts {len(plan.posts):,} -> outbox rows {plan.rows:,}; kinds "
          f"{dict(sorted(plan.kinds.items()))}\n"
          f"[{f.dialect}] router SIGKILLed {kills} times ({kills_mid_routing} while routing), "
          f"then drained: {final.stdout.strip()}\n"
          f"[{f.dialect}] outbox processed {sum(s == 'processed' for s in outbox.values()):,}, "
          f"failed {sum(s == 'failed' for s in outbox.values()):,}, pending "
          f"{sum(s == 'pending' for s in outbox.values())}; inbox rows {inbox_rows:,} "
          f"(expected {plan.expected_inbox_rows():,}); dead letters {dict(dead_by_reason)}\n"
          f"[{f.dialect}] seconds: post {t_posted - t_start:.1f}, kill phase "
          f"{t_killed - t_posted:.1f}, final drain {t_drained - t_killed:.1f}, total "
          f"{time.monotonic() - t_start:.1f}")

    # Nothing lost, nothing pending: every outbox row ended processed or failed as planned.
    assert len(outbox) == plan.rows
    for event_id in plan.deliver:
        assert outbox[event_id] == "processed", event_id
    for event_id in plan.expected_dead:
        assert outbox[event_id] == "failed", event_id
    # Every faulty envelope: one dead letter with the right reason, in no inbox.
    assert sorted(dead) == sorted((e, box, why) for e, (box, why) in plan.expected_dead.items())
    for m in MODULES:
        assert not set(inbox[m]) & set(plan.expected_dead), m
        assert set(inbox[m].values()) <= {1}, f"{m}_inbox holds an event twice"
    # Every valid envelope reached each target exactly once (a dedupe pair: one of the two).
    paired = {e for pair in plan.dedupe_pairs.values() for e in pair}
    for event_id, targets in plan.deliver.items():
        if event_id not in paired:
            for t in targets:
                assert inbox[t][event_id] == 1, (event_id, t)
    for key, (a, b) in plan.dedupe_pairs.items():
        for t in plan.deliver[a]:
            assert inbox[t][a] + inbox[t][b] == 1, (key, t)
    assert inbox_rows == plan.expected_inbox_rows() == ledger
    assert leases == 0
    assert kills >= 5 and kills_mid_routing >= 3, (kills, kills_mid_routing)
