"""The score process reports ScoreLoop's own keys before its child's first report."""

from lotus_core.config import load_settings
from lotus_daemon.loops.score import ScoreLoop
from lotus_daemon.loops.score_info import IDLE_INFO
from lotus_daemon.loops.score_proc import ScoreProcess
from lotus_daemon.market import MarketHub


def test_idle_info_is_what_a_score_loop_reports_before_its_first_step(tmp_path):
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    loop_info = ScoreLoop(settings, MarketHub()).info()
    assert loop_info == IDLE_INFO
    proc_info = ScoreProcess(settings, MarketHub()).info()
    assert {k: v for k, v in proc_info.items() if k not in ("pid", "direct_sent")} == IDLE_INFO
