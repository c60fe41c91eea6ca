"""`compute_governance` through a real Dagster run on a small planted day: it sits in the
`lotus_breeding` job, spends its budget (deterministic cost units) across the breeding arms
and the re-audit of an earlier survivor, writes `compute_governance` and
`governance_state`, shows its table and plots, and the next night starts from the state
the first one left."""

from __future__ import annotations

import base64

import dagster as dg
import yaml

from lotus_assets.definitions import build_definitions
from lotus_assets.governance import compute_governance
from lotus_core.breeding import Candidate, Verdict, load_recipe
from lotus_core.breeding.night import tables
from lotus_core.config import load_settings
from lotus_core.governance import GovernorState
from lotus_core.store.lake import Lake
from lotus_resources.lake import LakeIOManager, LakeResource
from tests.core.breeding.tape import absorption_spec, tape

DAY, NEXT, PREV = "2026-01-01", "2026-01-02", "2025-12-31"


def test_compute_governance_materialises(tmp_path, dagster_instance) -> None:
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    defs = build_definitions(settings)
    assert "compute_governance" in defs.resolve_job_def("lotus_breeding").graph.node_names()
    assert "compute_governance" not in defs.resolve_job_def("lotus_daily").graph.node_names()
    lake = Lake(settings.lake_dir)
    for day, seed in ((DAY, 3), (NEXT, 4)):
        lake.write("microtape_frames", day, tape(seed, planted=True, rows=3600)[0])
    earlier = tables([Verdict(Candidate(absorption_spec(), "composition"), True, "",
                              {"oos_p": 1e-3, "oos_lift": 0.2})], PREV)
    lake.write("candidates", PREV, earlier.candidates)  # an earlier survivor: re-audited
    recipe = load_recipe().model_dump()
    recipe["per_night"] = {"fresh": 3, "mutations": 3, "recombinations": 0,
                           "compositions": 6, "within_vetted": 1, "leaky": 0}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    source = dg.AssetSpec("microtape_frames", partitions_def=compute_governance.partitions_def
                          ).with_io_manager_key("lake_io")
    lake_res = LakeResource(root=str(settings.lake_dir))
    config = {"ops": {"compute_governance": {"config": {
        "recipe_path": str(tmp_path / "recipe.yaml"), "budget_mode": "units", "budget": 12.0,
        "quota": 10}}}}  # a quota above the arm count: every arm is pulled once first
    metas = []
    for day in (DAY, NEXT):
        result = dg.materialize([source, compute_governance], partition_key=day,
                                instance=dagster_instance,
                                resources={"lake": lake_res,
                                           "lake_io": LakeIOManager(lake=lake_res)},
                                run_config=config)
        assert result.success
        (mat,) = result.asset_materializations_for_node("compute_governance")
        metas.append({k: v.value for k, v in mat.metadata.items()})
    pulls, state = lake.read("compute_governance", DAY), lake.read("governance_state", DAY)
    meta = metas[0]
    assert meta["pulls"] == len(pulls) > 0 and meta["budget_mode"] == "units"
    assert abs(meta["spent"] - pulls["cost"].sum()) < 1e-3
    assert pulls["cost"].sum() - pulls["cost"].iloc[-1] < 12.0
    quota = pulls[pulls["quota"]]
    assert list(quota["seq"]) == list(range(len(quota)))  # the quota goes first
    assert len(quota) == quota["arm"].nunique() == pulls["arm"].nunique()
    assert {"reaudit", "breeding:mutation", "breeding:fresh"} <= set(quota["arm"])
    assert meta["reaudited"] == 1 and set(pulls["arm"]) == set(state["arm"])
    assert "| arm" in meta["by_arm"] and "breeding:" in meta["by_arm"]
    for plot in ("spend_plot", "reward_plot"):
        svg = base64.b64decode(meta[plot].split("base64,")[1].rstrip(")")).decode()
        assert svg.startswith("<svg") and "breeding:" in svg
    # the second night starts from the state the first left (lifetime pulls add up)
    after = GovernorState.from_frame(lake.read("governance_state", NEXT))
    first = GovernorState.from_frame(state)
    tonight = lake.read("compute_governance", NEXT)["arm"].value_counts()
    for arm, a in after.arms.items():
        before = first.arms[arm].pulls if arm in first.arms else 0
        assert a.pulls == before + int(tonight.get(arm, 0))
