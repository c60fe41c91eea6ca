# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""The Herald router: throughput (envelopes delivered per second, schema, hash and ed25519
checks included) with one and two router processes, and inbox-to-sensor latency, on SQLite
and on PostgreSQL in one run; the signature check alone is the floor.

Usage: python -m bench router [--n 20000] [--workers 1,2] [--pg-dsn postgresql://...]
PostgreSQL: a throw-away database on the server of --pg-dsn / $LOTUS_BENCH_PG_DSN
(default postgresql://postgres@127.0.0.1:5432/postgres), dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.report import headline, write_section

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def _envelopes(n: int, key_dir: Path) -> list[tuple[str, dict]]:
    """`n` valid, signed envelopes over every route of the map (round robin)."""
    from lotus_core.fabric.examples import example_envelope
    from lotus_core.fabric.keyring import Keyring
    from lotus_core.fabric.manifests import load_modules
    from lotus_core.fabric.names import MODULES
    from lotus_core.fabric.signing import sign

    keys = Keyring(key_dir)
    m = load_modules().map
    routes = [(s, i) for s in MODULES for i in sorted({x for ts in m.may_tag.get(s, {}).values()
                                                        for x in ts})]
    out = []
    for k in range(n):
        sender, intent = routes[k % len(routes)]
        env = example_envelope(sender, intent, k, ttl_sec=86_400)
        out.append((sender, sign(env, keys.private_key(sender))))
    return out


def phase_floor(key_dir: Path, n: int) -> dict:
    """Per-envelope cost of verify() alone, and of the router's whole check."""
    from lotus_core.fabric.keyring import Keyring
    from lotus_core.fabric.manifests import load_modules
    from lotus_core.fabric.router import check_envelope
    from lotus_core.fabric.signing import verify

    envs = _envelopes(n, key_dir)
    public = Keyring(key_dir).public_keys()
    t0 = time.perf_counter()
    ok = sum(verify(e, public) for _, e in envs)
    t1 = time.perf_counter()
    models_map, now = load_modules().map, datetime.now(UTC)
    good = sum(check_envelope(s, e, public, models_map, now)[0] is None for s, e in envs)
    t2 = time.perf_counter()
    assert ok == good == n
    return {"n": n, "verify_s": t1 - t0, "check_s": t2 - t1}


def phase_worker(url: str, key_dir: Path, start_at: float, name: str, batch: int) -> dict:
    """One router process: wait for the common start, drain, report its share."""
    from lotus_core.fabric.connect import open_opsdb
    from lotus_core.fabric.contracts import contracts
    from lotus_core.fabric.keyring import Keyring
    from lotus_core.fabric.manifests import load_modules
    from lotus_core.fabric.router import RouterConfig, run_router

    keys = Keyring(key_dir)
    keys.public_keys()
    contracts(), load_modules()  # compiled and cached before the clock starts
    with open_opsdb(url, migrate=False) as fabric:
        backend = None
        if fabric.dialect == "postgres":  # its server process, to count the server's CPU
            with fabric.transaction() as tx:
                backend = int(tx.scalar("SELECT pg_backend_pid()"))
        time.sleep(max(0.0, start_at - time.time()))
        t0, cpu0, db0 = time.time(), time.process_time(), _proc_cpu_s(backend)
        total = run_router(fabric, keys, until_idle=True, max_seconds=300,
                           config=RouterConfig(name=name, batch_size=batch, idle_sleep_sec=0.02))
        t1, cpu1, db1 = time.time(), time.process_time(), _proc_cpu_s(backend)
    return {"routed": total.routed, "delivered": total.delivered, "t0": t0, "t1": t1,
            "dead": total.dead_total, "cpu_s": cpu1 - cpu0, "check_cpu_s": total.check_cpu_s,
            "db_cpu_s": None if backend is None else db1 - db0}


def _proc_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of process `pid` so far (a PostgreSQL backend on this host)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> float:
    """The 1-minute load average: other work on the machine shares its cores with the run."""
    return os.getloadavg()[0]


def _fresh_pg(server: str) -> tuple[str, str]:
    import psycopg

    name = f"lotus_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}")), name


