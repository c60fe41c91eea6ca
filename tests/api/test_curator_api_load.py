"""~20 curators at once against one server: every accepted action is logged exactly once
(no lost or duplicated rows, a gap-free sequence), a candidate raced by all of them is decided
exactly once, and every response is an answer (201, or the 409 of the race), never a 5xx."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from lotus_api.app import ApiConfig
from lotus_api.pool import FabricPool
from lotus_api.server import serving_in_thread
from lotus_core.curators.config import CouncilConfig
from tests.kits.curator_api_kit import Api, make_registry, queue_cards

N_CURATORS = 20
NUDGES = 4  # per curator, on 5 detectors, values in [-0.08, 0.08]
CARDS = 5   # every curator tries to sign off every card


def test_concurrent_curators_lose_and_duplicate_nothing(
        fabric_sqlite_url: str, council: CouncilConfig, tmp_path: Path) -> None:
    names = {f"cur{i:02d}": ("leakage", "regime") for i in range(N_CURATORS)}
    pool = FabricPool(fabric_sqlite_url, size=4)
    cfg = ApiConfig(pool=pool, curators=make_registry(names), council=council)
    try:
        with serving_in_thread(cfg) as url:
            api = Api(url, cfg, pool)
            with api.owner_tx() as tx:
                cards = queue_cards(tx, CARDS)
            results: list[tuple[str, str, int, dict, float]] = []
            lock = threading.Lock()
            start = threading.Barrier(N_CURATORS)
            errors: list[BaseException] = []

            def curator(name: str, seed: int) -> None:
                rng = random.Random(seed)
                signer, nudger = api.client(name, "leakage"), api.client(name, "regime")
                plan = [("nudge", f"det_{rng.randrange(5)}", round(rng.uniform(-0.08, 0.08), 4))
                        for _ in range(NUDGES)] + [("sign_off", c, None) for c in cards]
                rng.shuffle(plan)
                start.wait()
                try:
                    for kind, target, value in plan:
                        t0 = time.perf_counter()
                        if kind == "nudge":
                            r = nudger.post(f"/detectors/{target}/nudge",
                                            {"value": value, "reason": f"{name} view"})
                        else:
                            r = signer.post(f"/candidates/{target}/sign-off",
                                            {"reason": f"{name} checked"})
                        dt = time.perf_counter() - t0
                        with lock:
                            results.append((name, kind, r.status_code, r.json(), dt))
                    assert nudger.get("/candidates", {"status": "all"}).status_code == 200
                except BaseException as exc:  # surfaced below, with the thread's name
                    errors.append(exc)
                finally:
                    signer.close()
                    nudger.close()

            threads = [threading.Thread(target=curator, args=(n, i), name=n)
                       for i, n in enumerate(names)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            wall = time.perf_counter() - t0
            assert not errors, errors[0]
            log = api.log()
            with api.owner_tx() as tx:
                decided = tx.query("SELECT item_id, status, decided_by FROM curator_candidates")
    finally:
        pool.close()

    statuses = Counter((kind, status) for _, kind, status, _, _ in results)
    assert set(statuses) <= {("nudge", 201), ("sign_off", 201), ("sign_off", 409)}, statuses
    assert statuses[("nudge", 201)] == N_CURATORS * NUDGES
    assert statuses[("sign_off", 201)] == CARDS  # each card decided once, by one curator
    assert statuses[("sign_off", 409)] == CARDS * (N_CURATORS - 1)

    accepted = [body for _, _, status, body, _ in results if status == 201]
    assert len(log) == len(accepted)  # nothing lost, nothing extra
    assert [r["seq"] for r in log] == list(range(1, len(log) + 1))  # no gap
    assert len({r["action_id"] for r in log}) == len(log)  # no duplicate
    assert {b["action_id"] for b in accepted} == {r["action_id"] for r in log}
    assert len({(r["curator_id"], r["nonce"]) for r in log}) == len(log)
    winners = {b["target_id"]: f"{b['curator_id']}/leakage" for b in accepted
               if b["action"] == "sign_off"}
    assert {d["item_id"]: d["decided_by"] for d in decided} == winners
    assert all(d["status"] == "signed_off" for d in decided)

    lat = np.array([dt for *_, dt in results]) * 1000
    print(f"\n{len(results)} actions by {N_CURATORS} curators in {wall:.2f} s "
          f"({len(results) / wall:.0f}/s); latency ms p50 {np.percentile(lat, 50):.1f} "
          f"p99 {np.percentile(lat, 99):.1f} (2 shared cores, under load)")
