"""`python -m bench parity_coins` replays in a fresh interpreter from a script of its own
(`_REPLAY`), which no other code runs: this runs it once on a 5-minute cut of a committed
fixture day, so a change to the live engine's signature breaks the suite, not the next
benchmark run."""

from pathlib import Path

from bench.parity_coins import DAY, replay
from tests.helpers import small_day
from tests.kits.signals_kit import FIXTURES


def test_the_benchs_replay_script_runs_and_reports_cpu_and_windows(tmp_path: Path) -> None:
    path = small_day(FIXTURES / f"{DAY}.jsonl.gz", tmp_path / f"{DAY}.jsonl.gz", 5)
    out = replay(path, 0)
    assert out["cpu_s"] > 0 and out["windows"] > 0, out