def _drop_pg(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure_throughput(url: str, envs: list[tuple[str, dict]], key_dir: Path, workers: int,
                       batch: int) -> dict:
    from lotus_core.fabric.manifests import load_modules
    from lotus_core.fabric.outbox import post_many_to_outbox
    from lotus_core.store.opsdb import OpsDb

    models_map = load_modules().map
    with OpsDb.open(url) as fabric:
        per: dict[str, list[dict]] = {}
        for sender, env in envs:
            per.setdefault(sender, []).append(env)
        for sender, batch_envs in per.items():
            for i in range(0, len(batch_envs), 5000):
                post_many_to_outbox(fabric, sender, batch_envs[i : i + 5000],
                                    models_map=models_map)
    start_at = time.time() + 4.0  # every worker has imported and connected by then
    load_before = _load()
    procs = [subprocess.Popen([sys.executable, "-m", "bench.router", "--phase", "worker",
                               "--url", url, "--key-dir", str(key_dir), "--start-at",
                               str(start_at), "--name", f"bench-{k}", "--batch", str(batch)],
                              stdout=subprocess.PIPE, text=True)
             for k in range(workers)]
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"router worker failed ({p.returncode})")
        results.append(json.loads(out))
    routed = sum(r["routed"] for r in results)
    wall = max(r["t1"] for r in results) - min(r["t0"] for r in results)
    assert routed == len(envs) and not any(r["dead"] for r in results), results
    db_cpu = [r["db_cpu_s"] for r in results if r["db_cpu_s"] is not None]
    return {"workers": workers, "routed": routed,
            "delivered": sum(r["delivered"] for r in results), "seconds": wall,
            "per_worker": [r["routed"] for r in results],
            "router_cpu_s": sum(r["cpu_s"] for r in results),
            "check_cpu_s": sum(r["check_cpu_s"] for r in results),
            "db_cpu_s": sum(db_cpu) if db_cpu else 0.0,
            "load": max(load_before, _load())}


