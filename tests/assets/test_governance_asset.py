"""`compute_governance` through a real Dagster run on a small planted day: it sits in the
`lotus_breeding` job, spends its budget (deterministic cost units) across the breeding arms
and the re-audit of an earlier survivor, writes `compute_governance` and
`governance_state`, shows its table and plots, and the next night starts from the state
the first one left. Over a scored day (the experiments tests' lake kit) the night also
replays the day and re-fits DSI experts, and the UI shows those arms."""

from __future__ import annotations

import base64

import dagster as dg
import yaml

from lotus_assets.governance import compute_governance
from lotus_core.breeding import Candidate, Verdict, load_recipe
from lotus_core.breeding.night import tables
from lotus_core.config import load_settings
from lotus_core.governance import GovernorState
from lotus_core.store.lake import Lake
from lotus_location.definitions import build_definitions
from lotus_resources.lake import LakeIOManager, LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource
from tests.core.breeding.tape import absorption_spec, tape
from tests.core.experiments.lake_kit import DAY as SCORED
from tests.core.experiments.lake_kit import scored_lake_at

DAY, NEXT, PREV = "2026-01-01", "2026-01-02", "2025-12-31"


def _resources(settings) -> dict:  # noqa: ANN001
    lake_res = LakeResource(root=str(settings.lake_dir))
    return {"lake": lake_res, "lake_io": LakeIOManager(lake=lake_res),
            "fabric": OpsDbResource(url=settings.fabric),
            "settings": SettingsResource.of(settings)}


def _earlier_survivor(lake) -> None:  # noqa: ANN001
    """An earlier night's survivor in `candidates` (re-audited, replayed)."""
    earlier = tables([Verdict(Candidate(absorption_spec(), "composition"), True, "",
                              {"oos_p": 1e-3, "oos_lift": 0.2})], PREV)
    lake.write("candidates", PREV, earlier.candidates)


def _recipe(tmp_path, **per_night: int) -> None:  # noqa: ANN001
    recipe = load_recipe().model_dump()
    recipe["per_night"] = {"fresh": 0, "mutations": 0, "recombinations": 0, "compositions": 0,
                           "within_vetted": 0, "leaky": 0, **per_night}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))


def _source() -> dg.AssetSpec:
    return dg.AssetSpec("microtape_frames", partitions_def=compute_governance.partitions_def
                        ).with_io_manager_key("lake_io")


def test_compute_governance_materialises(tmp_path, dagster_instance) -> None:
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    defs = build_definitions(settings)
    assert "compute_governance" in defs.resolve_job_def("lotus_breeding").graph.node_names()
    assert "compute_governance" not in defs.resolve_job_def("lotus_daily").graph.node_names()
    lake = Lake(settings.lake_dir)
    for day, seed in ((DAY, 3), (NEXT, 4)):
        lake.write("microtape_frames", day, tape(seed, planted=True, rows=3600)[0])
    _earlier_survivor(lake)  # re-audited
    _recipe(tmp_path, fresh=3, mutations=3, compositions=6, within_vetted=1)
    source = _source()
    config = {"ops": {"compute_governance": {"config": {
        "recipe_path": str(tmp_path / "recipe.yaml"), "budget_mode": "units", "budget": 12.0,
        "quota": 10}}}}  # a quota above the arm count: every arm is pulled once first
    metas = []
    for day in (DAY, NEXT):
        result = dg.materialize([source, compute_governance], partition_key=day,
                                instance=dagster_instance, resources=_resources(settings),
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
    assert meta["replay_pulls"] == meta["refit_pulls"] == 0  # no scored day in this lake
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


def test_compute_governance_replays_and_refits_a_scored_day(tmp_path, dagster_instance) -> None:
    home = tmp_path / "home"
    scored = scored_lake_at(home / "lake")
    settings = load_settings(overrides={"home": str(home)}, env={})
    _earlier_survivor(scored.lake)  # a survivor to replay
    _recipe(tmp_path, fresh=2, compositions=2)
    source = _source()
    config = {"ops": {"compute_governance": {"config": {
        "recipe_path": str(tmp_path / "recipe.yaml"), "budget_mode": "units", "budget": 1e6,
        "quota": 10, "replays": 2, "refits": 2}}}}
    result = dg.materialize([source, compute_governance], partition_key=SCORED,
                            instance=dagster_instance, resources=_resources(settings),
                            run_config=config)
    assert result.success
    (mat,) = result.asset_materializations_for_node("compute_governance")
    meta = {k: v.value for k, v in mat.metadata.items()}
    pulls = scored.lake.read("compute_governance", SCORED)
    replays, refits = pulls[pulls["kind"] == "replay"], pulls[pulls["kind"] == "refit"]
    survivor = Candidate(absorption_spec(), "composition").detector_id
    assert list(replays["item"]) == [f"add_bred:{survivor}", "gate:tau_publish=0.7"]
    assert list(refits["item"]) == [e.id for e in scored.base.registry.active][:2]
    assert meta["replay_pulls"] == 2 and meta["refit_pulls"] == 2
    assert all("p " in n for n in (*replays["note"], *refits["note"]))
    assert "| replay " in meta["by_arm"] and "| refit " in meta["by_arm"]
    for plot in ("spend_plot", "reward_plot"):
        svg = base64.b64decode(meta[plot].split("base64,")[1].rstrip(")")).decode()
        assert ">replay<" in svg and ">refit<" in svg
    state = scored.lake.read("governance_state", SCORED).set_index("arm")
    assert state.loc["replay", "pulls"] == 2 and state.loc["refit", "kind"] == "refit"
