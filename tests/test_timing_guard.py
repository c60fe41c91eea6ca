"""The suite's time guard warns by name, and only past its budgets."""

from tests.timing_guard import budgets, busy_share, module_times, over_budget, worker_lines


def test_a_test_over_its_budget_is_named_and_the_rest_are_not() -> None:
    times = {"tests/a.py::slow": 75.0, "tests/a.py::quick": 2.0, "tests/b.py::slower": 90.0}
    assert over_budget(times, wall_s=300, test_s=60, suite_s=720) == [
        "test over 60 s: tests/b.py::slower (90 s)", "test over 60 s: tests/a.py::slow (75 s)"]


def test_the_suite_over_its_budget_is_named() -> None:
    assert over_budget({"t::x": 1.0}, wall_s=800, test_s=60, suite_s=720) == [
        "suite over 12 min: 13 min 20 s wall"]
    assert over_budget({"t::x": 1.0}, wall_s=700, test_s=60, suite_s=720) == []


def test_modules_add_their_tests_slowest_first() -> None:
    assert module_times({"tests/a.py::x": 1.0, "tests/b.py::y": 5.0, "tests/a.py::z": 2.0}) \
        == {"tests/b.py": 5.0, "tests/a.py": 3.0}


def test_the_budgets_come_from_the_environment_or_default() -> None:
    assert budgets({}) == (60.0, 720.0)
    assert budgets({"LOTUS_TEST_BUDGET_TEST_S": "30", "LOTUS_TEST_BUDGET_SUITE_S": "1200"}) \
        == (30.0, 1200.0)


def test_the_module_durations_are_written_from_a_runs_timings(tmp_path) -> None:
    import json

    from tests.timing_guard import write_durations

    timings = tmp_path / "timings.json"
    timings.write_text(json.dumps({"wall_s": 9.0, "tests": {},
                                   "modules": {"tests/a.py": 300.0, "tests/b.py": 3.0}}))
    out = tmp_path / "durations.json"
    out.write_text(json.dumps({"about": "why", "modules": {"tests/old.py": 1}}))
    write_durations(timings, out, floor_s=20)
    assert json.loads(out.read_text()) == {"about": "why", "modules": {"tests/a.py": 300.0}}


def test_each_worker_says_how_long_it_ran_and_when_it_finished() -> None:
    spans = {"gw1": (300.0, 1000.0, 1900.0), "gw0": (600.0, 1000.0, 1630.0)}
    assert worker_lines(spans, start=1000.0) == [
        "  gw0: 10.0 min of tests, done at 10 min 30 s",
        "  gw1: 5.0 min of tests, done at 15 min 0 s"]


def test_the_cores_busy_share_is_read_between_two_readings() -> None:
    assert busy_share((100, 400), (250, 600)) == 0.75
    assert busy_share(None, (1, 2)) is None and busy_share((5, 10), (5, 10)) is None


def test_cpu_counts_this_process_and_the_subprocesses_it_waited_for() -> None:
    import subprocess
    import sys
    import time

    from tests.timing_guard import cpu_now

    before = cpu_now()
    end = time.process_time() + 0.2
    while time.process_time() < end:  # 0.2 s of this process's CPU
        pass
    mid = cpu_now()
    subprocess.run([sys.executable, "-c",
                    "import time\nend = time.process_time() + 0.3\n"
                    "while time.process_time() < end: pass"], check=True)
    after = cpu_now()
    assert 0.2 <= mid - before < 1.0
    assert after - mid >= 0.3  # the child's CPU, once it was waited for