def measure_latency(url: str, key_dir: Path, samples: int) -> dict:
    """Inbox insert (committed) -> the inbox sensor's evaluation that requests its run, with
    build_sensor_context evaluations back to back (the daemon adds its tick interval)."""
    import dagster as dg

    from lotus_core.fabric.examples import example_envelope
    from lotus_core.fabric.inbox import deliver_to_inbox
    from lotus_core.fabric.keyring import Keyring
    from lotus_core.fabric.manifests import load_modules
    from lotus_core.fabric.signing import sign
    from lotus_core.store.opsdb import OpsDb
    from lotus_resources.opsdb import OpsDbResource
    from lotus_sensors.inbox import INBOX_SENSORS

    keys, models_map = Keyring(key_dir), load_modules().map
    sensor = INBOX_SENSORS["sig"]
    resources = {"fabric": OpsDbResource(url=url)}
    inserted: dict[str, float] = {}
    seen: dict[str, float] = {}
    rng = random.Random(5)
    envs = [sign(example_envelope("sig", "WATCHDOG_ALERT", 100_000 + i, ttl_sec=86_400),
                 keys.private_key("sig")) for i in range(samples)]

    def writer() -> None:
        with OpsDb.open(url) as fabric:
            for env in envs:
                time.sleep(rng.uniform(0.02, 0.12))
                with fabric.transaction() as tx:
                    tx.lock("sig_inbox")
                    deliver_to_inbox(tx, "sig", env, models_map=models_map)
                inserted[env["event_id"]] = time.perf_counter()

    tick_s = []
    with dg.DagsterInstance.ephemeral() as instance:
        with OpsDb.open(url) as fabric, fabric.transaction() as tx:
            cursor = None if not tx.scalar("SELECT MAX(seq) FROM sig_inbox") else str(
                tx.scalar("SELECT MAX(seq) FROM sig_inbox"))
        t = threading.Thread(target=writer)
        t.start()
        deadline = time.monotonic() + 120
        while len(seen) < samples and time.monotonic() < deadline:
            ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
            t0 = time.perf_counter()
            data = sensor.evaluate_tick(ctx)
            t1 = time.perf_counter()
            tick_s.append(t1 - t0)
            for r in data.run_requests:
                seen.setdefault(r.run_key, t1)
            cursor = data.cursor
        t.join(timeout=60)
    lat = sorted(seen[e] - inserted[e] for e in seen if e in inserted)
    return {"samples": len(lat), "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))], "max_ms": 1000 * lat[-1],
            "tick_p50_ms": 1000 * statistics.median(tick_s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20_000, help="envelopes per throughput run")
    ap.add_argument("--workers", default="1,2", help="router process counts to measure")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--samples", type=int, default=60, help="latency samples per backend")
    ap.add_argument("--pg-dsn", default=os.environ.get("LOTUS_BENCH_PG_DSN", DEFAULT_PG))
    ap.add_argument("--phase", choices=["worker"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--key-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--name", help=argparse.SUPPRESS)
    args, _ = ap.parse_known_args()  # `python -m bench quick` passes every benchmark the same flags
    if args.phase == "worker":
        print(json.dumps(phase_worker(args.url, args.key_dir, args.start_at, args.name,
                                      args.batch)))
        return
    from lotus_core.fabric.names import MODULES
    from lotus_core.fabric.signing import ensure_keys
    from lotus_core.store.url import sqlite_url

    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="lotus-bench-router-") as tmp:
        key_dir = Path(tmp) / "keys"
        ensure_keys(MODULES, key_dir)
        floor = phase_floor(key_dir, 3000)
        floor["load"] = _load()
        print(f"floor: {json.dumps(floor)}", file=sys.stderr)
        envs = _envelopes(args.n, key_dir)
        results: dict[str, dict] = {}
        for backend in ("sqlite", "postgres"):
            rows = []
            for w in workers:
                if backend == "sqlite":
                    url, drop = sqlite_url(Path(tmp) / f"router-{w}.sqlite"), None
                else:
                    url, drop = _fresh_pg(args.pg_dsn)
                try:
                    r = measure_throughput(url, envs, key_dir, w, args.batch)
                finally:
                    if drop:
                        _drop_pg(args.pg_dsn, drop)
                print(f"{backend} x{w}: {r['routed'] / r['seconds']:,.0f}/s {json.dumps(r)}",
                      file=sys.stderr)
                rows.append(r)
            if backend == "sqlite":
                url, drop = sqlite_url(Path(tmp) / "latency.sqlite"), None
            else:
                url, drop = _fresh_pg(args.pg_dsn)
            try:
                from lotus_core.store.opsdb import OpsDb

                OpsDb.open(url).close()
                lat = measure_latency(url, key_dir, args.samples)
            finally:
                if drop:
                    _drop_pg(args.pg_dsn, drop)
            print(f"{backend} latency: {json.dumps(lat)}", file=sys.stderr)
            results[backend] = {"throughput": rows, "latency": lat}
    body = _report(floor, results, args)
    write_section("router", body)
    headline("router", *_headline(results))
    print(body)


def _headline(results: dict) -> tuple[str, str]:
    """(figure, spread): each backend's best wall rate and its capacity (cores / CPU an
    envelope of its 1-process run)."""
    cores = os.cpu_count() or 1
    parts, rates, loads = [], [], []
    for backend, label in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        rows = results[backend]["throughput"]
        best = max(rows, key=lambda r: r["routed"] / r["seconds"])
        one = rows[0]
        us = 1e6 * (one["router_cpu_s"] + one["db_cpu_s"]) / one["routed"]
        parts.append(f"{label} {best['routed'] / best['seconds']:,.0f}/s with "
                     f"{best['workers']} router(s) (capacity {cores * 1e6 / us:,.0f}/s: "
                     f"{us:.0f} us CPU an envelope)")
        rates += [r["routed"] / r["seconds"] for r in rows]
        loads += [r["load"] for r in rows]
    return ("; ".join(parts), f"one run per row; wall rates {min(rates):,.0f}-{max(rates):,.0f}/s "
            f"at load {min(loads):.1f}-{max(loads):.1f}")


def _report(floor: dict, results: dict, args: argparse.Namespace) -> str:
    verify_rate = floor["n"] / floor["verify_s"]
    check_rate = floor["n"] / floor["check_s"]
    cores = os.cpu_count() or 1
    lines = [
        "## Herald router",
        "",
        f"{args.n:,} valid signed envelopes over every route of models.map.yaml, posted to the "
        f"outboxes, then drained by `run_router` in {' / '.join(args.workers.split(','))} "
        "separate router process(es) started "
        f"together (batches of {args.batch}; each envelope's schema, payload, hash, ed25519 "
        "signature, routes and TTL checked; inbox inserts, outbox updates and ledger triggers "
        "in one transaction per batch). Rate = outbox envelopes routed per second of wall "
        "time (an envelope to two targets makes two inbox rows).",
        "",
        "Wall-clock rates depend on what else the machine runs (`load`: the 1-minute load "
        "average during the run, this run's own processes included). The CPU columns do "
        "not: CPU time per envelope of the router processes (SQLite's work included, it runs "
        "in-process) and of their PostgreSQL server processes; `capacity` = "
        f"{cores} cores / that CPU per envelope, the rate this machine reaches when the "
        "routers and their database have all its cores.",
        "",
        "| measure | per envelope | rate |",
        "| --- | ---: | ---: |",
        f"| floor: `verify` alone (canonical bytes + sha256 + ed25519), one core | {1e6 / verify_rate:.0f} us | {verify_rate:,.0f}/s ({cores} cores: {cores * verify_rate:,.0f}/s) |",
        f"| the router's whole check (`check_envelope`), one core | {1e6 / check_rate:.0f} us | {check_rate:,.0f}/s ({cores} cores: {cores * check_rate:,.0f}/s) |",
        "",
        "| backend, router processes (rows each) | wall rate | load | router CPU | server CPU | capacity |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend, goal in (("sqlite", 10_000), ("postgres", 5_000)):
        for r in results[backend]["throughput"]:
            rate = r["routed"] / r["seconds"]
            share = " / ".join(f"{x:,}" for x in r["per_worker"])
            router_us = 1e6 * r["router_cpu_s"] / r["routed"]
            db_us = 1e6 * r["db_cpu_s"] / r["routed"]
            capacity = cores * 1e6 / (router_us + db_us)
            server = f"{db_us:.0f} us" if backend == "postgres" else "(in router)"
            lines.append(f"| {backend}, {r['workers']} ({share}) | **{rate:,.0f}/s** (goal "
                         f"{goal:,}/s) | {r['load']:.1f} | {router_us:.0f} us | {server} | "
                         f"{capacity:,.0f}/s |")
    verify_share = floor["verify_s"] / floor["check_s"]  # measured together: one moment
    lines += ["", "Where an envelope's CPU goes, within each 1-process run (its own check time "
              "is counted by `RouteStats.check_cpu_s`; the verify share of it is the floor's "
              f"{verify_share:.0%}), and the ceiling that sets on this machine "
              f"(floor measured at load {floor['load']:.1f}):", ""]
    for backend, goal in (("sqlite", 10_000), ("postgres", 5_000)):
        r = results[backend]["throughput"][0]
        n = r["routed"]
        check = 1e6 * r["check_cpu_s"] / n
        verify = check * verify_share
        rest = 1e6 * r["router_cpu_s"] / n - check
        db = 1e6 * r["db_cpu_s"] / n
        total = check + rest + db
        ceiling = cores * 1e6 / total
        floor_all = cores * 1e6 / verify
        server = f" + PostgreSQL server {db:.0f} us" if backend == "postgres" else ""
        writes = ("row parse and SQL" if backend == "postgres"
                  else "row parse, SQL and SQLite's own work (in-process)")
        verdict = ("within reach" if ceiling >= goal else
                   f"out of reach on {cores} cores: verify alone on every core would give "
                   f"{floor_all:,.0f}/s, and each envelope also needs the rest")
        lines.append(
            f"- {backend}: verify (canonical bytes, sha256, ed25519) {verify:.0f} us + the "
            f"rest of the check "
            f"{check - verify:.0f} us + {writes} {rest:.0f} us{server} = {total:.0f} us of "
            f"CPU; {cores} cores / {total:.0f} us = **{ceiling:,.0f}/s** against the "
            f"{goal:,}/s goal: {verdict}.")
    lines += [
        "",
        "Inbox-to-sensor latency: a writer commits WATCHDOG_ALERT rows into sig_inbox at random "
        "20-120 ms intervals while `inbox_sig_sensor` is evaluated back to back with "
        "`build_sensor_context` (each tick opens the fabric, scans after its cursor and its "
        "gaps, and beats its heartbeat); latency = commit to the evaluation that returns the "
        "row's RunRequest. Under `dagster-daemon` add the sensor's `minimum_interval_seconds` "
        "(5 s) and the daemon's loop.",
        "",
        "| backend | samples | p50 | p95 | max | one tick (p50) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend in ("sqlite", "postgres"):
        lat = results[backend]["latency"]
        lines.append(f"| {backend} | {lat['samples']} | {lat['p50_ms']:.1f} ms | "
                     f"{lat['p95_ms']:.1f} ms | {lat['max_ms']:.1f} ms | "
                     f"{lat['tick_p50_ms']:.1f} ms |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
