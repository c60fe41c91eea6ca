"""The breeder's assets through real Dagster runs: `candidates` breeds on the day's
MicroTape (read from the lake), writes the table and the exploration specs and queues the
survivors for the curators; `detector_lineage` lists the edges. Both sit in their own job
and schedule, outside `lotus_daily`."""

from __future__ import annotations

import dagster as dg
import yaml

from lotus_assets.breeding import breeding_definitions, candidates, detector_lineage
from lotus_core.breeding import Candidate, Verdict, load_recipe
from lotus_core.breeding.night import tables
from lotus_core.config import load_settings
from lotus_core.curator_api.store import list_candidates
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_location.definitions import build_definitions
from lotus_resources.lake import LakeIOManager, LakeResource
from lotus_resources.opsdb import OpsDbResource
from tests.core.breeding.tape import absorption_spec, tape

DAY, PREV = "2026-01-01", "2025-12-31"


def test_the_breeding_job_is_its_own(tmp_path) -> None:
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    defs = build_definitions(settings)
    daily = set(defs.resolve_job_def("lotus_daily").graph.node_names())
    breeding = set(defs.resolve_job_def("lotus_breeding").graph.node_names())
    assert breeding == {"candidates", "detector_lineage", "compute_governance"}
    coins = set(defs.resolve_job_def("lotus_coins").graph.node_names())
    assert not breeding & (daily | coins) and "scoring_day" in daily and "score_signals" in coins
    assert defs.resolve_schedule_def("lotus_breeding_nightly").job_name == "lotus_breeding"
    assert breeding_definitions().assets is not None
    # "Materialize all" in the UI selects them too: each says it is not make run's, and its cost
    graph = defs.resolve_asset_graph()
    for name in sorted(breeding):
        text = graph.get(dg.AssetKey(name)).description or ""
        assert "Not run by `make run` or `lotus_daily`" in text, name
        assert "CPU s" in text or "(seconds)" in text, name


def test_candidates_and_lineage_materialise(tmp_path, dagster_instance) -> None:
    home = tmp_path / "home"
    settings = load_settings(overrides={"home": str(home)}, env={})
    frames, _ = tape(3, planted=True, coins=("BTC", "ETH"))
    lake = Lake(settings.lake_dir)
    lake.write("microtape_frames", DAY, frames)  # the day's tape, as the chain leaves it
    source = dg.AssetSpec("microtape_frames", partitions_def=candidates.partitions_def
                          ).with_io_manager_key("lake_io")
    # an earlier night left the planted recipe as a survivor: tonight mutates it
    earlier = tables([Verdict(Candidate(absorption_spec(), "composition"), True, "", {})],
                     PREV)
    lake.write("candidates", PREV, earlier.candidates)
    recipe = load_recipe().model_dump()  # mutations only: the night stays small
    recipe["per_night"] = {"fresh": 0, "mutations": 4, "recombinations": 0,
                           "compositions": 0, "within_vetted": 1, "leaky": 0}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    config = {"ops": {"candidates": {"config": {"recipe_path": str(tmp_path / "recipe.yaml")}}}}
    result = dg.materialize(
        [source, candidates, detector_lineage], partition_key=DAY, instance=dagster_instance,
        resources={"lake": LakeResource(root=str(settings.lake_dir)),
                   "lake_io": LakeIOManager(lake=LakeResource(root=str(settings.lake_dir))),
                   "fabric": OpsDbResource(url=settings.fabric)},
        run_config=config)
    assert result.success
    (mat,) = result.asset_materializations_for_node("candidates")
    meta = {k: v.value for k, v in mat.metadata.items()}
    table = lake.read("candidates", DAY)
    assert meta["proposed"] == len(table) and meta["survivors"] == int(table["survived"].sum())
    assert meta["survivors"] >= 1 and meta["posted_to_curators"] == meta["survivors"]
    assert len(lake.read("bred_specs", DAY)) == meta["survivors"]
    with OpsDb.open(settings.fabric) as fabric, fabric.transaction() as tx:
        queued = list_candidates(tx, kind="bred_detector")
    assert {q["subject_id"] for q in queued} == set(table.loc[table["survived"], "detector_id"])
    (lin,) = result.asset_materializations_for_node("detector_lineage")
    edges = lake.read("detector_lineage", DAY)
    assert {k: v.value for k, v in lin.metadata.items()}["edges"] == len(edges)
    assert set(edges["parent_id"]) >= {absorption_spec().detector_id, "breakout_retest_v1"}
