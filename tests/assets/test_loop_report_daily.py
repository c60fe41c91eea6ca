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
