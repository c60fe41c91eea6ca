"""The suite watches its own time: it prints its wall time and its slowest tests, and warns
(never fails: timings do not gate tests) when one test or the whole run passes its budget.

A test's time is its setup, call and teardown added together, so a module fixture built in
the first test's setup counts where it is paid. Budgets: 60 s a test and 12 minutes for the
whole (`make test` on a 2-core machine), overridable with LOTUS_TEST_BUDGET_TEST_S and
LOTUS_TEST_BUDGET_SUITE_S. Every test's time is also written to
`.test-artifacts/timings.json` (slowest first), the figures `LONGEST_MODULES` in
tests/conftest.py is kept from.

On two cores the suite is bound by CPU, not by waiting: a test that sleeps on a daemon's tick
costs its worker's time while the other workers compute. So each test's CPU is measured too
(its process's and that of the subprocesses it waited for, in every phase), written beside
its time and summed per module: the figure that says where cutting pays."""

from __future__ import annotations

import json
import os
import resource
import time
from collections import defaultdict
from pathlib import Path

import pytest

SLOWEST = 25
ARTIFACTS = Path(__file__).resolve().parent.parent / ".test-artifacts"


def budgets(env: dict[str, str] | None = None) -> tuple[float, float]:
    """(seconds a test, seconds the suite)."""
    env = dict(os.environ) if env is None else env
    return (float(env.get("LOTUS_TEST_BUDGET_TEST_S", 60)),
            float(env.get("LOTUS_TEST_BUDGET_SUITE_S", 12 * 60)))


def over_budget(times: dict[str, float], wall_s: float, test_s: float, suite_s: float
                ) -> list[str]:
    """One warning line per test over `test_s` (slowest first) and one for the suite over
    `suite_s`."""
    lines = [f"test over {test_s:.0f} s: {nodeid} ({t:.0f} s)"
             for nodeid, t in sorted(times.items(), key=lambda kv: -kv[1]) if t > test_s]
    if wall_s > suite_s:
        lines.append(f"suite over {suite_s / 60:.0f} min: {_clock(wall_s)} wall")
    return lines


def module_times(times: dict[str, float]) -> dict[str, float]:
    """Seconds per test module (what tests/conftest.py's LONGEST_MODULES orders by)."""
    out: dict[str, float] = defaultdict(float)
    for nodeid, t in times.items():
        out[nodeid.split("::")[0]] += t
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def worker_lines(spans: dict[str, tuple[float, float, float]], start: float) -> list[str]:
    """One line per xdist worker (`spans`: worker -> (busy seconds, first start, last stop),
    epoch seconds): how long it ran tests and when it finished, so a tail where one worker
    runs alone shows by name."""
    return [f"  {w}: {busy / 60:.1f} min of tests, done at {_clock(stop - start)}"
            for w, (busy, _, stop) in sorted(spans.items())]


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat (None off Linux)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The machine's cores' busy share between two `cpu_ticks` readings."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def cpu_now() -> float:
    """CPU seconds of this process and of the children it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201
    """Each phase's report carries `cpu_s`, the CPU spent since the previous phase's report
    (the phase itself: setup, call or teardown), in the process that ran it."""
    now = cpu_now()
    outcome = yield
    report = outcome.get_result()
    last = item.stash.get(_LAST_CPU, None)
    report.cpu_s = round(now - last, 3) if last is not None and call.when != "setup" \
        else round(now - item.stash.get(_START_CPU, now), 3)
    item.stash[_LAST_CPU] = now


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # noqa: ANN201
    item.stash[_START_CPU] = cpu_now()
    yield


_START_CPU = pytest.StashKey[float]()
_LAST_CPU = pytest.StashKey[float]()


class TimingGuard:
    """Collects every test's phases as the controller receives them (xdist or not)."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.epoch = time.time()
        self.ticks = cpu_ticks()
        self.times: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.spans: dict[str, tuple[float, float, float]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.times[report.nodeid.split("@")[0]] += report.duration
        self.cpu[report.nodeid.split("@")[0]] += float(getattr(report, "cpu_s", 0.0) or 0.0)
        gateway = getattr(getattr(report, "node", None), "gateway", None)
        worker = str(getattr(gateway, "id", "main"))
        busy, first, last = self.spans.get(worker, (0.0, report.start, report.stop))
        self.spans[worker] = (busy + report.duration, min(first, report.start),
                              max(last, report.stop))

    def pytest_terminal_summary(self, terminalreporter) -> None:  # noqa: ANN001
        wall = time.monotonic() - self.start
        if not self.times:
            return
        tr = terminalreporter
        test_s, suite_s = budgets()
        ranked = sorted(self.times.items(), key=lambda kv: -kv[1])
        tr.section("suite time")
        tr.write_line(f"wall {_clock(wall)} for {len(ranked)} tests "
                      f"({sum(self.times.values()) / 60:.1f} min of test time in all)")
        tr.write_line(f"{SLOWEST} slowest (setup + call + teardown):")
        for nodeid, t in ranked[:SLOWEST]:
            tr.write_line(f"  {t:7.1f} s  {nodeid}")
        cpu_ranked = sorted(self.cpu.items(), key=lambda kv: -kv[1])
        tr.write_line(f"{sum(self.cpu.values()) / 60:.1f} min of CPU in the tests (their "
                      f"processes and the subprocesses they waited for); the {SLOWEST // 2} "
                      "most:")
        for nodeid, c in cpu_ranked[:SLOWEST // 2]:
            tr.write_line(f"  {c:7.1f} s  {nodeid}")
        share = busy_share(self.ticks, cpu_ticks())
        if share is not None:
            tr.write_line(f"the machine's {os.cpu_count()} cores were busy {share:.0%} of it")
        for line in worker_lines(self.spans, self.epoch):
            tr.write_line(line)
        for line in over_budget(self.times, wall, test_s, suite_s):
            tr.write_line(f"WARNING {line}", yellow=True, bold=True)
        try:
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / "timings.json").write_text(json.dumps(
                {"wall_s": round(wall, 1), "cores_busy": share,
                 "workers": {w: {"busy_s": round(b, 1), "done_s": round(stop - self.epoch, 1)}
                             for w, (b, _, stop) in sorted(self.spans.items())},
                 "tests": {k: round(v, 2) for k, v in ranked},
                 "modules": {k: round(v, 1) for k, v in module_times(self.times).items()},
                 "tests_cpu": {k: round(v, 2) for k, v in cpu_ranked},
                 "modules_cpu": {k: round(v, 1) for k, v in module_times(self.cpu).items()}},
                indent=1))
        except OSError as exc:  # a read-only checkout still gets the summary above
            tr.write_line(f"timings not written: {exc}")


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        config.pluginmanager.register(TimingGuard(), "lotus-timing-guard")


DURATIONS = Path(__file__).with_name("module_durations.json")


def write_durations(timings: Path = ARTIFACTS / "timings.json", out: Path = DURATIONS,
                    floor_s: float = 20.0) -> None:
    """tests/module_durations.json from a run's timings: the modules over `floor_s`."""
    modules = json.loads(timings.read_text())["modules"]
    about = json.loads(out.read_text())["about"] if out.exists() else ""
    out.write_text(json.dumps(
        {"about": about, "modules": {k: v for k, v in modules.items() if v >= floor_s}},
        indent=1) + "\n")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write-durations"]:
        sys.exit("usage: python tests/timing_guard.py --write-durations")
    write_durations()
    print(f"wrote {DURATIONS}")
