"""Which day's audit status curates a day: the newest strictly earlier one, within the
look-back; one rule for the nightly scorer and the live engine (lotus_core.audits.status_day).
A day's own audits are measured on the outcomes of the windows they would curate, and do
not exist yet while the daemon scores that day: using them was the live/nightly curator
divergence found on a real capture (docs/live.md, "Parity on real captures")."""

import pandas as pd

from lotus_core.audits import AUDIT_STATUS_LOOKBACK_DAYS, status_day, status_in_force


def test_the_newest_earlier_day_within_the_lookback_never_the_day_itself():
    days = ["2026-01-01", "2026-01-03", "2026-01-05", "2026-01-06"]
    assert status_day(days, "2026-01-05") == "2026-01-03"
    assert status_day(days, "2026-01-07") == "2026-01-06"
    assert status_day(days, "2026-01-01") is None
    assert status_day(["2026-01-01"], "2026-01-09") is None  # 8 days back: too old
    assert AUDIT_STATUS_LOOKBACK_DAYS == 7
    assert status_day(["2026-01-02"], "2026-01-09") == "2026-01-02"  # exactly 7 days back


def test_the_lake_window_is_cut_to_the_chosen_day_without_its_date_column():
    rows = pd.DataFrame({"detector_id": ["a", "a", "b"], "leakage_ok": [True, False, True],
                         "date": ["2026-01-03", "2026-01-04", "2026-01-04"]})
    got = status_in_force(rows, "2026-01-05")
    assert got is not None and list(got.columns) == ["detector_id", "leakage_ok"]
    assert got["detector_id"].tolist() == ["a", "b"] and got["leakage_ok"].tolist() == [False, True]
    assert status_in_force(rows, "2026-01-04")["leakage_ok"].tolist() == [True]
    assert status_in_force(rows, "2026-01-03") is None
    assert status_in_force(rows.iloc[0:0], "2026-01-05") is None
    assert status_in_force(None, "2026-01-05") is None
