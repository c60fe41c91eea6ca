"""Cost of the nightly chain as work grows, and what each executor adds on top of the steps.

    nice -n 10 .venv/bin/python -m bench scale --coins 1,3 --hours 12-13 \
        --modes in_process,forkserver,spawn,celery --out bench/results/scale.json

For each coin count a day is generated (`lotus fixtures generate`, seeded), then run once
through `execute_job` (the path the daemon's runs take) with each executor:

    spawn       Dagster's multiprocess default: one spawned process per step
    forkserver  one forked child per step, the stack preloaded once in the forkserver
    in_process  every step in the run's process (the embedded default)
    celery      dagster-celery, RabbitMQ on loopback, 2 `celery` worker processes (solo pool;
                with --celery-child-per-step, prefork with one pool child per step, which
                exits after it: a worker then holds one step's memory, not what earlier
                steps left)

Per run: wall time, the sum of the steps' own durations (Dagster's step stats) and their
difference (what the executor costs: process start-up and imports), CPU seconds (this
process + its children + the workers). Per stage, in_process only (the steps run in this
thread): wall, CPU (process_time around the step) and peak RSS (VmHWM, reset at each step
start via /proc/self/clear_refs). Per stage, celery: the workers' processes are sampled every
0.2 s (`ProcessSampler`: RSS of each process and of its descendants, CPU), and each step is
matched to its process by the pid on its STEP_START event; with one child per step its peak is
that child's VmHWM. Results are JSON; BENCHMARKS.md and docs/scale.md quote them.
The machine is shared: the load average before and after each run is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH_DAY = "2026-01-02"
_FIRST = ["BTC", "ETH", "SOL", "DOGE", "AVAX", "LINK", "ARB", "OP", "SUI", "APT", "TIA",
          "INJ", "SEI", "WIF", "PEPE", "NEAR", "ATOM", "DOT", "ADA", "XRP", "LTC", "BCH",
          "TRX", "TON", "HBAR", "FIL", "AAVE", "UNI", "MKR", "RUNE", "STX", "IMX", "FTM",
          "ENA", "JUP", "PYTH", "WLD", "ORDI", "BLUR", "DYDX"]


def _coin_names() -> list[str]:
    """The 40 names the kept runs used (in their order: a k-coin run is the same market as
    before), then the rest of the shipped Hyperliquid universe in its order (~220 coins)."""
    from lotus_core.venues.hyperliquid.universe import shipped_perps

    return _FIRST + [c for c in shipped_perps() if c not in _FIRST]


COIN_NAMES = _coin_names()
REPO = Path(__file__).resolve().parent.parent


def _lotus_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def generate(feed: Path, coins: int, hours: str, days: int = 1) -> Path:
    if not 1 <= coins <= len(COIN_NAMES):
        raise ValueError(f"--coins: between 1 and {len(COIN_NAMES)} coins, got {coins}")
    names = COIN_NAMES[:coins]
    if not (feed / "manifest.json").is_file():
        subprocess.run([_lotus_bin("lotus"), "fixtures", "generate", "--out", str(feed),
                        "--from", BENCH_DAY, "--days", str(days), "--coins", ",".join(names),
                        "--hours", hours], check=True, capture_output=True)
    return feed


def bench_days(days: int) -> list[str]:
    """The `days` consecutive days from BENCH_DAY, the order a backfill runs them in."""
    from datetime import date, timedelta

    first = date.fromisoformat(BENCH_DAY)
    return [(first + timedelta(days=i)).isoformat() for i in range(days)]


def _vm(field: str, pid: str = "self") -> int:
    """kB of a /proc/<pid>/status field (VmHWM: peak RSS; VmRSS: current)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _proc_cpu_all(pid: int) -> float:
    """utime + stime + the reaped children's (cutime + cstime), CPU seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    """CPU seconds of this process's finished (waited-for) children: a step's pool workers."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class StageMeter:
    """Wraps instance.handle_new_event: CPU (this process + the step's worker processes) and
    peak RSS between STEP_START and the step's end, and RSS at its start (valid for the
    in-process executor, whose steps run in this thread)."""

    def __init__(self, instance) -> None:  # noqa: ANN001
        import dagster as dg

        self.types = dg.DagsterEventType
        self.open: dict[str, tuple[float, float, float, float]] = {}
        self.stages: dict[str, dict[str, float]] = {}
        original = instance.handle_new_event

        def hook(event, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            self.observe(event)
            return original(event, *args, **kwargs)

        instance.handle_new_event = hook

    def observe(self, event) -> None:  # noqa: ANN001
        dagster_event = getattr(event, "dagster_event", None)
        if dagster_event is None or not dagster_event.step_key:
            return
        kind, key = dagster_event.event_type, dagster_event.step_key
        if kind == self.types.STEP_START:
            Path("/proc/self/clear_refs").write_text("5")  # restart the VmHWM peak
            self.open[key] = (time.perf_counter(), time.process_time(), _children_cpu(),
                              _vm("VmRSS") / 1024)
        elif kind in (self.types.STEP_SUCCESS, self.types.STEP_FAILURE) and key in self.open:
            wall0, cpu0, kids0, rss0 = self.open.pop(key)
            kids = _children_cpu() - kids0  # the step's worker processes (parse, lessons)
            step = {"wall_s": time.perf_counter() - wall0,
                    "cpu_s": time.process_time() - cpu0 + kids,
                    "children_cpu_s": kids,
                    "peak_rss_mb": _vm("VmHWM") / 1024,
                    # resident when the step started: peak - start is what the step
                    # itself added (the process carries earlier steps' caches)
                    "start_rss_mb": rss0, "runs": 1}
            seen = self.stages.get(key)
            if seen is not None:  # a day x coin step: one run per coin, summed; peak: max
                step = {"wall_s": seen["wall_s"] + step["wall_s"],
                        "cpu_s": seen["cpu_s"] + step["cpu_s"],
                        "children_cpu_s": seen["children_cpu_s"] + step["children_cpu_s"],
                        "peak_rss_mb": max(seen["peak_rss_mb"], step["peak_rss_mb"]),
                        "start_rss_mb": min(seen["start_rss_mb"], step["start_rss_mb"]),
                        "runs": seen["runs"] + 1}
            self.stages[key] = step


class ProcessSampler(threading.Thread):
    """Every `every` seconds: for each root process and its descendants, RSS (VmRSS), peak
    RSS (VmHWM) and CPU (own + reaped children), and each process's tree RSS (itself plus
    its descendants: a step's parse or lesson workers). A step is matched to its process
    afterwards by the pid on its events (`step_figures`). Sampling misses peaks shorter than
    `every`, except a process's own VmHWM, which the kernel keeps."""

    def __init__(self, roots: list[int], every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.roots, self.every = roots, every
        self.samples: list[tuple[float, int, float, float]] = []  # t, pid, rss MB, tree MB
        self.hwm: dict[int, float] = {}  # pid -> its largest VmHWM seen, MB
        self.cpu: dict[int, list[tuple[float, float]]] = {}  # pid -> [(t, cpu s)]
        self.halt = threading.Event()

    @staticmethod
    def _parents() -> dict[int, int]:
        out = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    stat = (d / "stat").read_text()
                except OSError:
                    continue
                out[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        return out

    def sample(self) -> None:
        t = time.time()
        parents = self._parents()
        kids: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            kids.setdefault(ppid, []).append(pid)
        rss: dict[int, float] = {}

        def walk(pid: int) -> list[int]:
            out, todo = [], [pid]
            while todo:
                p = todo.pop()
                out.append(p)
                todo += kids.get(p, [])
            return out

        for root in self.roots:
            for pid in walk(root):
                try:
                    rss[pid] = _vm("VmRSS", str(pid)) / 1024
                    self.hwm[pid] = max(self.hwm.get(pid, 0.0), _vm("VmHWM", str(pid)) / 1024)
                    self.cpu.setdefault(pid, []).append((t, _proc_cpu_all(pid)))
                except (OSError, ValueError):
                    continue
        for pid in rss:
            tree = sum(rss.get(p, 0.0) for p in walk(pid))
            self.samples.append((t, pid, rss[pid], tree))

    def run(self) -> None:
        while not self.halt.wait(self.every):
            self.sample()

    def step_figures(self, pid: int, t0: float, t1: float) -> dict[str, float]:
        """A step run by `pid` from t0 to t1 (its STEP_START and end events): peak RSS of the
        process (sampled; VmHWM when the process ran only this step), of the process with its
        descendants, RSS at the start, CPU."""
        inside = [s for s in self.samples if s[1] == pid and t0 <= s[0] <= t1 + self.every]
        cpu = [c for t, c in self.cpu.get(pid, []) if t0 - self.every <= t <= t1 + self.every]
        return {"peak_rss_mb": max((s[2] for s in inside), default=0.0),
                "tree_peak_rss_mb": max((s[3] for s in inside), default=0.0),
                "hwm_mb": self.hwm.get(pid, 0.0),
                "start_rss_mb": inside[0][2] if inside else 0.0,
                "cpu_s": (cpu[-1] - cpu[0]) if len(cpu) > 1 else 0.0,
                "wall_s": t1 - t0, "pid": pid}


def celery_stages(instance, run_ids: list[str], sampler: ProcessSampler,  # noqa: ANN001
                  child_per_step: bool) -> dict[str, dict[str, float]]:
    """Per step of a day's celery runs (its daily runs and a `lotus_coins` run per coin):
    the sampler's figures for the process that ran it. A step run once per coin
    (`microtape_frames`) is one row: its largest process's memory, its CPU and wall summed,
    `runs` how many."""
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
             dg.DagsterEventType.STEP_FAILURE}
    out: dict[str, dict[str, float]] = {}
    for run_id in run_ids:
        spans: dict[str, list] = {}
        for e in instance.all_logs(run_id, of_type=kinds):
            key = e.step_key
            if e.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                spans[key] = [e.dagster_event.pid, e.timestamp, None]
            elif key in spans:
                spans[key][2] = e.timestamp
        for key, (pid, t0, t1) in spans.items():
            if pid is None or t1 is None:
                continue
            fig = sampler.step_figures(pid, t0, t1)
            if child_per_step:  # the process ran this step alone: the kernel's peak is exact
                fig["peak_rss_mb"] = max(fig["peak_rss_mb"], fig["hwm_mb"])
            fig["runs"] = 1
            if key in out:  # another coin's run of the step
                was = out[key]
                fig = {**max(was, fig, key=lambda f: f["peak_rss_mb"]),
                       "tree_peak_rss_mb": max(was["tree_peak_rss_mb"],
                                               fig["tree_peak_rss_mb"]),
                       "cpu_s": was["cpu_s"] + fig["cpu_s"],
                       "wall_s": was["wall_s"] + fig["wall_s"],
                       "runs": was["runs"] + 1}
            out[key] = fig
    return out


def start_workers(n: int, queue: str, env: dict[str, str], logdir: Path,
                  child_per_step: bool = False) -> list:
    pool = (["--pool", "prefork", "--concurrency", "1", "--max-tasks-per-child", "1"]
            if child_per_step else ["--pool", "solo"])
    workers = []
    for i in range(1, n + 1):
        log = (logdir / f"worker{i}.log").open("wb")
        workers.append(subprocess.Popen(
            [_lotus_bin("celery"), "-A", "dagster_celery.app",
             "-b", "pyamqp://guest:guest@127.0.0.1:5672//", "worker", "-Q", queue,
             "-n", f"w{i}-{queue}@%h", *pool, "--prefetch-multiplier=1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True))
    return workers


def stop_workers(workers: list) -> None:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=60)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()


def run_mode(mode: str, feed: Path, work: Path, workers_n: int, days: int = 1,
             coin_shards: int = 1, child_per_step: bool = False) -> list[dict]:
    """`days` days, in order, through `execute_job` on `mode`'s executor, in one fresh home
    and instance (day k runs with the k - 1 days before it as history): one row a day.
    `coin_shards` > 1: raw_feed and microtape_frames by coin group (feed.coin_shards)."""
    import dagster as dg

    home = work / f"home_{mode}"
    dagster_home = work / f"dagster_{mode}"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    executor = {"in_process": "in_process", "forkserver": "multiprocess",
                "spawn": "multiprocess", "celery": "celery"}[mode]
    queue = f"lotus_bench_{secrets.token_hex(4)}"
    config = work / f"lotus_{mode}.yaml"
    config.write_text(json.dumps({"deploy": {
        "executor": executor, "max_concurrent": 2,
        "start_method": "spawn" if mode == "spawn" else "forkserver",
        "celery": {"queue": queue}}, "feed": {"coin_shards": coin_shards}}))
    env = {"LOTUS_HOME": str(home), "LOTUS_FEED_DIR": str(feed), "LOTUS_CONFIG": str(config),
           "DAGSTER_HOME": str(dagster_home)}
    os.environ.update(env)
    from lotus_core.config import load_settings
    from lotus_sensors.daily_run import run_day_out_of_process

    settings = load_settings()
    workers = (start_workers(workers_n, queue, env, work, child_per_step)
               if mode == "celery" else [])
    sampler = ProcessSampler([w.pid for w in workers]) if workers else None
    if sampler is not None:
        sampler.start()
    rows = []
    try:
        with dg.DagsterInstance.get() as instance:
            meter = StageMeter(instance) if mode == "in_process" else None
            worker_cpu = 0.0  # day 1 carries the workers' start-up (imports), as a run would
            for k, day in enumerate(bench_days(days), start=1):
                rows.append(_run_day(instance, settings, day, meter, workers, worker_cpu,
                                     run_day_out_of_process))
                if sampler is not None:
                    rows[-1]["stages"] = celery_stages(instance, rows[-1]["run_ids"], sampler,
                                                       child_per_step)
                    rows[-1]["celery_pool"] = "child_per_step" if child_per_step else "solo"
                    sampler.samples = []  # what day k + 1's steps are matched against
                # replay_day: how dm_decisions / paper_trades get the day (packed from the
                # shards since FeedSource.replay_day; rows without it merged the padded day)
                rows[-1].update({"mode": mode, "day": day, "day_index": k, "days": days,
                                 "coin_shards": coin_shards,
                                 "replay_day": "packed" if coin_shards > 1 else "parse"})
                worker_cpu = sum(_proc_cpu_all(w.pid) for w in workers)
    finally:
        if sampler is not None:
            sampler.halt.set()
        stop_workers(workers)
    return rows


def _run_day(instance, settings, day: str, meter: StageMeter | None, workers: list,  # noqa: ANN001
             worker_cpu0: float, run_day) -> dict:  # noqa: ANN001
    """One day's run: wall, step stats, CPU of this process, its children and the workers
    (less `worker_cpu0`, what they had used before this day)."""
    if meter is not None:
        meter.stages = {}
    load_before = os.getloadavg()[0]
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = run_day(settings, day, instance)
    wall = time.perf_counter() - t0
    worker_cpu = sum(_proc_cpu_all(w.pid) for w in workers) - worker_cpu0
    worker_peak = max((_vm("VmHWM", str(w.pid)) for w in workers), default=0) / 1024
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # every run of the day (its daily runs and a lotus_coins run per coin): a step's time
    # summed over its runs (microtape_frames: over the coins)
    steps: dict[str, float] = {}
    for run_id in result.run_ids:
        for st in instance.get_run_step_stats(run_id):
            steps[st.step_key] = (steps.get(st.step_key, 0.0)
                                  + (st.end_time or 0) - (st.start_time or 0))
    cpu = (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
           + kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime + worker_cpu)
    return {"success": result.success, "run_id": result.run_id, "run_ids": result.run_ids,
            "wall_s": wall,
            "step_sum_s": sum(steps.values()), "overhead_s": wall - sum(steps.values()),
            "steps": len(steps), "cpu_s": cpu, "worker_peak_rss_mb": worker_peak,
            "worker_peaks_rss_mb": [_vm("VmHWM", str(w.pid)) / 1024 for w in workers],
            "peak_rss_mb": _vm("VmHWM") / 1024 if meter is None else
            max((st["peak_rss_mb"] for st in meter.stages.values()), default=0.0),
            "step_wall_s": steps, "stages": dict(meter.stages) if meter else {},
            "load_before": load_before, "load_after": os.getloadavg()[0]}


SECTION_METHOD = (
    "`python -m bench scale --coins N --hours 0-24 --modes in_process,celery --out {out}` for "
    "N = {coins}; growth per day of history: `--coins 2 --hours 8-12 --days 16 --modes "
    "in_process --out {history}`; every stage and day: `--report --out {out} --history "
    "{history}`. A generated 24-hour day per run, the whole nightly chain through `execute_job` "
    "in a fresh interpreter and home; celery: 2 worker processes on RabbitMQ (loopback). CPU s "
    "is `getrusage` (self + children + workers); wall times follow the load.")
TOP_STAGES = 6  # the section names the stages that weigh most in the projection; the rest summed


def headline_figure(rows: list[dict]) -> tuple[str, str] | None:
    """(figure, spread) of the summary: the 10-coin 24-hour day in process (the goal's day;
    the least loaded run of it), else the largest in-process day; and the CPU per coin."""
    days = [r for r in single_days(rows) if r["mode"] == "in_process"]
    if not days:
        return None
    goal = [r for r in days if r["coins"] == 10 and _hours(r["hours"]) == 24]
    pick = min(goal, key=lambda r: r["load_before"]) if goal else max(
        days, key=lambda r: r["coins"] * _hours(r["hours"]))
    same = [r for r in days if r["coins"] == pick["coins"] and r["hours"] == pick["hours"]]
    by_coins = {r["coins"]: r for r in days if r["hours"] == pick["hours"]}
    per_coin = ""
    if len(by_coins) >= 2:
        xs = sorted(by_coins)
        _, b = _fit([float(x) for x in xs], [by_coins[x]["cpu_s"] for x in xs])
        per_coin = f"; {b:.1f} CPU s per coin"
    spread = (f"{len(same)} runs of that day: {min(r['wall_s'] for r in same):.0f}-"
              f"{max(r['wall_s'] for r in same):.0f} s wall at load "
              f"{min(r['load_before'] for r in same):.1f}-"
              f"{max(r['load_before'] for r in same):.1f}") if len(same) > 1 else "one run"
    return (f"a {pick['coins']}-coin {_hours(pick['hours'])} h day in {pick['wall_s']:.0f} s wall, "
            f"{pick['cpu_s']:.0f} CPU s (in process){per_coin}", spread)


SEQUENTIAL = ("lesson_atoms", "lessons", "braids", "meta_braids", "active_priors",
              "watchdog_alerts")  # day d needs day d-1 of this chain: a backfill runs it in order


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares y = a + b x (a line through two points when there are two)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def _hours(spec: str) -> int:
    start, end = (int(x) for x in spec.split("-"))
    return end - start


def history_factors(rows: list[dict]) -> dict[str, float]:
    """Per stage: CPU of a day with full history / CPU of the same size day with none (the
    last three days of the longest multi-day in-process run over its day 1; 1.0 if unmeasured).
    Every history input is capped (lessons 14 days), so the last days are the steady state."""
    runs: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("days", 1) > 1 and r["mode"] == "in_process" and r["stages"]:
            runs.setdefault((r["coins"], r["hours"], r["days"]), []).append(r)
    if not runs:
        return {}
    run = sorted(max(runs.values(), key=len), key=lambda r: r["day_index"])
    first, last = run[0]["stages"], run[-3:]
    out = {}
    for stage, st in first.items():
        if st["cpu_s"] >= 0.1:
            steady = sum(r["stages"].get(stage, {}).get("cpu_s", 0.0) for r in last) / len(last)
            out[stage] = max(1.0, steady / st["cpu_s"])
    return out


def _embedded(rows: list[dict]) -> list[dict]:
    """The in-process one-day runs with per-stage figures, smallest day first."""
    return sorted((r for r in rows if r["mode"] == "in_process" and r["stages"]),
                  key=lambda r: r["coins"] * _hours(r["hours"]))


def projection(rows: list[dict], coins: int = 100, day_hours: int = 24,
               history: dict[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Per stage (the largest in-process run's, by its CPU): CPU s = a + b x coin-hours fitted
    over every in-process run, that day at `coins` x `day_hours` (`bare`), and times its
    `history` factor (`proj`: a day in the middle of a long backfill)."""
    history = history or {}
    embedded = _embedded(rows)
    if not embedded:
        return {}
    stages = sorted(embedded[-1]["stages"], key=lambda k: -embedded[-1]["stages"][k]["cpu_s"])
    xs = [float(r["coins"] * _hours(r["hours"])) for r in embedded]
    out = {}
    for stage in stages:
        ys = [r["stages"].get(stage, {}).get("cpu_s", 0.0) for r in embedded]
        a, b = _fit(xs, ys) if len(xs) > 1 else (0.0, ys[0] / xs[0])
        b = max(b, 0.0)  # a stage that got cheaper with more coins: noise; keep its fixed cost
        bare = max(0.0, a + b * coins * day_hours)
        out[stage] = {"a": a, "b": b, "bare": bare, "factor": history.get(stage, 1.0),
                      "proj": bare * history.get(stage, 1.0)}
    return out


def _workers(proj: dict[str, dict[str, float]], days: int) -> tuple[float, float, list]:
    """(total CPU h, the day-ordered chain's h, [(workers N, h)]) of `days` such days."""
    total = sum(p["proj"] for p in proj.values()) * days / 3600
    chain = sum(p["proj"] for k, p in proj.items() if k in SEQUENTIAL) * days / 3600
    return total, chain, [(n, max(total / n, chain)) for n in (1, 2, 4, 8, 16, 32, 64)]


def report(rows: list[dict], coins: int = 100, days: int = 90, day_hours: int = 24,
           history: dict[str, float] | None = None) -> str:
    """Markdown: executors, stages, fitted growth per coin-hour, the paper projection (each
    stage's fitted day times its `history` factor: a day in the middle of a long backfill)."""
    out = ["| coins x hours | executor | wall s | sum of step durations s | wall - steps s | "
           "CPU s | load avg (before/after) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cpu = "n/a" if r["mode"] == "forkserver" else f"{r['cpu_s']:.1f}"  # forkserver's own kids
        out.append(f"| {r['coins']} x {_hours(r['hours'])} h | {r['mode']} | {r['wall_s']:.1f} | "
                   f"{r['step_sum_s']:.1f} | {r['overhead_s']:.1f} | {cpu} | "
                   f"{r['load_before']:.1f} / {r['load_after']:.1f} |")
    embedded = _embedded(rows)
    if not embedded:
        return "\n".join(out)
    proj = projection(rows, coins, day_hours, history)
    head = " | ".join(f"{r['coins']}x{_hours(r['hours'])}h CPU s / peak MB" for r in embedded)
    out += ["", f"| stage | {head} | fitted CPU s = a + b x coin-hours | "
            f"{coins} coins x {day_hours} h, CPU s | x history factor | with full history |",
            "|---|" + "---|" * (len(embedded) + 4)]
    for stage, p in proj.items():
        cells = " | ".join(f"{r['stages'].get(stage, {}).get('cpu_s', 0):.2f} / "
                           f"{r['stages'].get(stage, {}).get('peak_rss_mb', 0):.0f}"
                           for r in embedded)
        out.append(f"| {stage} | {cells} | {p['a']:.2f} + {p['b']:.3f} x | {p['bare']:,.0f} | "
                   f"{p['factor']:.2f} | {p['proj']:,.0f} |")
    total, chain, workers = _workers(proj, days)
    out += ["", f"Projection, {coins} coins x {day_hours} h x {days} days: "
            f"{total:,.1f} CPU h in all; the day-ordered learning chain "
            f"({', '.join(SEQUENTIAL)}) {chain:,.1f} h of it.", "",
            "| workers N | hours (max(total/N, chain)) |", "|---|---|"]
    out += [f"| {n} | {hours:,.1f} |" for n, hours in workers]
    return "\n".join(out)


def per_coin(rows: list[dict]) -> str:
    """Growth per coin at a fixed day length: CPU s = a + b x coins per stage (in-process
    rows) and for the whole run per executor, from every coin count measured."""
    out: list[str] = []
    for hours in sorted({r["hours"] for r in rows}, key=_hours):
        same = [r for r in rows if r["hours"] == hours]
        coins = sorted({r["coins"] for r in same})
        if len(coins) < 2:
            continue
        out += [f"Growth per coin, {_hours(hours)}-hour days ({', '.join(map(str, coins))} coins):",
                "", "| executor / stage | " + " | ".join(f"{c} coins CPU s" for c in coins)
                + " | fitted CPU s = a + b x coins | per coin |",
                "|---|" + "---|" * (len(coins) + 2)]
        for mode in sorted({r["mode"] for r in same}):
            by = {r["coins"]: r for r in same if r["mode"] == mode}
            if len(by) < 2:
                continue
            xs = [float(c) for c in sorted(by)]
            a, b = _fit(xs, [by[c]["cpu_s"] for c in sorted(by)])
            cells = " | ".join(f"{by[c]['cpu_s']:.1f}" if c in by else "-" for c in coins)
            out.append(f"| **{mode} (whole run)** | {cells} | {a:.1f} + {b:.2f} x | "
                       f"{b:.2f} |")
        inproc = {r["coins"]: r for r in same if r["mode"] == "in_process" and r["stages"]}
        if len(inproc) >= 2:
            last = inproc[max(inproc)]["stages"]
            for stage in sorted(last, key=lambda k: -last[k]["cpu_s"]):
                ys = [inproc[c]["stages"].get(stage, {}).get("cpu_s", 0.0)
                      for c in sorted(inproc)]
                a, b = _fit([float(c) for c in sorted(inproc)], ys)
                cells = " | ".join(
                    f"{inproc[c]['stages'].get(stage, {}).get('cpu_s', 0):.2f}"
                    if c in inproc else "-" for c in coins)
                out.append(f"| {stage} | {cells} | {a:.2f} + {b:.3f} x | {b:.3f} |")
        out.append("")
    return "\n".join(out)


def single_days(rows: list[dict]) -> list[dict]:
    """Rows of one-day runs (no history): what the per-coin fits and the projection read."""
    return [r for r in rows if r.get("days", 1) == 1]


def per_history(rows: list[dict]) -> str:
    """Growth per day of history: multi-day in-process runs, CPU of day k (k - 1 days of
    history before it) per stage, and the slope of a line through days 2..N (day 1 also
    pays the cold start: no previous day to warm from)."""
    out: list[str] = []
    runs: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("days", 1) > 1 and r["mode"] == "in_process" and r["stages"]:
            runs.setdefault((r["coins"], r["hours"], r["days"], r["date"][:10]), []).append(r)
    for (coins, hours, days, _), run in sorted(runs.items()):
        run = sorted(run, key=lambda r: r["day_index"])[-days:]
        if len(run) < 3:
            continue
        ks = [r["day_index"] for r in run]
        head = " | ".join(f"day {k}" for k in ks)
        out += [f"Growth per day of history, {coins} coins x {_hours(hours)} h, days 1..{days} "
                "run in order (CPU s of day k; the slope is fitted over days 2..N):", "",
                f"| stage | {head} | slope per history day, CPU s |",
                "|---|" + "---|" * (len(ks) + 1)]
        xs = [float(k) for k in ks[1:]]
        _, b = _fit(xs, [r["cpu_s"] for r in run[1:]])
        out.append("| **whole run** | " + " | ".join(f"{r['cpu_s']:.1f}" for r in run)
                   + f" | {b:+.3f} |")
        last = run[-1]["stages"]
        for stage in sorted(last, key=lambda k: -last[k]["cpu_s"]):
            ys = [r["stages"].get(stage, {}).get("cpu_s", 0.0) for r in run]
            if max(ys) < 0.3:
                continue
            _, b = _fit(xs, ys[1:])
            out.append(f"| {stage} | " + " | ".join(f"{y:.2f}" for y in ys) + f" | {b:+.3f} |")
        out.append("| peak RSS MB | " + " | ".join(f"{r['peak_rss_mb']:.0f}" for r in run)
                   + " | |")
        out.append("")
    return "\n".join(out)


def _history_run(rows: list[dict]) -> list[dict]:
    """The longest multi-day in-process run, its days in order (empty without one)."""
    runs: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("days", 1) > 1 and r["mode"] == "in_process" and r["stages"]:
            runs.setdefault((r["coins"], r["hours"], r["days"], r["date"][:10]), []).append(r)
    if not runs:
        return []
    (*_, days, _), run = max(runs.items(), key=lambda kv: len(kv[1]))
    return sorted(run, key=lambda r: r["day_index"])[-days:]


def section(rows: list[dict], out: str, history: str = "bench/results/scale_history.json",
            coins: int = 100, days: int = 90, day_hours: int = 24) -> str:
    """The section of BENCHMARKS.md: the method, the latest run of each size and executor, the
    growth per coin of the heaviest stages beside their projection, and a reading (growth per
    day of history, the projection, the workers it needs). `report`, `per_coin` and
    `per_history` print every stage and day."""
    from bench.report import wrap

    singles = single_days(rows)
    latest: dict[tuple, dict] = {}
    for r in sorted(singles, key=lambda r: r.get("date", "")):
        latest[(r["coins"], r["hours"], r["mode"])] = r
    shown = sorted(latest.values(), key=lambda r: (_hours(r["hours"]), r["coins"],
                                                   r["mode"] != "in_process", r["mode"]))
    lines = ["## Nightly chain at scale, and the executor per profile", "",
             wrap(SECTION_METHOD.format(out=out, history=history, coins=", ".join(
                 str(c) for c in sorted({r["coins"] for r in shown})))), "",
             "| coins x hours | executor (latest run) | wall s | wall - steps s | CPU s | "
             "load avg (before/after) |", "|---|---|---:|---:|---:|---|"]
    lines += [f"| {r['coins']} x {_hours(r['hours'])} h | {r['mode']} | {r['wall_s']:.1f} | "
              f"{r['overhead_s']:.1f} | "
              + ("n/a" if r["mode"] == "forkserver" else f"{r['cpu_s']:.1f}")
              + f" | {r['load_before']:.1f} / {r['load_after']:.1f} |" for r in shown]
    proj = projection(singles, coins, day_hours, history_factors(rows))
    day = max({r["hours"] for r in shown}, key=lambda h: (
        len({r["coins"] for r in shown if r["hours"] == h}), _hours(h)))
    by_mode: dict[str, dict[int, dict]] = {}
    for r in shown:
        if r["hours"] == day:
            by_mode.setdefault(r["mode"], {})[r["coins"]] = r
    inproc = {c: r for c, r in by_mode.get("in_process", {}).items() if r["stages"]}
    slopes: dict[str, float] = {}
    reading = []
    if len(inproc) >= 2 and proj:
        cs = sorted(inproc)
        lines += ["", f"| stage | {' | '.join(f'{c} coins CPU s' for c in cs)} | CPU s per coin | "
                  f"{coins} coins x {day_hours} h with full history, CPU s |",
                  "|---|" + "---:|" * (len(cs) + 2)]
        for mode, by in sorted(by_mode.items()):
            if len(by) >= 2:
                _, slopes[mode] = _fit([float(c) for c in sorted(by)],
                                       [by[c]["cpu_s"] for c in sorted(by)])
                lines.append(f"| **{mode} (whole run)** | " + " | ".join(
                    f"{by[c]['cpu_s']:.1f}" if c in by else "-" for c in cs)
                    + f" | {slopes[mode]:.2f} | |")

        def cpu(c: int, stage: str) -> float:
            return inproc[c]["stages"].get(stage, {}).get("cpu_s", 0.0)

        ranked = sorted(proj, key=lambda k: -proj[k]["proj"])
        for group in [[k] for k in ranked[:TOP_STAGES]] + [ranked[TOP_STAGES:]]:
            if not group:
                continue
            ys = [sum(cpu(c, k) for k in group) for c in cs]
            _, b = _fit([float(c) for c in cs], ys)
            name = group[0] if len(group) == 1 else f"the other {len(group)} stages"
            lines.append(f"| {name} | " + " | ".join(f"{y:.2f}" for y in ys)
                         + f" | {b:.3f} | {sum(proj[k]['proj'] for k in group):,.0f} |")
    goal = latest.get((10, "0-24", "in_process"))
    if goal is not None:
        reading.append(f"The 10-coin 24-hour day in process: {goal['wall_s']:.0f} s wall (goal "
                       f"< 5 min: {'met' if goal['wall_s'] < 300 else 'not met'}), "
                       f"{goal['cpu_s']:.0f} CPU s.")
    if slopes:
        ordered = sorted(slopes.items(), key=lambda kv: kv[0] != "in_process")
        where = {"in_process": "in process"}
        reading.append(f"A coin adds {ordered[0][1]:.2f} CPU s to a {_hours(day)}-hour day "
                       + ", ".join(("" if i == 0 else f"{b:.2f} ") + where.get(m, f"on {m}")
                                   for i, (m, b) in enumerate(ordered)) + ".")
    run = _history_run(rows)
    if len(run) >= 3:
        xs = [float(r["day_index"]) for r in run[1:]]
        _, whole = _fit(xs, [r["cpu_s"] for r in run[1:]])
        grow = sorted(((_fit(xs, [r["stages"].get(k, {}).get("cpu_s", 0.0) for r in run[1:]])[1],
                        k) for k in run[-1]["stages"]), reverse=True)[:3]
        reading.append(
            f"History: {len(run)} days run in order ({run[0]['coins']} coins x "
            f"{_hours(run[0]['hours'])} h) grow the whole run by {whole:+.3f} CPU s a day over "
            f"days 2..{len(run)} ({run[0]['cpu_s']:.1f} s on day 1, "
            f"{run[-1]['cpu_s']:.1f} s on day {len(run)}), most in "
            + ", ".join(f"{k} {b:+.3f}" for b, k in grow)
            + f"; peak RSS {run[0]['peak_rss_mb']:.0f} -> {run[-1]['peak_rss_mb']:.0f} MB.")
    if proj:
        total, chain, workers = _workers(proj, days)
        floor = next((n for n, h in workers if total / n <= chain), None)
        spread = ", ".join(f"{h:,.1f}{' h' if n == 1 else ''} on {n}{' worker' if n == 1 else ''}"
                           for n, h in workers if floor is None or n < floor)
        reading.append(
            f"With each stage scaled by its steady-state / day-1 ratio, {coins} coins x "
            f"{day_hours} h x {days} days is {total:,.1f} CPU h, {chain:,.1f} h of it the "
            f"day-ordered learning chain ({', '.join(SEQUENTIAL)}): {spread}"
            + (f", {chain:,.1f} from {floor} on." if floor else "."))
    if reading:
        lines += ["", wrap("Reading. " + " ".join(reading))]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", default="1,3")
    parser.add_argument("--hours", default="12-13")
    parser.add_argument("--modes", default="in_process,forkserver,spawn,celery")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--days", type=int, default=1,
                        help="consecutive days run in order in one home: day k has k - 1 "
                        "days of history (the growth per day of history)")
    parser.add_argument("--coin-shards", type=int, default=1,
                        help="feed.coin_shards for the runs (raw_feed and microtape_frames "
                        "by coin group; docs/scale.md)")
    parser.add_argument("--celery-child-per-step", action="store_true",
                        help="celery workers run each step in a fresh pool child (prefork, "
                        "--max-tasks-per-child 1): a worker holds one step's memory")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.json")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--report", action="store_true", help="print the tables from --out")
    parser.add_argument("--history", type=Path, default=None,
                        help="with --report: also read these multi-day rows (growth per day "
                        "of history; their steady-state factors scale the projection)")
    parser.add_argument("--write", action="store_true",
                        help="with --report: also write them into BENCHMARKS.md (bench:scale)")
    args = parser.parse_args()
    if args.report:
        rows = json.loads(args.out.read_text())
        if args.history is not None:
            rows += json.loads(args.history.read_text())
        text = (report(single_days(rows), history=history_factors(rows)) + "\n\n"
                + per_coin(single_days(rows)))
        if any(r.get("days", 1) > 1 for r in rows):
            text += "\n" + per_history(rows)
        print(text)
        if args.write:
            from bench.report import headline, write_section

            def shown(path: Path) -> str:
                path = path.resolve()
                return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)

            write_section("scale", section(rows, shown(args.out), *(
                [shown(args.history)] if args.history is not None else [])))
            figure = headline_figure(rows)
            if figure is not None:
                headline("scale", *figure)
        return
    # absolute: the runs' DAGSTER_HOME lies under it, and Dagster refuses a relative one
    work_root = (args.work or Path(tempfile.mkdtemp(prefix="lotus-scale-"))).resolve()
    out: list[dict] = json.loads(args.out.read_text()) if args.out.is_file() else []
    for coins in [int(c) for c in args.coins.split(",")]:
        name = f"feed_{coins}c_{args.hours}" + (f"_{args.days}d" if args.days > 1 else "")
        feed = generate(work_root / name, coins, args.hours, args.days)
        for mode in args.modes.split(","):
            # one fresh interpreter per run: no warm imports or caches carried between modes
            row_file = work_root / (f"row_{coins}_{mode}_{args.days}d_{args.coin_shards}s"
                                   f"{'_cps' if args.celery_child_per_step else ''}.json")
            subprocess.run([sys.executable, "-m", "bench.scale", "--one", mode, str(feed),
                            str(work_root / f"run_{coins}c_{mode}_{secrets.token_hex(3)}"),
                            str(args.workers), str(row_file), str(args.days),
                            str(args.coin_shards), str(int(args.celery_child_per_step))],
                           check=True, cwd=REPO)
            for row in json.loads(row_file.read_text()):
                row.update({"coins": coins, "hours": args.hours,
                            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                            "cpus": os.cpu_count()})
                print(json.dumps({k: v for k, v in row.items()
                                  if k not in ("step_wall_s", "stages")}), flush=True)
                out.append(row)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        mode, feed, work, workers_n, row_file = sys.argv[2:7]
        n_days = int(sys.argv[7]) if len(sys.argv) > 7 else 1
        n_shards = int(sys.argv[8]) if len(sys.argv) > 8 else 1
        per_step = len(sys.argv) > 9 and sys.argv[9] == "1"
        Path(work).mkdir(parents=True)
        rows = run_mode(mode, Path(feed), Path(work), int(workers_n), n_days, n_shards,
                        per_step)
        Path(row_file).write_text(json.dumps(rows))
    else:
        main()
