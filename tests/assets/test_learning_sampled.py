"""The learning steps through a real Dagster run read their window from the lake a row group
at a time and, above `max_windows` (a learning.yaml passed in the run config), learn from
the hash sample: the metadata names the window's windows and the rate, and the frame is
exactly the sample `lotus_core.learning.sample` keeps."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from lotus_assets.chain import sized_assets
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.learning.atoms import PART_ROWS
from lotus_core.learning.config import load_learning
from lotus_core.learning.sample import kept
from lotus_core.learning.window_lake import write_frame
from lotus_core.store.lake import Lake
from lotus_location.definitions import build_resources
from tests.kits.learning_kit import make_learning_frame


def _meta(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return {k: v.value for m in result.get_asset_materialization_events()
            if m.asset_key == dg.AssetKey(asset)
            for k, v in m.materialization.metadata.items()}


def test_lesson_atoms_above_the_cap_learn_from_the_hash_sample(tmp_path: Path,
                                                             dagster_instance) -> None:
    cfg = load_learning()
    frame = make_learning_frame(days=3, seed=7, windows_per_day=400)
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(tmp_path / "feed")}, env={})
    days = write_frame(Lake(settings.lake_dir), frame, cfg.horizon_s)
    body = yaml.safe_load((Path(__file__).parents[2] / "lotus_core" / "learning"
                           / "learning.yaml").read_text())
    body["max_windows"] = 1_500
    learning = tmp_path / "learning.yaml"
    learning.write_text(yaml.safe_dump(body))
    run = {"ops": {"lesson_atoms": {"config": {"learning_path": str(learning)}}}}
    result = dg.materialize(sized_assets(shared_values(settings)), selection=["lesson_atoms"],
                            partition_key=days[-1],
                            instance=dagster_instance, resources=build_resources(settings),
                            run_config=run)
    assert result.success
    meta = _meta(result, "lesson_atoms")
    rate = 1_500 / len(frame)
    assert meta["window_windows"] == len(frame) and abs(meta["sample_rate"] - rate) < 1e-6
    # every kept window is learned from: the outcomes left pending in signal_eval (every
    # 97th window) were completed by signal_eval_late
    expect = int(kept(frame["window_id"].to_numpy(), rate).sum())
    assert meta["windows"] == expect and 1_200 < expect < 1_800, (meta["windows"], expect)
    assert meta["window"] == f"{days[0]}..{days[-1]}"
    # written in row groups of a part's atoms, each carrying the quantiser (pipeline.with_quantizer)
    assert meta["written"] == f"in slices (row groups of {PART_ROWS:,} rows)"
