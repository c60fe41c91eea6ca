"""`loop_report`'s day table counts signal_eval a day and a slice at a time, three columns
(thirty days of every coin's rows are never held): the rates are those of the
whole days' done rows, and a day with priors but no signal_eval has a row too."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_assets.report import _daily
from lotus_core.store.by_coin import CoinDay, CoinDays
from lotus_core.store.lake import Lake

DAYS = ["2026-01-02", "2026-01-03"]


def _evals(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    status = rng.choice(["done", "pending", "gap"], size=n, p=[0.7, 0.2, 0.1])
    hit = pd.array(np.where(status == "done", rng.random(n) < 0.55, False), dtype="boolean")
    hit[status != "done"] = pd.NA
    return pd.DataFrame({"status": pd.Series(status, dtype="str"),
                         "published": rng.random(n) < 0.3, "hit": hit,
                         "net_ret_bps": rng.normal(size=n)})


def test_daily_rates_are_the_whole_days_done_rows(tmp_path):
    lake = Lake(tmp_path)
    evals = {d: _evals(k, 60_000 + 7 * k) for k, d in enumerate(DAYS)}  # several slices
    for d, e in evals.items():
        lake.write("signal_eval", d, e)
    priors = pd.DataFrame({"date": [DAYS[1], "2026-01-04"], "kind": ["patch", "patch"],
                           "after_value": [1.0, 2.0], "priors_ver": [3, 4],
                           "key": ["a/det/x", "b/det/y"]})
    got = _daily(CoinDays(tuple(CoinDay(lake, "signal_eval", d) for d in DAYS)), priors)
    assert got["day"].tolist() == [*DAYS, "2026-01-04"]
    for d, e in evals.items():
        done = e[e["status"] == "done"]
        pub = done[done["published"]]
        row = got[got["day"] == d].iloc[0]
        assert row["published_rows"] == len(pub)
        assert row["published_hit_rate"] == pub["hit"].astype(float).mean()
        assert row["all_hit_rate"] == done["hit"].astype(float).mean()
    last = got.iloc[-1]
    assert last["published_rows"] == 0 and np.isnan(last["all_hit_rate"])
    assert (last["priors_ver"], last["patches"]) == (4, 1)


def _svg_of(value: str) -> str:
    import base64
    return base64.b64decode(value.split("base64,")[1].rstrip(")")).decode()


def _loop_report(tmp_path, priors: pd.DataFrame, days: list[str], partition: str):
    import dagster as dg

    from lotus_assets.report import loop_report
    from lotus_core.learning.lessons import COLUMNS as LESSON_COLUMNS
    lake = Lake(tmp_path)
    for d in days:
        lake.write("signal_eval", d, pd.DataFrame({
            "status": ["done", "done"], "published": [True, False],
            "hit": pd.array([True, False], dtype="boolean")}))
    braids = pd.DataFrame(columns=["braid_id", "lesson_id", "detector_id", "op", "rule",
                                   "state", "parents"])
    return loop_report(dg.build_asset_context(partition_key=partition),
                       CoinDays(tuple(CoinDay(lake, "signal_eval", d) for d in days)),
                       priors, pd.DataFrame(columns=LESSON_COLUMNS), braids, braids)


def test_hit_rate_days_are_labelled_with_the_version_that_scored_them(tmp_path):
    """Night 02-04 wrote v3 (scores 02-05); night 02-05 wrote v4 (scores 02-06). The hit
    rate of 02-05 was scored with v3, so it is labelled v3, not v4; the night panel keeps
    the version each night wrote."""
    days = ["2026-02-04", "2026-02-05"]
    priors = pd.DataFrame({"date": days, "priors_ver": [3, 4], "before_ver": [2, 3],
                           "source": ["active_priors:2026-02-04", "active_priors:2026-02-05"],
                           "kind": ["patch", "patch"], "key": ["patch/x_v1/a=1/theta"] * 2,
                           "before_value": [np.nan, 0.1], "after_value": [0.1, 0.2]})
    out = _loop_report(tmp_path, priors, days, days[-1])
    hit = _svg_of(out.metadata["published_hit_rate"].value)
    assert ">02-04 v2</text>" in hit and ">02-05 v3</text>" in hit
    assert "02-05 v4" not in hit
    nights = _svg_of(out.metadata["priors_over_time"].value)
    assert ">02-04 v3</text>" in nights and ">02-05 v4</text>" in nights


def test_a_day_without_its_night_is_labelled_with_the_previous_nights_version():
    from lotus_assets.report import _scored_versions
    priors = pd.DataFrame({"date": ["2026-02-03", "2026-02-05"], "priors_ver": [5, 7],
                           "before_ver": [4, 6]})
    got = _scored_versions(priors, ["2026-02-02", "2026-02-03", "2026-02-04", "2026-02-05"])
    assert got == [None, 4, 5, 6]
