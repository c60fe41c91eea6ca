"""The charts' nightly lessons through Dagster (lotus_assets/vis_learning.py): four days of
charts and their outcomes in the lake (a planted edge on breakout charts; the rows
`vis_strands` and `vis_eval` make, as a kit writes them), `vis_lessons` and `vis_priors`
materialised night by night with the code location's own definitions. The fourth night
names the planted kind of chart and writes a vis priors version; the fifth day's charts
are weighed by it (`vis_strands`' weight, which the DM's `vis_alphas` reads);
re-running a night changes nothing; and both assets sit in the `lotus_vis` job downstream
of the charts' outcomes."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from bench.vis_lessons import kind_of, market
from lotus_assets.partitions import daily_partitions, size_windows
from lotus_assets.vis_learning import VIS_LEARNING_ASSETS
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.dm.vis_source import vis_alphas
from lotus_core.learning.priors_store import list_versions
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_core.vis.lessons import load_vis_learning, weigh
from lotus_core.vis.priors import newest_vis_priors, vis_priors_for_day
from lotus_core.vis.source import sources
from lotus_location.definitions import build_definitions, build_resources

CHARTS = [dg.AssetSpec(k, partitions_def=daily_partitions).with_io_manager_key("lake_io")
          for k in ("vis_strands", "vis_eval")]


def test_nights_learn_the_planted_charts_and_the_dm_weighs_them(home: Path) -> None:
    settings = load_settings(overrides={"home": str(home), "feed_dir": str(home / "no_feed")},
                             env={})
    lake = Lake(settings.lake_dir)
    strands, evals = market(11, lambda c: c["kind"] == "breakout", days=5)
    strands["date"] = pd.to_datetime(strands["ts_ms"], unit="ms", utc=True).dt.strftime(
        "%Y-%m-%d")
    days = sorted(set(strands["date"]))
    for day in days:
        own = strands[strands["date"] == day].drop(columns=["date"])
        lake.write("vis_strands", day, own.reset_index(drop=True))
        lake.write("vis_eval", day, evals[evals["strand_id"].isin(own["strand_id"])]
                   .reset_index(drop=True))
    assets = size_windows(VIS_LEARNING_ASSETS, shared_values(settings))
    resources = build_resources(settings)

    def night(day: str) -> dg.ExecuteInProcessResult:
        return dg.materialize([*CHARTS, *assets], partition_key=day, resources=resources,
                              selection=["vis_lessons", "vis_priors"])

    for day in days[:4]:
        assert night(day).success
    lessons = lake.read("vis_lessons", days[3])
    active = lessons[lessons["state"] == "active"]
    assert "pattern=breakout" in set(active["rule"]), lessons[["rule", "state", "reason"]]
    braids = lake.read("vis_priors", days[3])
    assert "chosen" in set(braids["compiled"])
    with OpsDb.open(settings.fabric) as fabric:
        versions = list_versions(fabric, "vis")
        cfg = load_vis_learning()[0]
        in_force = vis_priors_for_day(fabric, days[4], cfg=cfg)
        newest = newest_vis_priors(fabric, cfg)
    assert versions[-1].source == f"active_priors:{days[3]}"
    assert in_force.version == versions[-1].version == newest.version

    # the fifth day's charts: weighed by the fourth night's version, the planted ones up
    fifth = strands[strands["date"] == days[4]].drop(columns=["date"])
    src = sources(fifth)
    alphas = vis_alphas(weigh(fifth, in_force))
    scores = np.array([a.curated_sigma for a in alphas]) / src["confidence"].to_numpy()
    planted = np.array([kind_of(c) == "breakout" for c in src.to_dict("records")])
    assert scores[planted].min() > 1.1 and scores[planted].min() > scores[~planted].max()

    # re-running a night: the same lessons, no new version
    before = lake.read("vis_lessons", days[3])
    assert night(days[3]).success
    pd.testing.assert_frame_equal(lake.read("vis_lessons", days[3]), before)
    with OpsDb.open(settings.fabric) as fabric:
        assert [v.version for v in list_versions(fabric, "vis")] == \
            [v.version for v in versions]


def test_the_code_location_runs_them_in_the_vis_job_after_the_outcomes(tmp_path: Path) -> None:
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    lessons, priors = dg.AssetKey("vis_lessons"), dg.AssetKey("vis_priors")
    assert graph.get(lessons).parent_keys == {dg.AssetKey("vis_strands"),
                                              dg.AssetKey("vis_eval"), lessons}
    assert graph.get(priors).parent_keys == {lessons}
    job = defs.resolve_job_def("lotus_vis")
    assert {lessons, priors} <= set(job.asset_layer.executable_asset_keys)
    daily = defs.resolve_job_def("lotus_daily")
    assert not {lessons, priors} & set(daily.asset_layer.executable_asset_keys)
