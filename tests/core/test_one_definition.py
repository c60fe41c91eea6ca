"""One definition per scoring stage: the nightly batch function and the live
step of a stage live in one module, so every constant, window edge and NaN rule is
written once; no stage keeps a streaming twin elsewhere. This test fails when a twin
module comes back or a stage's live step moves away from its batch definition."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "lotus_core"

# stage -> (module, its nightly batch definition, its live step)
STAGES = {
    "parse / assemble": ("lotus_core.feed.assemble", "assemble_chunks", "StreamAssembler"),
    "MicroTape book side": ("lotus_core.microtape.build", "build_coin", "TapeStream"),
    "MicroTape flow side": ("lotus_core.microtape.flow", "flow_features", "FlowStream"),
    "DSI": ("lotus_core.dsi.annotate", "annotate", "DsiStream"),
    "detectors": ("lotus_core.signals.detectors", "run_detectors", "DetectorStream"),
    "window scores": ("lotus_core.signals.pipeline", "score_day", "WindowScorer"),
    # the step's mandates and state; curators/events.CouncilStream only lays out its rows
    # (pipeline.gates_json_one imports the council: the layout there would be a cycle)
    "council and publication": ("lotus_core.curators.council", "run_council", "CouncilStep"),
}
TWIN = re.compile(r"^(stream\w*|\w+_stream|assemble_rows)\.py$")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_stage_has_its_batch_and_its_step_in_one_module(stage: str) -> None:
    module, batch, step = STAGES[stage]
    mod = importlib.import_module(module)
    assert callable(getattr(mod, batch, None)), f"{stage}: {module}.{batch} is missing"
    cls = getattr(mod, step, None)
    assert cls is not None and cls.__module__ == module, \
        f"{stage}: the live step {step} must be defined in {module}, beside {batch}"


def test_no_streaming_twin_module_is_left() -> None:
    twins = sorted(str(p.relative_to(CORE)) for p in CORE.rglob("*.py") if TWIN.match(p.name))
    assert twins == [], f"streaming twins outside their stage modules: {twins}"


def test_the_live_chain_runs_the_stage_modules() -> None:
    """DayChain builds each stage's step (or, for the council, the row layout on top of it):
    the live path has no copy of its own."""
    import lotus_core.live.chain as chain

    built = {"TapeStream": chain.TapeStream, "DsiStream": chain.DsiStream,
             "DetectorStream": chain.DetectorStream, "WindowScorer": chain.WindowScorer,
             "CouncilStep": chain.CouncilStream}
    for _stage, (module, _batch, step) in STAGES.items():
        if step not in built:  # fed outside DayChain (StreamAssembler) / inside TapeStream
            continue
        assert issubclass(built[step], getattr(importlib.import_module(module), step)), step


# One driver per engine: the nightly replays and the daemon loops supply
# a source and a clock; only `lotus_core/trader/driver.py` and `lotus_core/dm/driver.py`
# step an engine. module -> the driver name it must use (None: runs no engine)
ROOT = CORE.parent
ADAPTERS: dict[str, str | None] = {
    "lotus_core/trader/replay.py": "drive",
    "lotus_core/trader/nightly.py": "replay_day",
    "lotus_core/dm/replay.py": "DmDriver",
    "lotus_core/dm/joint.py": "DmDriver",
    "lotus_core/dm/live.py": "DmDriver",
    "lotus_daemon/loops/trader.py": "drive",
    "lotus_daemon/loops/dm.py": "DmLive",
    "lotus_assets/trader.py": None,  # reads what the joint replay made (lotus_assets/dm.py)
    "lotus_assets/dm.py": "joint_day",
}
ENGINE_STEPS = {"on_book", "on_top", "on_trade", "on_ctx", "on_row", "on_decision", "advance",
                "on_alpha", "withdraw", "book_mode"}


@pytest.mark.parametrize("path", sorted(ADAPTERS))
def test_replays_and_loops_step_the_engines_only_through_their_driver(path: str) -> None:
    import ast

    tree = ast.parse((ROOT / path).read_text())
    steps = sorted({f"{n.attr} (line {n.lineno})" for n in ast.walk(tree)
                    if isinstance(n, ast.Attribute) and n.attr in ENGINE_STEPS})
    assert steps == [], f"{path} steps an engine itself instead of through its driver: {steps}"
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    want = ADAPTERS[path]
    assert want is None or want in names, f"{path} must run its driver ({want})"


# Compiled kernels (docs/structure.md, "Compiled kernels"): the stage's one definition;
# stage -> (kernel module, kernel, {module: names it imports from the kernel module (on
# first use: numba loads only where a kernel runs)}, the removed twins' patterns, the folder
# they must stay out of)
KERNELS = {
    "tape size threshold": (
        "lotus_core.microtape.outliers", "thresholds_kernel",
        {"lotus_core/microtape/tape.py": ("robust_thresholds",),
         "lotus_core/microtape/flow.py": ("SizeWindow",)},
        r"def thresholds_of\b|\.partition\(", "lotus_core/microtape"),
    "anomaly forest": (
        "lotus_core.dsi.forest", "forest_depths",
        {"lotus_core/dsi/anomaly.py": ("forest_scores", "row_scorer")},
        r"compile_forest|_tree_expr|score_samples\(", "lotus_core/dsi"),
}


@pytest.mark.parametrize("stage", sorted(KERNELS))
def test_a_compiled_kernel_is_its_stages_only_definition(stage: str) -> None:
    import ast

    module, kernel, users, twin, folder = KERNELS[stage]
    dispatcher = getattr(importlib.import_module(module), kernel)
    assert type(dispatcher._cache).__name__ == "FunctionCache", f"{stage}: cache=True"
    for user, names in users.items():  # nightly and live reach the kernel module's objects
        taken = {a.name for n in ast.walk(ast.parse((ROOT / user).read_text()))
                 if isinstance(n, ast.ImportFrom) and n.module == module for a in n.names}
        assert set(names) <= taken, f"{stage}: {user} must use {module}'s {names}"
    found = sorted(f"{p.relative_to(ROOT)}: {m.group(0)}" for p in (ROOT / folder).rglob("*.py")
                   for m in re.finditer(twin, p.read_text()))
    assert found == [], f"{stage}: a second implementation is back: {found}"


def test_the_live_tape_carries_the_kernels_state() -> None:
    from lotus_core.microtape.flow import FlowStream
    from lotus_core.microtape.outliers import SizeWindow
    from lotus_core.microtape.params import MicroTapeParams

    assert isinstance(FlowStream("BTC", MicroTapeParams()).sizes, SizeWindow)
